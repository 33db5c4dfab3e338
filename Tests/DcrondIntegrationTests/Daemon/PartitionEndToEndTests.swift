import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// Whether the tests that cut a node off from Redis run: they need root, iproute2 and nftables.
/// In CI (`DCROND_REQUIRE_REDIS=1`, as root) a machine without them fails these tests.
let namespacesUsable =
    NetworkNamespace.available || getenv("DCROND_REQUIRE_REDIS").map { String(cString: $0) == "1" } == true

/// Faults of one node's network, staged with a node of its own network namespace (a veth pair,
/// nftables rules inside it) and a redis-server listening on loopback and the namespace's peer.
@Suite("dcrond run with a node cut off from Redis", .enabled(if: RedisTestServer.enabled && namespacesUsable))
struct PartitionEndToEndTests {
    /// A server reachable from the namespace, and the address node `a` uses inside it.
    static func serverReachable(from namespace: NetworkNamespace) async throws -> (RedisTestServer, String) {
        let server = try await RedisTestServer.start([
            "--bind", "127.0.0.1", namespace.outerAddress, "--protected-mode", "no",
        ])
        return (server, "redis://\(namespace.outerAddress):\(server.port)")
    }

    @Test("replies from Redis dropped for one node for 4 s: claims that ran in Redis are not lost, none runs twice")
    func repliesDropped() async throws {
        let namespace = try NetworkNamespace(index: 71)
        defer { namespace.remove() }
        let (server, address) = try await Self.serverReachable(from: namespace)
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: ["p1", "p2", "p3", "p4", "p5", "p6"])
        try cluster.start("a", redis: address, in: namespace)
        for node in ["b", "c"] { try cluster.start(node) }
        #expect(try await waitFor(seconds: 20) { cluster.log("a").contains("joined the pool") })
        try await Task.sleep(for: .seconds(2))
        let from = wallSeconds()
        for _ in 0..<2 {
            namespace.cut(.repliesOnly)
            try await Task.sleep(for: .seconds(4))
            namespace.heal()
            try await Task.sleep(for: .seconds(4))
        }
        try await Task.sleep(for: .seconds(3))
        cluster.expectExactlyOnce(from: from, to: wallSeconds() - 2, "around two 4 s losses of node a's replies")
        await cluster.cleanUp()
    }

    @Test("a node cut off for 10 s while it runs a forbid job: the run ends before a second copy can start elsewhere")
    func forbidAcrossPartition() async throws {
        let namespace = try NetworkNamespace(index: 72)
        defer { namespace.remove() }
        let (server, address) = try await Self.serverReachable(from: namespace)
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: [])
        let line = cluster.line
        try cluster.writeJobs(raw: [
            #"{"name": "long", "schedule": "*/2 * * * * *", "overlap": "forbid", "killGrace": "2s", "command": "trap '\#(line("end")); exit 0' TERM; \#(line("start")); sleep 25 & wait"}"#
        ])
        try cluster.start("a", redis: address, in: namespace)
        let ranOnA = try await waitFor(seconds: 20) { cluster.intervals().contains { $0.node == "a" } }
        #expect(ranOnA, "node a runs the job before the others join")
        for node in ["b", "c"] { try cluster.start(node) }
        try await Task.sleep(for: .seconds(2))
        namespace.cut(.both)
        try await Task.sleep(for: .seconds(10))
        namespace.heal()
        try await Task.sleep(for: .seconds(4))
        await cluster.stopAll()
        let runs = cluster.intervals()
        #expect(runs.count >= 2, "the job ran again elsewhere: \(runs)")
        for (previous, current) in zip(runs, runs.dropFirst()) {
            let previousEnd = try #require(
                previous.end,
                "\(previous.instant) on \(previous.node) never ended before \(current.instant) started"
            )
            #expect(
                current.start >= previousEnd,
                "\(current.instant) on \(current.node) started while \(previous.instant) on \(previous.node) ran"
            )
        }
        #expect(
            cluster.log("a").contains("cannot renew the overlap lease for"),
            "the cut-off holder terminated its run"
        )
        await cluster.cleanUp()
    }

    @Test("a Redis blip well within the node timeout (1.5 s of 3 s) never kills a forbid run")
    func blipKeepsTheRun() async throws {
        let namespace = try NetworkNamespace(index: 73)
        defer { namespace.remove() }
        let (server, address) = try await Self.serverReachable(from: namespace)
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: [])
        let line = cluster.line
        try cluster.writeJobs(raw: [
            #"{"name": "held", "schedule": "*/10 * * * * *", "overlap": "forbid", "killGrace": "1s", "catchUp": "none", "command": "trap '\#(line("end")); exit 0' TERM; \#(line("start")); sleep 6; \#(line("end"))"}"#
        ])
        try cluster.start("a", redis: address, in: namespace)
        // Wait for a run to start, then cut node a off for 1.5 s (the node timeout is 3 s).
        let started = try await waitFor(seconds: 30) { cluster.intervals().contains { $0.node == "a" } }
        #expect(started)
        namespace.cut(.both)
        try await Task.sleep(for: .milliseconds(1500))
        namespace.heal()
        _ = try await waitFor(seconds: 10) { cluster.intervals().first?.end != nil }
        let run = try #require(cluster.intervals().first)
        let duration = (run.end ?? 0) - run.start
        #expect(duration >= 5900, "the run went on through the blip (\(duration) ms)")
        #expect(!cluster.log("a").contains("terminating the run"))
        // A renewal fell in the 1.5 s cut (the heartbeat is 1 s): the node said so, and that the
        // lease was renewed again.
        #expect(cluster.log("a").contains("cannot renew the overlap lease; the run goes on"))
        #expect(cluster.log("a").contains("renewed the overlap lease again; the run went on"))
        await cluster.cleanUp()
    }
}
