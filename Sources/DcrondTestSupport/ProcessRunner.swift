import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// What a finished program printed and how it ended.
package struct ProcessResult: Sendable {
    package let status: Int32
    package let standardOutput: String
    package let standardError: String

    package var outputLines: [String] { standardOutput.split(separator: "\n").map(String.init) }
    package var errorLines: [String] { standardError.split(separator: "\n").map(String.init) }
}

/// The folder of the running test or benchmark binary: SwiftPM puts the package's executables there.
package func buildProductsDirectory() -> String {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let length = buffer.withUnsafeMutableBufferPointer { pointer in
        pointer.withMemoryRebound(to: CChar.self) { readlink("/proc/self/exe", $0.baseAddress!, 4095) }
    }
    let path = String(decoding: buffer[0..<max(0, length)], as: UTF8.self)
    var parts = path.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast()
    if parts.last?.hasSuffix(".xctest") == true { parts.removeLast() }
    return parts.joined(separator: "/")
}

/// Runs `body` on a thread of its own and returns its result: for blocking calls (waitpid, popen)
/// that must not hold one of the two threads of Swift's cooperative pool, which every other test
/// running in parallel needs.
package func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        startDetachedThread(name: "test-blocking") {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// Runs a program to completion with stdin on /dev/null, capturing stdout and stderr in files
/// (so a large output cannot block it); waits on a thread of its own.
package func runProcess(_ arguments: [String], environment: [String]? = nil) async throws -> ProcessResult {
    try await onOwnThread { try runProcessBlocking(arguments, environment: environment) }
}

private func runProcessBlocking(_ arguments: [String], environment: [String]?) throws -> ProcessResult {
    let directory = try makeTemporaryDirectory()
    let outPath = directory + "/stdout"
    let errPath = directory + "/stderr"
    defer {
        unlink(outPath)
        unlink(errPath)
        rmdir(directory)
    }
    let pid = try spawn(arguments, standardOutput: outPath, standardError: errPath, environment: environment)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    let out = (try? FileSystem.readFile(outPath)) ?? []
    let err = (try? FileSystem.readFile(errPath)) ?? []
    return ProcessResult(
        status: exitStatus,
        standardOutput: String(decoding: out, as: UTF8.self),
        standardError: String(decoding: err, as: UTF8.self)
    )
}

/// Starts a program with stdin on /dev/null and stdout and stderr written to the given files, an
/// empty signal mask and default signal dispositions. The spawning thread may be a Dispatch
/// worker that blocks signals, and the mask is inherited: a server would then ignore SIGTERM.
package func spawn(
    _ arguments: [String],
    standardOutput: String,
    standardError: String,
    environment: [String]? = nil
) throws -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    var allSignals = sigset_t()
    sigemptyset(&noSignals)
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    // Without an explicit environment: this process's, minus a service manager's variables. A
    // test that sets WATCHDOG_USEC in this process (to see that jobs do not inherit it) must not
    // make every daemon started meanwhile believe it runs under systemd with a 1 ms watchdog.
    let inherited = environment ?? inheritedEnvironment()
    var envp = inherited.map { strdup($0) } + [nil]
    defer { for pointer in envp { free(pointer) } }
    var pid: pid_t = 0
    let status = envp.withUnsafeMutableBufferPointer {
        posix_spawn(&pid, arguments[0], &actions, &attributes, argv, $0.baseAddress)
    }
    guard status == 0 else { throw HarnessError("cannot start \(arguments[0]): \(errnoDescription(status))") }
    return pid
}

/// The service manager's variables, which a test's daemon gets only when the test passes them.
package let serviceManagerVariables = [
    "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID", "JOURNAL_STREAM", "RUNTIME_DIRECTORY",
]

func inheritedEnvironment() -> [String] {
    var result: [String] = []
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
        if !serviceManagerVariables.contains(name) { result.append(text) }
        pointer += 1
    }
    return result
}

/// The standard output of a shell command, or nil if it failed; read on a thread of its own.
package func shellOutput(_ command: String) async -> String? {
    (try? await onOwnThread { shellOutputBlocking(command) }) ?? nil
}

/// The standard output of a shell command, or nil if it failed; blocks the calling thread.
package func shellOutputBlocking(_ command: String) -> String? {
    guard let pipe = popen(command, "r") else { return nil }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&buffer, 1, buffer.count, pipe)
        if count <= 0 { break }
        output.append(contentsOf: buffer[0..<count])
    }
    return pclose(pipe) == 0 ? String(decoding: output, as: UTF8.self) : nil
}

/// Writes `text` to `path`, replacing the file.
package func writeText(_ path: String, _ text: String) throws {
    guard let file = fopen(path, "w") else { throw HarnessError("cannot write \(path): \(errnoDescription())") }
    defer { fclose(file) }
    guard fputs(text, file) >= 0 else { throw HarnessError("cannot write \(path): \(errnoDescription())") }
}

/// Polls `condition` every 100 ms for up to `seconds`; returns whether it became true.
package func waitFor(seconds: Double, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return condition()
}
