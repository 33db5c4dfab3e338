import DcrondTestSupport
import Logging
import Testing

@testable import DcrondCore

@Suite("overlap leases in a real redis-server", .enabled(if: RedisTestServer.enabled))
struct RunLeasesTests {
    @Test("a holder puts back a lease that Redis lost, and learns when another run holds it")
    func renewalPutsBack() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let redis = RedisClient(endpoint: server.unixEndpoint)
        let leases = RunLeases(redis: redis, cluster: "t", nodeTimeout: .seconds(3))
        let ttl = leases.ttl(killGrace: .seconds(1))
        #expect(ttl == .seconds(5))
        #expect(try await leases.tryAcquire("j", value: "a r1", ttl: ttl, seen: ClaimHistory()) == .acquired)
        #expect(try await leases.tryAcquire("j", value: "b r2", ttl: ttl, seen: ClaimHistory()) == .held("a r1"))
        _ = try await redis.send("DEL", "dcron:{t}:lease:j")  // lost with a restore
        #expect(try await leases.renew("j", value: "a r1", runID: "r1", ttl: ttl).held)
        #expect(try await redis.send("GET", "dcron:{t}:lease:j").string == "a r1")
        _ = try await redis.send("SET", "dcron:{t}:lease:j", "b r2")
        #expect(try await !leases.renew("j", value: "a r1", runID: "r1", ttl: ttl).held)
    }

    @Test("a renewal that Redis does not answer fails within a second, and the next one succeeds")
    func renewalFailsFast() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let redis = RedisClient(endpoint: server.unixEndpoint)
        let renewals = RunLeases.renewalClient(
            endpoint: server.unixEndpoint,
            options: RedisConnectionOptions(),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let leases = RunLeases(redis: redis, renewals: renewals, cluster: "t", nodeTimeout: .seconds(3))
        let ttl = leases.ttl(killGrace: .seconds(1))
        #expect(try await leases.tryAcquire("j", value: "a r1", ttl: ttl, seen: ClaimHistory()) == .acquired)
        #expect(try await leases.renew("j", value: "a r1", runID: "r1", ttl: ttl).held)
        // A blip is ridden out only if an attempt begun in it fails soon enough to be retried
        // within the node timeout: with the client's default 2 s it took 2 s, and a 1.5 s cut with
        // a 3 s node timeout killed a run.
        server.freeze(true)
        let start = ContinuousClock.now
        await #expect(throws: (any Error).self) {
            try await leases.renew("j", value: "a r1", runID: "r1", ttl: ttl)
        }
        let failedAfter = ContinuousClock.now - start
        server.freeze(false)
        // 250 ms here alone, 509 ms in a CI run with both cores loaded: four times the attempt's
        // timeout leaves room for load, and for two retries in the 3 s.
        #expect(failedAfter < .seconds(1), "a renewal failed after \(failedAfter)")
        // Retried after the blip: the reconnect waits at most one attempt's length.
        try await Task.sleep(for: RunLeases.attemptTimeout + RunLeases.retryDelay)
        #expect(try await leases.renew("j", value: "a r1", runID: "r1", ttl: ttl).held)
    }

    @Test("for one lease lifetime after Redis went back in time no new lease is taken")
    func quarantine() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let redis = RedisClient(endpoint: server.unixEndpoint)
        let leases = RunLeases(redis: redis, cluster: "t", nodeTimeout: .seconds(3))
        let now = realtimeNanoseconds() / 1_000_000_000
        _ = try await redis.send("HSET", "dcron:{t}:history", "floor", now)
        #expect(try await leases.tryAcquire("j", value: "a r1", ttl: .seconds(5), seen: ClaimHistory()) == .quarantined)
        _ = try await redis.send("HSET", "dcron:{t}:history", "floor", now - 6)
        #expect(try await leases.tryAcquire("j", value: "a r1", ttl: .seconds(5), seen: ClaimHistory()) == .acquired)
    }

    @Test("a lease is refused to a node that has seen newer claims than Redis holds")
    func historyBehind() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let redis = RedisClient(endpoint: server.unixEndpoint)
        let leases = RunLeases(redis: redis, cluster: "t", nodeTimeout: .seconds(3))
        _ = try await redis.send("HSET", "dcron:{t}:history", "generation", 2, "sequence", 40)
        #expect(
            try await leases.tryAcquire(
                "j",
                value: "a r1",
                ttl: .seconds(5),
                seen: ClaimHistory(generation: 2, sequence: 41)
            )
                == .historyBehind(generation: 2, sequence: 40)
        )
        #expect(
            try await leases.tryAcquire(
                "j",
                value: "a r1",
                ttl: .seconds(5),
                seen: ClaimHistory(generation: 2, sequence: 40)
            ) == .acquired
        )
    }
}
