import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// Runs are dispatched ``Daemon/startLead`` ahead of their instant (claimed, prepared, handed to a
/// spawner thread that starts them at it): against a real redis-server and real `dcrond run`
/// processes, a run never starts before its instant, and a node stopped between the claim and the
/// instant starts nothing and gives the claim back, so that the instant is not lost.
@Suite("runs dispatched ahead of their instant", .enabled(if: RedisTestServer.enabled))
struct StartLeadEndToEndTests {
    @Test("a run starts at its instant, never before; a stop after its claim starts nothing and gives the claim back")
    func stopBetweenClaimAndInstant() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let jobs = ["s1", "s2", "s3"]
        let cluster = try DcrondCluster(server: server, jobs: jobs)
        try cluster.start("a")
        try await Task.sleep(for: .seconds(3))
        let early = cluster.runs().filter { $0.startedMs < $0.instant * 1000 }
        #expect(!cluster.runs().isEmpty)
        #expect(early.isEmpty, "started before their instant: \(early)")

        // Stopped 25 ms before an instant: its runs were claimed ahead (startLead), not started.
        let instant = wallSeconds() + 2
        await sleepUntilRealtime(instant * 1_000_000_000 - Daemon.startLead.wholeMilliseconds * 1_000_000 / 2)
        cluster.signal("a", SIGTERM)
        #expect(try await cluster.wait("a") == 0)
        // On a loaded machine the stop may reach the daemon after the instant; then those runs started.
        let startedOnA = Set(cluster.runs().filter { $0.instant >= instant }.map(\.job))
        let keys = ClusterKeys(cluster: cluster.cluster)
        let client = RedisClient(endpoint: server.unixEndpoint)
        for job in jobs where !startedOnA.contains(job) {
            let claimed = try await client.send("HGET", keys.claims, job).string.flatMap { Int64($0) } ?? 0
            #expect(claimed < instant, "\(job): the claim of \(instant) was given back (holds \(claimed))")
        }

        // The next node runs the instants a did not, late (catchUp all): none was lost, none ran twice.
        try cluster.start("b")
        try await cluster.waitForAll(from: instant, to: instant, seconds: 20)
        await cluster.stopAll()
        for job in jobs {
            let runs = cluster.runs().filter { $0.job == job && $0.instant == instant }
            #expect(runs.count == 1, "\(job)@\(instant) ran \(runs.count) times")
            #expect(runs.first?.node == (startedOnA.contains(job) ? "a" : "b"))
        }
        await cluster.cleanUp()
    }

    @Test("a node leaves between the dispatch and the instant: the node that gains its jobs runs that instant, once")
    func leaveBetweenDispatchAndInstant() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        // Jobs of both nodes, whatever the placement's hash: two that "a" owns next to "b".
        let placement = Placement(nodes: ["a", "b"])
        let candidates = (0..<64).map { "l\($0)" }
        let jobs =
            Array(candidates.filter { placement.owner(of: $0) == "a" }.prefix(2))
            + candidates.filter { placement.owner(of: $0) == "b" }.prefix(2)
        let cluster = try DcrondCluster(server: server, jobs: jobs)
        try cluster.start("a")
        try cluster.start("b")
        try await Task.sleep(for: .seconds(4))
        // "b" passed the instant at its dispatch, ahead of it, while "a" owned half the jobs.
        let instant = wallSeconds() + 2
        await sleepUntilRealtime(instant * 1_000_000_000 - Daemon.startLead.wholeMilliseconds * 1_000_000 / 2)
        cluster.signal("a", SIGTERM)
        #expect(try await cluster.wait("a") == 0)
        try await cluster.waitForAll(from: instant, to: instant + 1, seconds: 20)
        await cluster.stopAll()
        let runs = cluster.runs()
        for job in jobs {
            let atInstant = runs.filter { $0.job == job && $0.instant == instant }
            #expect(atInstant.count == 1, "\(job)@\(instant) ran \(atInstant.count) times")
            #expect(atInstant.first?.node == "b", "\(job)@\(instant) ran on b")
        }
        let early = runs.filter { $0.startedMs < $0.instant * 1000 }
        #expect(early.isEmpty, "started before their instant: \(early)")
        await cluster.cleanUp()
    }
}
