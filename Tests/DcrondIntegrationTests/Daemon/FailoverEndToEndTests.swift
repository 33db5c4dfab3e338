import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// Three `dcrond run` nodes with 20 jobs every second against a real master, real replicas and
/// three real sentinels; the master dies (SIGKILL) and the sentinels promote a replica.
@Suite(
    "Sentinel failover end to end: at most once with claimReplicas",
    .enabled(if: RedisTestServer.enabled),
    .serialized
)
struct FailoverEndToEndTests {
    static let jobs = (1...20).map { "f\($0)" }

    /// Three nodes on the group's sentinels with `claimReplicas: 1`, settled; returns the first
    /// second to audit.
    static func startNodes(_ group: SentinelTestGroup) async throws -> (DcrondCluster, Int64) {
        let cluster = try DcrondCluster(server: group.master, jobs: jobs)
        for node in ["a", "b", "c"] {
            try cluster.start(node, redis: group.address, settings: #", "claimReplicas": 1"#)
        }
        try await Task.sleep(for: .seconds(4))
        return (cluster, wallSeconds())
    }

    @Test("the master is killed and a replica promoted: nothing runs twice, the instants of the failover run late")
    func masterKilled() async throws {
        let group = try await SentinelTestGroup.start(replicas: 2)
        defer { group.stop() }
        let (cluster, from) = try await Self.startNodes(group)
        try await Task.sleep(for: .seconds(3))
        let killedMs = realtimeNanoseconds() / 1_000_000
        group.master.kill()
        let newPort = try await group.waitForFailover(from: group.master.port)
        let switchedMs = realtimeNanoseconds() / 1_000_000
        // The other replica must follow the new master before claims are acknowledged again;
        // on a loaded machine that resync takes a while. Instants wait for it, late, not lost.
        let to = wallSeconds() + 8
        try await Task.sleep(for: .seconds(10))
        try await cluster.waitForAll(from: from, to: to, seconds: 40)
        try await Task.sleep(for: .seconds(2))  // a second run of any instant would show by now
        cluster.expectExactlyOnce(from: from, to: to, "across a Sentinel failover with claimReplicas 1")
        // The first start of an instant due after the kill: claimed on the new master.
        let firstAfter = cluster.runs().filter { $0.instant * 1000 > killedMs }.map(\.startedMs).min()
        #expect(firstAfter != nil)
        print(
            "FIGURES failover: sentinels agreed on the new master \(switchedMs - killedMs) ms after the kill; first run on it \((firstAfter ?? 0) - killedMs) ms after the kill"
        )
        let promoted = try #require(group.server(port: newPort))
        let stats = try await RedisClient(endpoint: promoted.unixEndpoint).send("INFO", "commandstats").string ?? ""
        #expect(stats.contains("cmdstat_wait:"), "claims on the new master were acknowledged with WAIT")
        if getenv("E2E_DEBUG") != nil { print(group.sentinelLog()) }
        await cluster.cleanUp()
    }

    @Test("three failovers in a row, each killed master back as a replica: nothing runs twice, nothing is lost")
    func repeatedFailovers() async throws {
        let group = try await SentinelTestGroup.start(replicas: 2)
        defer { group.stop() }
        let (cluster, from) = try await Self.startNodes(group)
        var port = group.master.port
        var failovers: [Int64] = []
        for _ in 0..<3 {
            // Kill only a settled group: the sentinels must know a healthy replica to promote.
            port = try await group.waitUntilSettled(masterPort: port, replicas: 2)
            let victim = try #require(group.server(port: port))
            let killedMs = realtimeNanoseconds() / 1_000_000
            victim.kill()
            port = try await group.waitForFailover(from: port)
            failovers.append(realtimeNanoseconds() / 1_000_000 - killedMs)
            // Back empty; the sentinels make it a replica of the new master.
            try await victim.restart()
            let rejoined = try await waitFor(seconds: 30) {
                shellOutputBlocking("\(group.dataCLI(victim)) INFO replication")?.contains("master_link_status:up")
                    == true
            }
            #expect(rejoined, "the killed master came back as a replica")
            try await Task.sleep(for: .seconds(2))
        }
        let to = wallSeconds() + 3
        try await Task.sleep(for: .seconds(5))
        try await cluster.waitForAll(from: from, to: to, seconds: 40)
        try await Task.sleep(for: .seconds(2))
        cluster.expectExactlyOnce(from: from, to: to, "across three Sentinel failovers")
        print(
            "FIGURES repeated failovers: the sentinels agreed after \(failovers.map { "\($0) ms" }.joined(separator: ", "))"
        )
        await cluster.cleanUp()
    }

    @Test("the only replica dies: claims fail closed, and a forbid run already going keeps renewing its lease")
    func replicaLostWhileRunning() async throws {
        let master = try await RedisTestServer.start()
        defer { master.stop() }
        let replica = try await RedisTestServer.start(["--replicaof", "127.0.0.1", String(master.port)])
        defer { replica.stop() }
        #expect(try await waitFor(seconds: 15) { master.onlineReplicas() == 1 })
        let cluster = try DcrondCluster(server: master, jobs: [])
        let every = Self.jobs.map {
            #"{"name": "\#($0)", "schedule": "* * * * * *", "command": "\#(cluster.line("run"))"}"#
        }
        try cluster.writeJobs(
            raw: every + [
                #"{"name": "long", "schedule": "*/10 * * * * *", "overlap": "forbid", "killGrace": "1s", "command": "\#(cluster.line("start")); sleep 12; \#(cluster.line("end"))"}"#
            ]
        )
        try cluster.start("a", settings: #", "claimReplicas": 1"#)
        #expect(
            try await waitFor(seconds: 15) { cluster.intervals().contains { $0.job == "long" } },
            "the long run started"
        )
        try await Task.sleep(for: .seconds(1))
        replica.kill()
        let lostMs = realtimeNanoseconds() / 1_000_000
        // Twenty jobs a second, each claim waiting 500 ms for a replica that is gone: the claim
        // connection is busy for ten seconds of every second. The lease must never lapse.
        let admin = RedisClient(endpoint: master.unixEndpoint)
        var lapsed = 0
        for _ in 0..<50 {
            if try await admin.send("EXISTS", "dcron:{\(cluster.cluster)}:lease:long") != .integer(1) { lapsed += 1 }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(
            lapsed == 0,
            "the running forbid run's lease lapsed in \(lapsed) of 50 samples: its renewals waited behind claims"
        )
        try await Task.sleep(for: .seconds(2))
        let long = try #require(cluster.intervals().first { $0.job == "long" })
        #expect(long.end.map { $0 - long.start >= 11_500 } == true, "the forbid run was not terminated: \(long)")
        #expect(!cluster.log("a").contains("terminating"), "no run was terminated for want of a lease renewal")
        let startedAfter = cluster.runs().filter { $0.startedMs > lostMs + 1000 }.count
        #expect(startedAfter == 0, "no run starts on a claim no replica holds")
        await cluster.cleanUp()
    }

    @Test(
        "the replica lags (its link cut), then is promoted: unacknowledged claims never started, nothing runs twice",
        .enabled(if: NetworkNamespace.available)
    )
    func laggingReplicaPromoted() async throws {
        // The replica reaches the master from 127.0.0.2, so nftables can cut the replication link
        // alone; a SIGSTOP would not make it lag (the stream waits in its socket and is applied
        // on SIGCONT, and the master's death is a clean FIN).
        let group = try await SentinelTestGroup.start(
            replicas: 1,
            replicaArguments: [
                [
                    "--bind-source-addr", "127.0.0.2", "--replica-announce-ip", "127.0.0.1",
                ]
            ],
            masterArguments: ["--protected-mode", "no"]
        )  // 127.0.0.2 is not "loopback" to protected mode
        defer { group.stop() }
        let table = "dcrondlag\(UInt16.random(in: 0...UInt16.max))"
        defer { _ = shellOutputBlocking("nft delete table inet \(table) 2>/dev/null") }
        let (cluster, from) = try await Self.startNodes(group)
        let port = group.master.port
        // Cut 0.3 s into a second, after that second's claims were written and acknowledged, so
        // that the next second's are written on the master alone: cut at a random moment, the
        // claims just before it may reach the replica with only their acknowledgement lost, and
        // each lane then retries its own claim until the failover, leaving the promoted replica
        // with nothing missing for this test to see.
        await sleepUntilRealtime((realtimeNanoseconds() / 1_000_000_000 + 1) * 1_000_000_000 + 300_000_000)
        let cut = shellOutputBlocking(
            """
            nft add table inet \(table) && nft add chain inet \(table) out '{ type filter hook output priority 0; }' && \
            nft add rule inet \(table) out ip saddr 127.0.0.2 tcp dport \(port) drop && \
            nft add rule inet \(table) out ip daddr 127.0.0.2 tcp sport \(port) drop && echo cut
            """
        )
        #expect(cut?.contains("cut") == true, "the replication link was cut")
        let cutMs = realtimeNanoseconds() / 1_000_000
        try await Task.sleep(for: .seconds(3))
        let killedMs = realtimeNanoseconds() / 1_000_000
        group.master.kill()
        let newPort = try await group.waitForFailover(from: port)
        #expect(newPort == group.replicas[0].port)
        // Only now: the killed master's kernel keeps retransmitting what its socket held, and with
        // the link back before the promotion the replica would still receive the claims it lacks.
        _ = shellOutputBlocking("nft delete table inet \(table)")
        // With one replica promoted, claims need a replica again: the old master comes back (empty)
        // and the sentinels make it a replica of the new one.
        try await group.master.restart()
        try await Task.sleep(for: .seconds(25))
        let to = wallSeconds() - 3
        let lost = cluster.expectExactlyOnce(
            from: from,
            to: to,
            "around the promotion of a lagging replica",
            mayBeLost: Set(Self.jobs.flatMap { job in (from...to).map { "\(job)@\($0)" } })
        )
        // A claim acknowledged just before the cut may start just after it.
        let startedWhileCut = cluster.runs().filter { $0.startedMs > cutMs + 1000 && $0.startedMs < killedMs }.count
        #expect(startedWhileCut == 0, "no run starts on a claim no replica holds")
        let logs = ["a", "b", "c"].map { cluster.log($0) }.joined()
        #expect(logs.contains("replicas acknowledged"), "claims went unacknowledged while the link was cut")
        #expect(
            logs.contains("Redis went back in time"),
            "the promoted replica lacked the unacknowledged claims, and the nodes noticed"
        )
        print(
            "FIGURES lagging replica: \(startedWhileCut) runs started while the replication link was cut; \(lost.count) instants not run"
        )
        if getenv("E2E_DEBUG") != nil { print(group.sentinelLog()) }
        await cluster.cleanUp()
    }
}
