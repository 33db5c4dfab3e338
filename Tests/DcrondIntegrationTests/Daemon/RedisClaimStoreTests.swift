import DcrondTestSupport
import Testing

@testable import DcrondCore

@Suite(
    "claims in a real redis-server: tokens, release, and Redis going back in time",
    .enabled(if: RedisTestServer.enabled)
)
struct RedisClaimStoreTests {
    func store(_ server: RedisTestServer, cluster: String, node: String) -> RedisClaimStore {
        // A heartbeat of 0.1 s: claims older than a repair wait 1.2 s (two heartbeats and a second).
        RedisClaimStore(
            redis: RedisClient(endpoint: server.unixEndpoint),
            cluster: cluster,
            node: node,
            heartbeat: .milliseconds(100)
        )
    }

    @Test("a claim sent again with its token is won; another token for the same instant is not")
    func retriedClaimIsWon() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let a = store(server, cluster: "t", node: "a")
        let b = store(server, cluster: "t", node: "b")
        let request = ClaimRequest(job: "j", instant: 100, token: "a run-1")
        #expect(try await a.claim(request) == .won(previous: nil))
        #expect(try await a.claim(request) == .won(previous: nil), "the retry of a claim whose reply was lost")
        #expect(try await b.claim(ClaimRequest(job: "j", instant: 100, token: "b run-2")) == .lost)
        #expect(
            try await a.claim(ClaimRequest(job: "j", instant: 100, token: "a run-3")) == .lost,
            "a new attempt is not the old one"
        )
        #expect(try await b.claim(ClaimRequest(job: "j", instant: 99, token: "b run-4")) == .lost, "an earlier instant")
        #expect(try await b.claim(ClaimRequest(job: "j", instant: 101, token: "b run-5")) == .won(previous: 100))
        // A retry of a's claim after b claimed a later one: still a's.
        #expect(try await a.claim(request) == .won(previous: nil))
    }

    @Test("run records go in one pipeline through the batching store; one job's broken key fails only its record")
    func batchedRecords() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let batching = BatchingClaimStore(store(server, cluster: "t", node: "a"))
        let keys = ClusterKeys(cluster: "t")
        let admin = RedisClient(endpoint: server.unixEndpoint)
        _ = try await admin.send("SET", keys.runs("broken"), "not a list")
        func run(_ job: String, _ instant: Int64) -> RunRecord {
            RunRecord(
                job: job,
                runID: "r\(instant)",
                scheduledAt: instant,
                node: "a",
                attempts: [],
                outcome: .succeeded
            )
        }
        let results = try await batching.record([run("ok", 1), run("broken", 2), run("ok", 3)])
        #expect(results[0] == nil && results[2] == nil)
        #expect(results[1]?.code == "WRONGTYPE")
        #expect(try await admin.send("LLEN", keys.runs("ok")).integer == 2)
        #expect(try await admin.send("HEXISTS", keys.lastSuccess, "broken").integer == 1, "its other keys are kept")
        await #expect(throws: RedisServerError.self) { try await batching.record(run("broken", 4)) }
        try await batching.record(run("ok", 5))
        #expect(try await admin.send("LLEN", keys.runs("ok")).integer == 3)
        // Claims through the batching store decide as the store does.
        #expect(try await batching.claim(ClaimRequest(job: "j", instant: 100, token: "a r1")) == .won(previous: nil))
        #expect(try await batching.claim(ClaimRequest(job: "j", instant: 100, token: "a r2")) == .lost)
    }

    @Test("a released claim goes back, so the next owner can claim the instant")
    func release() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let a = store(server, cluster: "t", node: "a")
        let b = store(server, cluster: "t", node: "b")
        _ = try await a.claim(ClaimRequest(job: "j", instant: 100, token: "a r1"))
        let second = ClaimRequest(job: "j", instant: 101, token: "a r2")
        #expect(try await a.claim(second) == .won(previous: 100))
        #expect(try await a.release(second, previous: 100) == .givenBack)
        #expect(try await b.lastClaimed(["j"]).last == [100])
        #expect(try await b.claim(ClaimRequest(job: "j", instant: 101, token: "b r3")) == .won(previous: 100))
    }

    @Test(
        "a claim that is no longer the job's last cannot go back: the release says so (its instant is the releaser's to report), leaves `starting`, and changes no claim"
    )
    func releaseSuperseded() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let redis = RedisClient(endpoint: server.unixEndpoint)
        let keys = ClusterKeys(cluster: "t")
        let a = store(server, cluster: "t", node: "a")
        let b = store(server, cluster: "t", node: "b")
        _ = try await redis.send("HSET", keys.node("a"), "instance", a.instance)
        // a won 100 and waits (for its lease, its instant); meanwhile b, the new owner, claims 101.
        let waiting = ClaimRequest(job: "j", instant: 100, token: "a r1")
        #expect(try await a.claim(waiting) == .won(previous: nil))
        #expect(try await b.claim(ClaimRequest(job: "j", instant: 101, token: "b r2")) == .won(previous: 100))
        #expect(try await a.release(waiting, previous: nil) == .superseded(last: 101))
        #expect(try await b.lastClaimed(["j"]).last == [101], "b's claim stands")
        #expect(try await redis.send("HLEN", keys.starting).integer == 1, "only b's 101 is left in starting")
        // Out of `starting`, so the checker does not report it a second time once a is gone.
        _ = try await redis.send("DEL", keys.node("a"))
        #expect(try await b.reportMissed([("j", 100)]) == [.accounted])
        // A token that never won the job's last claim (as after a repair, which stores `restored`) cannot release it.
        #expect(
            try await a.release(ClaimRequest(job: "k", instant: 5, token: "a r3"), previous: nil)
                == .superseded(last: nil)
        )
    }

    @Test(
        "the sweep of starting reports, once, the claims of stopped claimers up to the instant asked; a live claimer's and later ones stay"
    )
    func sweepNotStarted() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let redis = RedisClient(endpoint: server.unixEndpoint)
        let keys = ClusterKeys(cluster: "t")
        let a = store(server, cluster: "t", node: "a")
        let b = store(server, cluster: "t", node: "b")
        let c = store(server, cluster: "t", node: "c")
        _ = try await redis.send("HSET", keys.node("a"), "instance", a.instance)
        _ = try await redis.send("HSET", keys.node("b"), "instance", b.instance)
        // a is live and has not started 100 yet; b won 100 and 200 of its jobs, then stopped
        // (its info key now holds a later process's instance); c's checker of b's jobs is gone too.
        _ = try await a.claim(ClaimRequest(job: "ja", instant: 100, token: "a r1"))
        _ = try await b.claim(ClaimRequest(job: "jb", instant: 100, token: "b r1"))
        _ = try await b.claim(ClaimRequest(job: "kb", instant: 100, token: "b r2"))
        _ = try await b.claim(ClaimRequest(job: "jb", instant: 200, token: "b r3"))
        _ = try await redis.send("HSET", keys.node("b"), "instance", "0123abcd")
        #expect(try await redis.send("HLEN", keys.starting).integer == 4)

        let found = try await c.sweepNotStarted(through: 150)
        #expect(
            Set(found) == [
                NotStartedClaim(job: "jb", instant: 100, claimer: "b"),
                NotStartedClaim(job: "kb", instant: 100, claimer: "b"),
            ]
        )
        #expect(try await a.sweepNotStarted(through: 150).isEmpty, "reported once, whoever sweeps next")
        #expect(try await c.reportMissed([("jb", 100)]) == [.accounted], "nor by the checker, if it comes back")
        #expect(try await c.sweepNotStarted(through: 300) == [NotStartedClaim(job: "jb", instant: 200, claimer: "b")])
        #expect(try await redis.send("HLEN", keys.starting).integer == 1, "a's live claim stays")
        // Once a's process is gone (its info key expired), its claim is reported as well.
        _ = try await redis.send("DEL", keys.node("a"))
        #expect(try await c.sweepNotStarted(through: 300) == [NotStartedClaim(job: "ja", instant: 100, claimer: "a")])
        #expect(try await redis.send("HLEN", keys.starting).integer == 0)
    }

    @Test(
        "Redis emptied under the nodes: claims are refused until the history is repaired; older claims wait until every live node put its claims back"
    )
    func rollbackIsRepaired() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let redis = RedisClient(endpoint: server.unixEndpoint)
        let a = store(server, cluster: "t", node: "a")
        let b = store(server, cluster: "t", node: "b")
        _ = try await a.claim(ClaimRequest(job: "ja", instant: 100, token: "a r1"))
        _ = try await b.claim(ClaimRequest(job: "jb", instant: 200, token: "b r2"))
        _ = try await a.lastClaimed(["ja", "jb"])  // a has now seen b's claim too
        _ = try await redis.send("FLUSHALL")
        // Both nodes are live members of the pool (scored by the expiry of their heartbeat).
        let expiry = realtimeNanoseconds() / 1_000_000 + 60_000
        _ = try await redis.send("ZADD", "dcron:{t}:members", expiry, "a", expiry, "b")

        // a's next claim is refused as stale history and repaired; jb ran before the loss, and b has
        // not put it back yet, so a claim older than the repair waits.
        #expect(try await a.claim(ClaimRequest(job: "jb", instant: 200, token: "a r3")) == .wait)
        #expect(await a.repairs == 1)
        let afterA = try await a.lastClaimed(["ja", "jb"])
        #expect(afterA.last == [100, nil])
        #expect(afterA.fresh == [true, false])
        #expect(!afterA.settled, "b has not confirmed")
        #expect(afterA.floor > 0)
        // b notices the new generation and puts back its own claim, without another bump.
        let afterB = try await b.lastClaimed(["ja", "jb"])
        #expect(afterB.last == [100, 200])
        #expect(afterB.fresh == [true, true])
        #expect(afterB.settled)
        #expect(afterB.floor == afterA.floor)
        #expect(
            try await a.claim(ClaimRequest(job: "jb", instant: 200, token: "a r3")) == .lost,
            "jb@200 ran before the loss: never again"
        )
        #expect(try await b.claim(ClaimRequest(job: "jb", instant: 201, token: "b r4")) == .won(previous: 200))
    }

    @Test("older claims wait at most a node timeout and a settle period for a node that does not confirm")
    func settleIsBounded() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let redis = RedisClient(endpoint: server.unixEndpoint)
        // Heartbeat 0.25 s, node timeout 1 s: the wait is bounded by 1 + 0.5 + 1 = 2.5 s after the
        // repair's floor, a whole second, so 1.5–2.5 s after the repair: room for a loaded machine
        // between the repair and the first claim (with a 1.5 s bound it was as little as 0.5 s).
        let a = RedisClaimStore(
            redis: redis,
            cluster: "t",
            node: "a",
            heartbeat: .milliseconds(250),
            nodeTimeout: .seconds(1)
        )
        _ = try await a.claim(ClaimRequest(job: "j", instant: 100, token: "a r1"))
        _ = try await redis.send("FLUSHALL")
        let expiry = realtimeNanoseconds() / 1_000_000 + 60_000
        _ = try await redis.send("ZADD", "dcron:{t}:members", expiry, "a", expiry, "silent")
        #expect(try await a.claim(ClaimRequest(job: "j", instant: 101, token: "a r2")) == .wait)
        try await Task.sleep(for: .milliseconds(2700))
        #expect(try await a.claim(ClaimRequest(job: "j", instant: 100, token: "a r3")) == .lost, "a put j@100 back")
        #expect(
            try await a.claim(ClaimRequest(job: "j", instant: 101, token: "a r2")) == .won(previous: 100),
            "the silent member no longer holds claims older than the repair back"
        )
    }

    @Test("Redis lost the pool's members too: claims older than the repair wait for the nodes the repairing node knew")
    func awaitsKnownMembers() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let redis = RedisClient(endpoint: server.unixEndpoint)
        let a = RedisClaimStore(
            redis: redis,
            cluster: "t",
            node: "a",
            heartbeat: .milliseconds(100),
            nodeTimeout: .seconds(30),
            knownMembers: { ["a", "b"] }
        )
        let b = store(server, cluster: "t", node: "b")
        _ = try await b.claim(ClaimRequest(job: "j", instant: 300, token: "b r1"))  // b ran j@300
        _ = try await a.lastClaimed(["j"])
        _ = try await redis.send("FLUSHALL")  // claims and members gone
        #expect(
            try await a.claim(ClaimRequest(job: "j", instant: 300, token: "a r2")) == .wait,
            "b has not put j@300 back yet"
        )
        _ = try await b.lastClaimed(["j"])  // b notices, puts back, confirms
        #expect(
            try await a.claim(ClaimRequest(job: "j", instant: 300, token: "a r2")) == .lost,
            "j@300 never runs twice"
        )
    }

    @Test("a snapshot restored under the nodes is noticed at the heartbeat's report too")
    func heartbeatReportRepairs() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let a = store(server, cluster: "t", node: "a")
        let redis = RedisClient(endpoint: server.unixEndpoint)
        _ = try await a.claim(ClaimRequest(job: "j", instant: 100, token: "a r1"))
        _ = try await redis.send("SAVE")
        _ = try await a.claim(ClaimRequest(job: "j", instant: 101, token: "a r2"))
        try await server.restart()  // back to j@100
        let history = try await redis.send("HMGET", "dcron:{t}:history", "generation", "sequence")
        let values = history.array?.compactMap { $0.string.flatMap { Int64($0) } } ?? []
        await a.checkHistory(generation: values[0], sequence: values[1])
        #expect(await a.repairs == 1)
        #expect(
            try await redis.send("HGET", "dcron:{t}:claims", "j").string == "101",
            "the claim after the snapshot is back"
        )
    }

    @Test("claimReplicas 1: a claim no replica acknowledged is not won; the same claim is once a replica holds it")
    func claimsWaitForReplicas() async throws {
        let master = try await RedisTestServer.start()
        defer { master.stop() }
        let acknowledgement = ReplicaAcknowledgement(replicas: 1, timeout: .milliseconds(500))
        let a = RedisClaimStore(
            redis: RedisClient(endpoint: master.unixEndpoint),
            cluster: "t",
            node: "a",
            acknowledgement: acknowledgement
        )
        let request = ClaimRequest(job: "j", instant: 100, token: "a r1")
        #expect(try await a.claim(request) == .unacknowledged(previous: nil, replicas: 0), "no replica: fail closed")
        #expect(await a.unacknowledgedClaims == 1)
        let replica = try await RedisTestServer.start(["--replicaof", "127.0.0.1", String(master.port)])
        defer { replica.stop() }
        #expect(try await waitFor(seconds: 10) { master.onlineReplicas() == 1 })
        // Retried as the daemon does: on a loaded machine the replica's first acknowledgement can
        // miss one 500 ms WAIT (seen twice in make test).
        var retried = try await a.claim(request)
        for _ in 0..<5 where retried != .won(previous: nil) { retried = try await a.claim(request) }
        #expect(retried == .won(previous: nil), "the retry is acknowledged")
        #expect(
            try await RedisClient(endpoint: replica.unixEndpoint).send("HGET", "dcron:{t}:claims", "j").string == "100"
        )
        let b = RedisClaimStore(
            redis: RedisClient(endpoint: master.unixEndpoint),
            cluster: "t",
            node: "b",
            acknowledgement: acknowledgement
        )
        #expect(try await b.claim(ClaimRequest(job: "j", instant: 100, token: "b r2")) == .lost)
    }

    @Test("a claim put back after Redis lost it is still answered as won to its own retry")
    func putBackKeepsToken() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let a = store(server, cluster: "t", node: "a")
        let redis = RedisClient(endpoint: server.unixEndpoint)
        // Won, but (say) unacknowledged by replicas, so its run has not started and it is retried.
        let request = ClaimRequest(job: "j", instant: 100, token: "a r1")
        #expect(try await a.claim(request) == .won(previous: nil))
        _ = try await redis.send("FLUSHALL")
        _ = try await redis.send("ZADD", "dcron:{t}:members", realtimeNanoseconds() / 1_000_000 + 60_000, "a")
        #expect(
            try await a.claim(request) == .won(previous: nil),
            "the put-back claim is this attempt's, not another's"
        )
        #expect(await a.repairs == 1)
        #expect(try await a.claim(ClaimRequest(job: "j", instant: 100, token: "a r9")) == .lost)
    }

    @Test(
        "a restarted node recalls its claims from Redis, so a later loss of the data does not let an older claim replay them"
    )
    func restartedNodeRecallsItsClaims() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let redis = RedisClient(endpoint: server.unixEndpoint)
        let a = store(server, cluster: "t", node: "a")
        let b = store(server, cluster: "t", node: "b")
        // b won j@90, a ran j@100.
        #expect(try await b.claim(ClaimRequest(job: "j", instant: 90, token: "b r1")) == .won(previous: nil))
        #expect(try await a.claim(ClaimRequest(job: "j", instant: 100, token: "a r2")) == .won(previous: 90))
        // a restarts: a new process with no memory, which first sees the pool's history.
        let restarted = store(server, cluster: "t", node: "a")
        let history = try await redis.send("HMGET", "dcron:{t}:history", "generation", "sequence")
        let values = history.array?.compactMap { $0.string.flatMap { Int64($0) } } ?? []
        await restarted.checkHistory(generation: values[0], sequence: values[1])
        // Redis loses everything; both nodes put back what they remember.
        _ = try await redis.send("FLUSHALL")
        let expiry = realtimeNanoseconds() / 1_000_000 + 60_000
        _ = try await redis.send("ZADD", "dcron:{t}:members", expiry, "a", expiry, "b")
        _ = try await restarted.lastClaimed(["j"])
        let after = try await b.lastClaimed(["j"])
        #expect(after.last == [100], "j@100 is remembered by a's new process; with b's j@90 alone it would run again")
    }
    @Test(
        "the missed-run check reports a won claim whose process is gone before its start, once; a live claimer's is asked again; a started one is accounted for"
    )
    func claimedAndNeverStarted() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let redis = RedisClient(endpoint: server.unixEndpoint)
        let a = store(server, cluster: "t", node: "a")
        let checker = store(server, cluster: "t", node: "b")
        let keys = ClusterKeys(cluster: "t")
        // a is alive: its info key holds this process's instance.
        _ = try await redis.send("HSET", keys.node("a"), "instance", a.instance)
        let first = ClaimRequest(job: "j", instant: 100, token: "a r1")
        #expect(try await a.claim(first) == .won(previous: nil))
        #expect(try await checker.reportMissed([("j", 100)]) == [.starting(claimer: "a")])
        try await a.markStarted([first])
        #expect(try await checker.reportMissed([("j", 100)]) == [.accounted], "started")

        // Won, then the process died (its info key expired) before the start.
        let second = ClaimRequest(job: "j", instant: 101, token: "a r2")
        #expect(try await a.claim(second) == .won(previous: 100))
        _ = try await redis.send("DEL", keys.node("a"))
        #expect(try await checker.reportMissed([("j", 101)]) == [.notStarted(claimer: "a")])
        #expect(try await checker.reportMissed([("j", 101)]) == [.accounted], "reported once")

        // Won, then the node restarted under the same id: another instance holds its info key.
        let third = ClaimRequest(job: "j", instant: 102, token: "a r3")
        #expect(try await a.claim(third) == .won(previous: 101))
        _ = try await redis.send("HSET", keys.node("a"), "instance", "0123abcd")
        #expect(try await checker.reportMissed([("j", 102)]) == [.notStarted(claimer: "a")])

        // Given back (a stop before the instant): out of `starting`, and reported as unclaimed.
        let fourth = ClaimRequest(job: "j", instant: 103, token: "a r4")
        #expect(try await a.claim(fourth) == .won(previous: 102))
        #expect(try await a.release(fourth, previous: 102) == .givenBack)
        #expect(try await checker.reportMissed([("j", 103)]) == [.missed(lastClaimed: 102)])
        #expect(try await redis.send("HLEN", keys.starting).integer == 0)
        // A lost claim is not entered.
        #expect(try await checker.claim(ClaimRequest(job: "j", instant: 102, token: "b r5")) == .lost)
        #expect(try await redis.send("HLEN", keys.starting).integer == 0)
    }
}
