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

/// Runs a program to completion with stdin on /dev/null, capturing stdout and stderr in files
/// (so a large output cannot block it), with an empty signal mask and default dispositions.
package func runProcess(_ arguments: [String], environment: [String]? = nil) throws -> ProcessResult {
    let directory = try makeTemporaryDirectory()
    let outPath = directory + "/stdout", errPath = directory + "/stderr"
    defer { unlink(outPath); unlink(errPath); rmdir(directory) }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t(), allSignals = sigset_t()
    sigemptyset(&noSignals)
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned: Int32
    if let environment {
        let envp = environment.map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }
        spawned = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
    } else {
        spawned = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
    }
    guard spawned == 0 else { throw HarnessError("cannot start \(arguments[0]): \(errnoDescription(spawned))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    let out = (try? FileSystem.readFile(outPath)) ?? []
    let err = (try? FileSystem.readFile(errPath)) ?? []
    return ProcessResult(status: exitStatus, standardOutput: String(decoding: out, as: UTF8.self),
                         standardError: String(decoding: err, as: UTF8.self))
}
