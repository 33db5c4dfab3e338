import DcrondCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A private `redis-server` for one test or benchmark: no persistence, listening on a free loopback port and on a
/// unix socket in its own temporary folder, stopped by its pid.
///
/// When redis-server is not installed, tests that need it are skipped, unless
/// `DCROND_REQUIRE_REDIS=1` (set by CI), in which case starting one fails the test.
package final class RedisTestServer: @unchecked Sendable {
    // @unchecked Sendable: `pid` changes only in `stop`/`restart`, which a test calls from one task.
    package let directory: String
    package private(set) var port: Int
    package private(set) var extraArguments: [String]
    package private(set) var pid: pid_t = 0

    package static let executable: String? = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first {
        (path: String) in access(path, X_OK) == 0
    }

    /// Whether tests that need Redis should run: it is installed, or CI requires it.
    package static var enabled: Bool {
        executable != nil || getenv("DCROND_REQUIRE_REDIS").map { String(cString: $0) == "1" } == true
    }

    package var socketPath: String { directory + "/redis.sock" }
    package var tcpEndpoint: RedisEndpoint { RedisEndpoint(address: .tcp(host: "127.0.0.1", port: port)) }
    package var unixEndpoint: RedisEndpoint { RedisEndpoint(address: .unix(path: socketPath)) }

    private init(directory: String, port: Int, extraArguments: [String]) {
        self.directory = directory
        self.port = port
        self.extraArguments = extraArguments
    }

    /// Starts a server and waits until it answers.
    package static func start(_ extraArguments: [String] = []) async throws -> RedisTestServer {
        guard executable != nil else {
            throw HarnessError(
                "redis-server is not installed (apt-get install redis-server); DCROND_REQUIRE_REDIS=1 makes this a failure"
            )
        }
        let server = RedisTestServer(
            directory: try makeTemporaryDirectory(),
            port: try freeLoopbackPort(),
            extraArguments: extraArguments
        )
        // Tests run in parallel: another one may take the same free port before redis binds it.
        for attempt in 1...10 {
            do {
                try await server.launch()
                return server
            } catch let error as HarnessError where error.description.contains("Address already in use") && attempt < 10
            {
                server.port = try freeLoopbackPort()
            }
        }
        throw HarnessError("unreachable")
    }

    /// Kills the server at once (SIGKILL: no goodbye to clients) and reaps it. With another
    /// signal, a server still running 5 s later is killed: Redis refuses SIGTERM while it writes
    /// its first AOF, and a test must never hang on it.
    package func kill(signal: Int32 = SIGKILL) {
        guard pid > 0 else { return }
        _ = Glibc.kill(pid, signal)
        _ = Glibc.kill(pid, SIGCONT)  // a frozen server gets its SIGTERM only once continued
        var status: Int32 = 0
        if signal != SIGKILL {
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline, waitpid(pid, &status, WNOHANG) == 0 { usleep(10_000) }
            if waitpid(pid, &status, WNOHANG) == 0 {
                _ = Glibc.kill(pid, SIGKILL)
            } else {
                pid = 0
                return
            }
        }
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        pid = 0
    }

    /// Kills the server and starts it again on the same port and socket after `after`. It loads
    /// its last snapshot (`SAVE` writes one) if there is one, else it starts with empty data.
    /// `arguments`, when given, replace the extra arguments from now on (say, `--appendonly yes`).
    package func restart(after: Duration = .zero, arguments: [String]? = nil) async throws {
        kill()
        if after > .zero { try await Task.sleep(for: after) }
        if let arguments { extraArguments = arguments }
        try await launch()
    }

    /// Extra arguments for the next restart.
    package func useArguments(_ arguments: [String]) { extraArguments = arguments }

    /// Where `SAVE` writes and a restart reads the snapshot.
    package var snapshotPath: String { directory + "/dump.rdb" }

    /// Removes the last snapshot, so the next restart starts empty.
    package func removeSnapshot() {
        _ = unlink(snapshotPath)
        _ = shellOutputBlocking("rm -rf '\(directory)/appendonlydir'")
    }

    /// How many replicas this master streams to (`state=online`): a replica reports its link up
    /// before the master counts it (after a diskless sync, at its first `REPLCONF ACK`, up to a
    /// second later), and only then does `WAIT` count it. `password`: the server's, if any.
    package func onlineReplicas(password: String? = nil) -> Int {
        let login = password.map { " --no-auth-warning -a '\($0)'" } ?? ""
        let info = shellOutputBlocking("redis-cli -s '\(socketPath)'\(login) INFO replication") ?? ""
        return info.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("slave") && $0.contains("state=online") }
            .count
    }

    /// SIGSTOP, or SIGCONT after it: a server that accepts connections but answers nothing.
    package func freeze(_ frozen: Bool) { if pid > 0 { _ = Glibc.kill(pid, frozen ? SIGSTOP : SIGCONT) } }

    /// Stops the server and removes its folder.
    package func stop() {
        kill(signal: SIGTERM)
        _ = unlink(socketPath)
        _ = unlink(directory + "/redis.log")
        removeSnapshot()
        _ = rmdir(directory)
    }

    private func launch() async throws {
        let arguments =
            [
                Self.executable!, "--port", String(port), "--bind", "127.0.0.1",
                "--unixsocket", socketPath, "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", directory,
                "--daemonize", "no", "--logfile", directory + "/redis.log",
            ] + extraArguments
        pid = try spawnProcess(arguments)
        // Ready when a PING over the unix socket gets an answer (even -NOAUTH).
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            var options = RedisConnectionOptions()
            options.connectTimeout = .milliseconds(200)
            let probe = RedisClient(
                endpoint: unixEndpoint,
                options: options,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            )
            if (try? await probe.send("PING")) != nil { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                pid = 0
                let log =
                    (try? FileSystem.readFile(directory + "/redis.log")).map { String(decoding: $0, as: UTF8.self) }
                    ?? ""
                throw HarnessError("redis-server exited during start-up: \(log)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HarnessError("redis-server did not answer within 10 s")
    }
}

package struct HarnessError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// A key prefix unique to one test, so tests sharing a server never see each other's keys.
package func uniqueKeyPrefix(_ function: String = #function) -> String {
    "test:\(function.prefix { $0 != "(" }):\(UInt64.random(in: 0...UInt64.max)):"
}

package func makeTemporaryDirectory(prefix: String = "/tmp/dcrond-test-") throws -> String {
    var template = Array((prefix + "XXXXXX").utf8CString)
    guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw HarnessError("mkdtemp failed: \(errnoDescription())")
    }
    return String(cString: result)
}

/// A loopback TCP port nothing listens on right now.
package func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket: \(errnoDescription())") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
            bind(fd, generic, length) == 0 && getsockname(fd, generic, &length) == 0
        }
    }
    guard bound else { throw HarnessError("bind: \(errnoDescription())") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Starts a program with stdin, stdout and stderr on /dev/null; returns its pid.
package func spawnProcess(_ arguments: [String]) throws -> pid_t {
    try spawn(arguments, standardOutput: "/dev/null", standardError: "/dev/null")
}
