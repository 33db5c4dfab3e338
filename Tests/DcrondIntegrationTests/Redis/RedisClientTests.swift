import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

@Suite("Redis client against a real redis-server", .enabled(if: RedisTestServer.enabled))
struct RedisClientTests {
    @Test("values and keys with NUL bytes round-trip unchanged", arguments: [false, true])
    func binarySafe(overUnixSocket: Bool) async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let client = RedisClient(endpoint: overUnixSocket ? server.unixEndpoint : server.tcpEndpoint)
        let key = Array(uniqueKeyPrefix().utf8) + [0, 1, 0]
        let value: [UInt8] = [0, 0, 255, 13, 10, 0, 36, 42] + Array(repeating: 0, count: 1000)
        #expect(try await client.send("SET", key, value) == .status("OK"))
        #expect(try await client.send("GET", key) == .bulk(value))
        #expect(try await client.send("STRLEN", key) == .integer(Int64(value.count)))
        // The key without its NUL tail is another key.
        #expect(try await client.send("EXISTS", Array(key.dropLast(3))) == .integer(0))
        #expect(try await client.send("GET", "") == .null)
    }

    @Test("a 10,000-command pipeline returns 10,000 replies in order")
    func longPipeline() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        var options = RedisConnectionOptions()
        options.pipelineChunk = 1000
        let client = RedisClient(endpoint: server.unixEndpoint, options: options)
        let prefix = uniqueKeyPrefix()
        let commands = (0..<10_000).map { index in
            index % 2 == 0 ? RedisCommand("INCR", prefix + "counter") : RedisCommand("ECHO", "reply-\(index)")
        }
        let replies = try await client.pipeline(commands)
        #expect(replies.count == 10_000)
        for (index, reply) in replies.enumerated() {
            let expected: RedisReply =
                index % 2 == 0 ? .integer(Int64(index / 2 + 1)) : .bulk(Array("reply-\(index)".utf8))
            #expect(reply == expected, "reply \(index)")
            if reply != expected { break }
        }
        // An error reply in the middle of a pipeline is data; the replies after it still line up.
        let mixed = try await client.pipeline([
            RedisCommand("SET", prefix + "s", "x"), RedisCommand("INCR", prefix + "s"),
            RedisCommand("GET", prefix + "s"),
        ])
        #expect(mixed[0] == .status("OK"))
        #expect(mixed[1] == .error(RedisServerError(message: "ERR value is not an integer or out of range")))
        #expect(mixed[2] == .bulk(Array("x".utf8)))
    }

    @Test("scripts run by EVALSHA still work after SCRIPT FLUSH")
    func scriptFallback() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let client = RedisClient(endpoint: server.unixEndpoint)
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let key = uniqueKeyPrefix() + "n"
        // The locally computed SHA-1 is the one Redis computes.
        #expect(try await client.send("SCRIPT", "LOAD", script.source) == .bulk(Array(script.sha1.utf8)))
        #expect(try await client.evaluate(script, keys: [key], arguments: [5]) == .integer(5))

        #expect(try await client.send("SCRIPT", "FLUSH") == .status("OK"))
        #expect(try await client.send("SCRIPT", "EXISTS", script.sha1) == .array([.integer(0)]))
        #expect(try await client.evaluate(script, keys: [key], arguments: [2]) == .integer(7))
        // The fallback EVAL put the script back in the cache.
        #expect(try await client.send("SCRIPT", "EXISTS", script.sha1) == .array([.integer(1)]))

        _ = try await client.send("SCRIPT", "FLUSH")
        let replies = try await client.pipeline((1...3).map { _ in .evaluate(script, keys: [key], arguments: [1]) })
        #expect(replies == [.integer(8), .integer(9), .integer(10)])

        // A script's own error is returned as data, not retried.
        let failing = RedisScript("return redis.error_reply('MYERR broken')")
        #expect(try await client.evaluate(failing) == .error(RedisServerError(message: "MYERR broken")))
    }

    @Test(
        "after redis-server is killed and restarted on the same address, the next command succeeds",
        arguments: [false, true]
    )
    func serverRestart(overUnixSocket: Bool) async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let client = RedisClient(endpoint: overUnixSocket ? server.unixEndpoint : server.tcpEndpoint)
        let key = uniqueKeyPrefix() + "k"
        _ = try await client.send("SET", key, "before")
        let firstID = try await client.send("CLIENT", "ID").integer

        try await server.restart()
        #expect(try await client.send("GET", key) == .null, "the restarted server has empty data")
        let secondID = try await client.send("CLIENT", "ID").integer
        #expect(firstID != nil && secondID != nil)

        // While the server is down, calls fail with a connection error instead of hanging or crashing.
        server.kill()
        let error = await #expect(throws: RedisConnectionError.self) { try await client.send("PING") }
        #expect([.connect, .closed, .backingOff].contains(error?.kind))
        try await server.restart()
        #expect(try await eventually { try await client.send("PING") } == .status("PONG"))
    }

    @Test("CLIENT KILL of the connection neither kills the process nor the client")
    func clientKill() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let client = RedisClient(endpoint: server.tcpEndpoint)
        let admin = RedisClient(endpoint: server.tcpEndpoint)
        let id = try #require(try await client.send("CLIENT", "ID").integer)
        #expect(try await admin.send("CLIENT", "KILL", "ID", id) == .integer(1))
        #expect(try await client.send("PING") == .status("PONG"))
        let newID = try #require(try await client.send("CLIENT", "ID").integer)
        #expect(newID != id)

        // Below the client's idle check: a large write on a connection the server closed raises
        // SIGPIPE. It must come back as an error, not end the process.
        let connection = try HiredisConnection.connect(to: server.tcpEndpoint, options: RedisConnectionOptions())
        let rawID = try #require(try connection.execute(RedisCommand("CLIENT", "ID")).integer)
        _ = try await admin.send("CLIENT", "KILL", "ID", rawID)
        try await Task.sleep(for: .milliseconds(50))
        let big = [UInt8](repeating: 120, count: 16 << 20)
        let error = #expect(throws: RedisConnectionError.self) {
            _ = try connection.execute(RedisCommand("SET", "big", big))
        }
        #expect([.closed, .io].contains(error?.kind))
        var action = sigaction()
        sigaction(SIGPIPE, nil, &action)
        let handler = unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self)
        #expect(handler == unsafeBitCast(SIG_IGN, to: Int.self), "SIGPIPE is ignored")
    }

    @Test("a wrong password is a clear authentication error; right credentials, ACL users and password files work")
    func authentication() async throws {
        let server = try await RedisTestServer.start(["--requirepass", "s3cret"])
        defer { server.stop() }
        var endpoint = server.tcpEndpoint
        endpoint.password = "wrong"
        let error = await #expect(throws: RedisConnectionError.self) {
            try await RedisClient(endpoint: endpoint).send("PING")
        }
        #expect(error?.kind == .authentication)
        #expect(
            error?.description
                == "redis://:***@127.0.0.1:\(server.port)/0: authentication as the default user failed: WRONGPASS invalid username-password pair or user is disabled."
        )

        // Without a password the connect succeeds and commands are refused as data.
        let reply = try await RedisClient(endpoint: server.tcpEndpoint).send("PING")
        #expect(reply == .error(RedisServerError(message: "NOAUTH Authentication required.")))

        let good = try RedisEndpoint(parsing: "redis://:s3cret@127.0.0.1:\(server.port)/2")
        let client = RedisClient(endpoint: good)
        #expect(try await client.send("PING") == .status("PONG"))
        let key = uniqueKeyPrefix()
        _ = try await client.send("SET", key, "in-db-2")
        #expect(try await client.send("CLIENT", "INFO").string?.contains(" db=2 ") == true)

        _ = try await client.send("ACL", "SETUSER", "alice", "on", ">pa:ss@word", "~*", "+@all")
        let alice = RedisClient(
            endpoint: try RedisEndpoint(parsing: "redis://alice:pa%3Ass%40word@127.0.0.1:\(server.port)/2")
        )
        #expect(try await alice.send("GET", key) == .bulk(Array("in-db-2".utf8)))
        #expect(try await alice.send("ACL", "WHOAMI") == .bulk(Array("alice".utf8)))

        let file = server.directory + "/password"
        try writeText(file, "s3cret\n")
        defer { unlink(file) }
        var fromFile = server.unixEndpoint
        fromFile.passwordFile = file
        #expect(try await RedisClient(endpoint: fromFile).send("PING") == .status("PONG"))

        fromFile.passwordFile = server.directory + "/missing"
        let missing = await #expect(throws: RedisConnectionError.self) {
            try await RedisClient(endpoint: fromFile).send("PING")
        }
        #expect(missing?.kind == .passwordFile)
        #expect(missing?.message == "password file: cannot read \(server.directory)/missing: No such file or directory")
    }

    @Test("SELECT keeps databases apart")
    func databases() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        var endpoint = server.unixEndpoint
        endpoint.database = 3
        let three = RedisClient(endpoint: endpoint)
        let zero = RedisClient(endpoint: server.unixEndpoint)
        let key = uniqueKeyPrefix()
        _ = try await three.send("SET", key, "3")
        #expect(try await zero.send("EXISTS", key) == .integer(0))
        #expect(try await three.send("EXISTS", key) == .integer(1))

        endpoint.database = 999
        let error = await #expect(throws: RedisConnectionError.self) {
            try await RedisClient(endpoint: endpoint).send("PING")
        }
        #expect(error?.kind == .selectDatabase)
        #expect(error?.message == "cannot select database 999: ERR DB index is out of range")
    }

    @Test("the connection is close-on-exec, and calls run on the client's own thread")
    func socketOptions() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let client = RedisClient(endpoint: server.tcpEndpoint)
        _ = try await client.send("PING")
        let fd = try #require(await client.fileDescriptor)
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
        var keepAlive: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &keepAlive, &length)
        #expect(keepAlive == 1)
        #expect(await client.runsOnOwnThread())
    }

    @Test("a refused address fails at once; after a failed connect, calls back off without touching the network")
    func refusedAndBackoff() async throws {
        let port = try freeLoopbackPort()
        let client = RedisClient(
            endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: port)),
            reconnectBackoff: ExponentialBackoff(initial: .seconds(30), maximum: .seconds(60))
        )
        let first = await #expect(throws: RedisConnectionError.self) { try await client.send("PING") }
        #expect(first?.kind == .connect)
        #expect(first?.description == "redis://127.0.0.1:\(port)/0: cannot connect: Connection refused")
        let second = await #expect(throws: RedisConnectionError.self) { try await client.send("PING") }
        #expect(second?.kind == .backingOff)
        #expect(second?.message.hasPrefix("cannot connect: Connection refused; next attempt in ") == true)
    }

    @Test("a server that never completes the connect fails within the connect timeout")
    func connectTimeout() async throws {
        let listener = try SilentListener(backlogFilled: true)
        defer { listener.close() }
        var options = RedisConnectionOptions()
        options.connectTimeout = .milliseconds(300)
        let client = RedisClient(
            endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: listener.port)),
            options: options
        )
        let start = ContinuousClock.now
        let error = await #expect(throws: RedisConnectionError.self) { try await client.send("PING") }
        let elapsed = ContinuousClock.now - start
        #expect(error?.kind == .timeout)
        #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(2), "took \(elapsed)")
    }

    @Test("a server that accepts but never answers fails within the I/O timeout")
    func ioTimeout() async throws {
        let listener = try SilentListener(backlogFilled: false)
        defer { listener.close() }
        var options = RedisConnectionOptions()
        options.ioTimeout = .milliseconds(300)
        let client = RedisClient(
            endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: listener.port)),
            options: options
        )
        let start = ContinuousClock.now
        let error = await #expect(throws: RedisConnectionError.self) { try await client.send("PING") }
        let elapsed = ContinuousClock.now - start
        #expect(error?.kind == .timeout)
        #expect(error?.message == "no reply within the I/O timeout")
        #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(2), "took \(elapsed)")
        #expect(await client.isConnected == false, "a timed-out connection is dropped")
    }
}

/// Retries `body` for up to `timeout` while it throws connection errors (the client backs off
/// after a failed connect), returning its first result.
func eventually<T>(timeout: Duration = .seconds(5), _ body: () async throws -> T) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        do {
            return try await body()
        } catch let error as RedisConnectionError where ContinuousClock.now < deadline {
            _ = error
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// A loopback TCP listener that never accepts. With its backlog filled, a new connect hangs (the
/// kernel drops the SYN); otherwise connects complete but nothing is ever read or answered.
final class SilentListener: Sendable {
    let port: Int
    private let descriptors: [Int32]

    init(backlogFilled: Bool) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && listen(fd, 0) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard ok else { throw HarnessError("listener: \(errnoDescription())") }
        port = Int(UInt16(bigEndian: address.sin_port))
        var descriptors = [fd]
        if backlogFilled {
            // A backlog of 0 holds one completed connection; fill it, plus one in SYN state.
            for _ in 0..<2 {
                let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                _ = withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, length) }
                }
                descriptors.append(filler)
            }
            usleep(50_000)
        }
        self.descriptors = descriptors
    }

    func close() {
        for fd in descriptors { _ = Glibc.close(fd) }
    }
}

extension RedisClient {
    /// Whether the caller runs on the client's own thread (it always should inside the actor).
    func runsOnOwnThread() -> Bool { executor.isCurrentThread }
}
