import DcrondTestSupport
import Logging
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

@Suite(
    "Redis through real sentinels: lookup, failover, never a replica",
    .enabled(if: RedisTestServer.enabled),
    .serialized
)
struct SentinelClientTests {
    @Test("the client writes to the master the sentinels name, and follows a failover to the promoted replica")
    func followsFailover() async throws {
        let group = try await SentinelTestGroup.start(replicas: 1)
        defer { group.stop() }
        let endpoint = try RedisEndpoint(parsing: group.address)
        let client = RedisClient(
            endpoint: endpoint,
            reconnectBackoff: ExponentialBackoff(initial: .milliseconds(50), maximum: .milliseconds(200))
        )
        #expect(try await client.send("SET", "k", "before") == .status("OK"))
        #expect(await client.connectedPeer == "127.0.0.1:\(group.master.port)")
        _ = try await RedisClient(endpoint: group.master.unixEndpoint).send("WAIT", 1, 1000)

        group.master.kill()
        let newPort = try await group.waitForFailover(from: group.master.port)
        #expect(newPort == group.replicas[0].port)
        // The first command may meet the dead connection; the next connect asks the sentinels.
        var reply: RedisReply?
        for _ in 0..<50 where reply == nil {
            reply = try? await client.send("SET", "k", "after")
            if reply == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(reply == .status("OK"))
        #expect(await client.connectedPeer == "127.0.0.1:\(newPort)")
        #expect(
            try await RedisClient(endpoint: group.replicas[0].unixEndpoint).send("GET", "k")
                == .bulk(Array("after".utf8))
        )
    }

    @Test("a sentinel that is down is skipped, and one that names a replica is not believed")
    func downSentinelAndStaleAnswer() async throws {
        let group = try await SentinelTestGroup.start(replicas: 1)
        defer { group.stop() }
        // The first sentinel listed is one nobody runs.
        let dead = try freeLoopbackPort()
        let address = "redis+sentinel://127.0.0.1:\(dead)," + group.address.dropFirst("redis+sentinel://".count)
        let client = RedisClient(endpoint: try RedisEndpoint(parsing: address))
        #expect(try await client.send("SET", "k", "v") == .status("OK"))
        #expect(await client.connectedPeer == "127.0.0.1:\(group.master.port)")

        // A sentinel that names the replica as master (a stale answer: it was told so, and has
        // not yet noticed otherwise). ROLE refuses it, and nothing is written.
        let directory = try makeTemporaryDirectory()
        let port = try freeLoopbackPort()
        try writeText(
            directory + "/stale.conf",
            """
            port \(port)
            bind 127.0.0.1
            dir \(directory)
            sentinel monitor stale 127.0.0.1 \(group.replicas[0].port) 1

            """
        )
        let pid = try spawnProcess([RedisTestServer.executable!, directory + "/stale.conf", "--sentinel"])
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            _ = shellOutputBlocking("rm -rf '\(directory)'")
        }
        #expect(
            try await waitFor(seconds: 5) { shellOutputBlocking("redis-cli -p \(port) PING")?.contains("PONG") == true }
        )
        let stale = RedisClient(endpoint: try RedisEndpoint(parsing: "redis+sentinel://127.0.0.1:\(port)/stale"))
        let error = await #expect(throws: RedisConnectionError.self) { try await stale.send("SET", "k", "stale") }
        #expect(error?.kind == .notMaster, "\(String(describing: error))")
        #expect(error?.description.contains("but it is a slave") == true, "\(String(describing: error))")
        #expect(try await RedisClient(endpoint: group.master.unixEndpoint).send("GET", "k") == .bulk(Array("v".utf8)))

        // Addressed directly, a replica refuses writes: a lost master to callers, not a server error.
        let direct = RedisClient(endpoint: group.replicas[0].tcpEndpoint)
        let readOnly = await #expect(throws: RedisConnectionError.self) { try await direct.send("SET", "k", "w") }
        #expect(readOnly?.kind == .notMaster, "\(String(describing: readOnly))")
        let script = await #expect(throws: RedisConnectionError.self) {
            try await direct.send("EVAL", "return redis.call('SET', KEYS[1], 'w')", 1, "k")
        }
        #expect(script?.kind == .notMaster, "a script's write is refused the same way: \(String(describing: script))")
    }

    @Test("no sentinel knows the master: a clear error naming each sentinel's answer")
    func unknownMaster() async throws {
        let group = try await SentinelTestGroup.start(replicas: 0)
        defer { group.stop() }
        let address = "redis+sentinel://127.0.0.1:\(group.sentinelPorts[0])/nosuchmaster"
        let client = RedisClient(endpoint: try RedisEndpoint(parsing: address))
        let error = await #expect(throws: RedisConnectionError.self) { try await client.send("PING") }
        #expect(error?.kind == .sentinel)
        #expect(
            error?.description.contains("does not monitor a master named \"nosuchmaster\"") == true,
            "\(String(describing: error))"
        )
    }

    @Test(
        "sentinels with a password of their own, data nodes with another; a wrong one is a clear error that never shows it"
    )
    func passwords() async throws {
        let group = try await SentinelTestGroup.start(
            replicas: 0,
            password: "data-secret",
            sentinelPassword: "sentinel-secret"
        )
        defer { group.stop() }
        var endpoint = try RedisEndpoint(
            parsing: group.address.replacingOccurrences("redis+sentinel://", "redis+sentinel://:data-secret@")
        )
        endpoint.sentinelGroup?.password = "sentinel-secret"
        #expect(try await RedisClient(endpoint: endpoint).send("SET", "k", "v") == .status("OK"))

        var wrong = endpoint
        wrong.sentinelGroup?.password = "not-it"
        let refused = await #expect(throws: RedisConnectionError.self) {
            try await RedisClient(endpoint: wrong).send("PING")
        }
        #expect(refused?.kind == .sentinel)
        #expect(
            refused?.description.contains("authentication as the default user failed") == true,
            "\(String(describing: refused))"
        )
        #expect(refused?.description.contains("not-it") == false)

        let directory = try makeTemporaryDirectory()
        defer { _ = shellOutputBlocking("rm -rf '\(directory)'") }
        try writeText(directory + "/sentinel.pw", "sentinel-secret\n")
        var fromFile = endpoint
        fromFile.sentinelGroup?.password = nil
        fromFile.sentinelGroup?.passwordFile = directory + "/sentinel.pw"
        #expect(try await RedisClient(endpoint: fromFile).send("GET", "k") == .bulk(Array("v".utf8)))

        var noData = endpoint
        noData.password = "wrong-data"
        let dataRefused = await #expect(throws: RedisConnectionError.self) {
            try await RedisClient(endpoint: noData).send("PING")
        }
        #expect(dataRefused?.kind == .authentication)
        #expect(dataRefused?.description.contains("wrong-data") == false)
        #expect(
            dataRefused?.description.contains("(master 127.0.0.1:\(group.master.port))") == true,
            "\(String(describing: dataRefused))"
        )
    }

    @Test(
        "a failover announced while a connection idles on the old master (still alive, now a replica) moves the client before its next write"
    )
    func switchMasterMessage() async throws {
        let group = try await SentinelTestGroup.start(replicas: 1)
        defer { group.stop() }
        let endpoint = try RedisEndpoint(parsing: group.address)
        let directory = SentinelDirectory.shared(for: endpoint.sentinelGroup!)
        directory.startWatching(logger: Logger(label: "test"))
        let client = RedisClient(endpoint: endpoint)
        #expect(try await client.send("SET", "k", "1") == .status("OK"))
        let before = directory.epoch
        _ = try await RedisClient(endpoint: group.master.unixEndpoint).send("WAIT", 1, 1000)
        // A planned failover: the old master stays up and becomes a replica.
        #expect(
            shellOutputBlocking("redis-cli -p \(group.sentinelPorts[0]) SENTINEL FAILOVER \(group.name)")?.contains(
                "OK"
            ) == true
        )
        let newPort = try await group.waitForFailover(from: group.master.port)
        #expect(
            try await waitFor(seconds: 5) { directory.epoch != before },
            "the +switch-master message moved the epoch"
        )
        // The first write after the announcement goes to the new master: no READONLY, no error.
        #expect(try await client.send("SET", "k", "2") == .status("OK"))
        #expect(await client.connectedPeer == "127.0.0.1:\(newPort)")
    }
}

extension String {
    /// `self` with every `target` replaced (Foundation-free).
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while !rest.isEmpty {
            if rest.hasPrefix(target) {
                result += replacement
                rest = rest.dropFirst(target.count)
            } else {
                result.append(rest.removeFirst())
            }
        }
        return result
    }
}
