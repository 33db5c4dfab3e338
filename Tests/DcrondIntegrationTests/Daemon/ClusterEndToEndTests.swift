import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// Several real `dcrond run` processes against a real redis-server, with jobs every second that
/// append `job instant node started-ms` to one file.
final class DcrondCluster: @unchecked Sendable {
    // @unchecked Sendable: used by one test task at a time.
    let server: RedisTestServer
    let directory: String
    let cluster: String
    let jobs: [String]
    var processes: [String: pid_t] = [:]
    var output: String { directory + "/runs.txt" }

    init(server: RedisTestServer, jobs: [String], schedule: String = "* * * * * *") throws {
        self.server = server
        self.directory = try makeTemporaryDirectory()
        self.cluster = "e2e\(UInt32.random(in: 0...UInt32.max))"
        self.jobs = jobs
        try writeJobs(schedule: schedule)
    }

    /// Jobs given as raw JSON objects.
    func writeJobs(raw: [String]) throws {
        try writeText(directory + "/jobs.json", #"{"jobs": [\#(raw.joined(separator: ", "))]}"#)
    }

    /// A shell command that appends `<kind> job instant node ms` to the output, for ``intervals()``.
    func line(_ kind: String) -> String {
        #"echo \"\#(kind) $DCRON_JOB $DCRON_SCHEDULED_AT $DCRON_NODE $(date +%s%3N)\" >> \#(output)"#
    }

    /// `start`/`end` lines with milliseconds, from jobs that write both: (job, instant, node, start, end?).
    func intervals() -> [(job: String, instant: Int64, node: String, start: Int64, end: Int64?)] {
        guard let bytes = try? FileSystem.readFile(output) else { return [] }
        var starts: [String: (String, Int64, String, Int64)] = [:]
        var ends: [String: Int64] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 5, let instant = Int64(parts[2]), let ms = Int64(parts[4]) else { continue }
            let key = "\(parts[1])@\(parts[2])"
            if parts[0] == "start" {
                starts[key] = (String(parts[1]), instant, String(parts[3]), ms)
            } else {
                ends[key] = ms
            }
        }
        return starts.map { key, value in (value.0, value.1, value.2, value.3, ends[key]) }.sorted {
            $0.start < $1.start
        }
    }

    func writeJobs(schedule: String, broken: Bool = false) throws {
        let command = #"echo \"$DCRON_JOB $DCRON_SCHEDULED_AT $DCRON_NODE $(date +%s%3N)\" >> \#(output)"#
        let list = jobs.map { #"{"name": "\#($0)", "schedule": "\#(schedule)", "command": "\#(command)"}"# }
        try writeText(
            directory + "/jobs.json",
            #"{"jobs": [\#(list.joined(separator: ", "))\#(broken ? ", {\"name\": \"bad\"}" : "")]}"#
        )
    }

    /// Starts `dcrond run` as node `node`. `name` tells apart two processes started with one node id
    /// (their logs are `<name>.log`); `jobs` is the jobs file, `settings` more members of dcrond.json.
    func start(
        _ node: String,
        standalone: Bool = false,
        name: String? = nil,
        jobs: String = "jobs.json",
        redis address: String? = nil,
        settings: String = "",
        in namespace: NetworkNamespace? = nil
    ) throws {
        let name = name ?? node
        let config = directory + "/\(name).json"
        let redis = standalone ? "" : #", "redis": "\#(address ?? "unix://" + server.socketPath)""#
        try writeText(
            config,
            #"{"cluster": "\#(cluster)", "node": "\#(node)", "timezone": "UTC"\#(redis), "jobs": "\#(jobs)", "shutdownGrace": "2s"\#(settings)}"#
        )
        let command = [buildProductsDirectory() + "/dcrond", "run", "--config", config]
        processes[name] = try spawn(
            namespace?.wrap(command) ?? command,
            standardOutput: directory + "/\(name).out",
            standardError: directory + "/\(name).log"
        )
    }

    func signal(_ node: String, _ number: Int32) { if let pid = processes[node] { kill(pid, number) } }

    /// Waits for the process to exit and returns its exit status; after `limit` it is killed
    /// (SIGKILL, status 137), so a process that does not stop fails a test instead of hanging it.
    func wait(_ node: String, limit: Duration = .seconds(60)) async throws -> Int32 {
        guard let pid = processes.removeValue(forKey: node) else { return -1 }
        let watchdog = Task {
            try await Task.sleep(for: limit)
            kill(pid, SIGKILL)
        }
        defer { watchdog.cancel() }
        return try await onOwnThread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        }
    }

    func stopAll() async {
        for node in Array(processes.keys) {
            signal(node, SIGKILL)
            _ = try? await wait(node)
        }
    }

    func log(_ node: String) -> String {
        (try? FileSystem.readFile(directory + "/\(node).log")).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    struct Run: Hashable {
        let job: String
        let instant: Int64
        let node: String
        let startedMs: Int64
    }

    func runs() -> [Run] {
        guard let bytes = try? FileSystem.readFile(output) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 4, let instant = Int64(parts[1]), let started = Int64(parts[3]) else { return nil }
            return Run(job: String(parts[0]), instant: instant, node: String(parts[2]), startedMs: started)
        }
    }

    /// Waits (up to `seconds`) until every (job, instant) in `from...to` has run: after a fault,
    /// instants run late, and how late depends on the machine's load, not only on the daemon.
    func waitForAll(from: Int64, to: Int64, seconds: Double) async throws {
        _ = try await waitFor(seconds: seconds) {
            let ran = Set(self.runs().map { "\($0.job)@\($0.instant)" })
            return self.jobs.allSatisfy { job in (from...to).allSatisfy { ran.contains("\(job)@\($0)") } }
        }
    }

    /// Every (job, instant) in `from...to` must have run exactly once; no instant may ever run twice.
    /// `mayBeLost` names instants that may be missing (claimed by a node killed before it ran them).
    @discardableResult
    func expectExactlyOnce(
        from: Int64,
        to: Int64,
        _ comment: Comment? = nil,
        mayBeLost: Set<String> = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> [String] {
        var count: [String: Int] = [:]
        for run in runs() { count["\(run.job)@\(run.instant)", default: 0] += 1 }
        let duplicates = count.filter { $0.value > 1 }.keys.sorted()
        var missing: [String] = []
        var lost: [String] = []
        for job in jobs {
            for instant in from...to where count["\(job)@\(instant)"] == nil {
                let key = "\(job)@\(instant)"
                if mayBeLost.contains(key) { lost.append(key) } else { missing.append(key) }
            }
        }
        #expect(
            duplicates.isEmpty,
            "ran twice: \(duplicates) \(comment.map { "\($0)" } ?? "")",
            sourceLocation: sourceLocation
        )
        #expect(
            missing.isEmpty,
            "never ran: \(missing) \(comment.map { "\($0)" } ?? "")",
            sourceLocation: sourceLocation
        )
        if !missing.isEmpty || !duplicates.isEmpty, getenv("E2E_DEBUG") != nil {
            for run in runs().sorted(by: { ($0.job, $0.instant) < ($1.job, $1.instant) }) { print("RUN", run) }
            for node in ["a", "b", "c"] { print("LOG", node, log(node)) }
        }
        return lost
    }

    func cleanUp() async {
        await stopAll()
        _ = shellOutputBlocking("rm -rf '\(directory)'")
    }
}

@Suite("dcrond run: a cluster of real processes", .enabled(if: RedisTestServer.enabled))
struct ClusterEndToEndTests {
    static let jobs = ["j1", "j2", "j3", "j4", "j5", "j6"]

    @Test(
        "steady state: every (job, instant) runs exactly once across three nodes, spread over them; no missed-run alarm"
    )
    func steadyState() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: Self.jobs)
        for node in ["a", "b", "c"] { try cluster.start(node, settings: #", "missedRunGrace": "2s""#) }
        try await Task.sleep(for: .seconds(3))
        let from = wallSeconds()
        try await Task.sleep(for: .seconds(5))
        let to = wallSeconds() - 2
        cluster.expectExactlyOnce(from: from, to: to)
        #expect(Set(cluster.runs().map(\.node)).count >= 2, "the jobs are spread over the nodes")
        // dcrond status shows each job's owner, last run and last success from the run records.
        let status = try await runProcess([
            buildProductsDirectory() + "/dcrond", "status", "--config", cluster.directory + "/a.json", "--json",
        ])
        #expect(status.status == 0)
        let lastRuns =
            status.standardOutput.split(separator: "\"lastRun\":{", omittingEmptySubsequences: false).count - 1
        #expect(lastRuns == Self.jobs.count, "every job has a last run: \(status.standardOutput)")
        #expect(status.standardOutput.contains("\"outcome\":\"succeeded\""))
        for node in ["a", "b", "c"] {
            #expect(
                !cluster.log(node).contains("missed:"),
                "a missed-run alarm in the steady state on \(node): \(cluster.log(node))"
            )
        }
        for node in ["a", "b", "c"] { cluster.signal(node, SIGTERM) }
        for node in ["a", "b", "c"] { #expect(try await cluster.wait(node) == 0, "exit status after SIGTERM") }
        await cluster.cleanUp()
    }

    @Test("a node killed with SIGKILL: its jobs move within seconds and no instant is lost or run twice")
    func sigkillFailover() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: Self.jobs)
        for node in ["a", "b", "c"] { try cluster.start(node) }
        try await Task.sleep(for: .seconds(4))
        let from = wallSeconds() - 1
        // Kill the node that runs j1, half-way between two instants (away from its claims).
        let victim = try #require(cluster.runs().last { $0.job == "j1" }?.node)
        await sleepUntilRealtime((realtimeNanoseconds() / 1_000_000_000 + 1) * 1_000_000_000 + 500_000_000)
        let killedAt = realtimeNanoseconds() / 1_000_000
        cluster.signal(victim, SIGKILL)
        _ = try await cluster.wait(victim)
        try await Task.sleep(for: .seconds(8))
        let to = wallSeconds() - 2
        // At most once: an instant the victim had claimed but not yet started when it died is lost,
        // never run twice. Only the victim's jobs at the kill can be in that state.
        let killSecond = killedAt / 1000
        let victimJobs = Set(cluster.runs().filter { $0.node == victim }.map(\.job))
        let inFlight = Set(victimJobs.flatMap { job in (killSecond - 1...killSecond).map { "\(job)@\($0)" } })
        let lost = cluster.expectExactlyOnce(from: from, to: to, "after SIGKILL of \(victim)", mayBeLost: inFlight)
        print("instants lost at the SIGKILL of \(victim): \(lost.count) \(lost)")
        let takeover = cluster.runs().filter {
            victimJobs.contains($0.job) && $0.node != victim && $0.startedMs > killedAt
        }
        .map(\.startedMs).min()
        let failover = Double((try #require(takeover)) - killedAt) / 1000
        print("failover after SIGKILL of \(victim): its jobs ran elsewhere after \(failover) s")
        #expect(failover <= 6, "jobs of the killed node ran elsewhere after \(failover) s")
        await cluster.cleanUp()
    }

    @Test("a node leaves with SIGTERM and another joins: exactly once throughout")
    func leaveAndJoin() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: Self.jobs)
        for node in ["a", "b"] { try cluster.start(node) }
        try await Task.sleep(for: .seconds(3))
        let from = wallSeconds()
        try cluster.start("c")
        try await Task.sleep(for: .seconds(3))
        cluster.signal("a", SIGTERM)
        #expect(try await cluster.wait("a") == 0)
        #expect(cluster.log("a").contains("left the pool"))
        try await Task.sleep(for: .seconds(3))
        let to = wallSeconds() - 2
        cluster.expectExactlyOnce(from: from, to: to, "through a join and a leave")
        #expect(cluster.runs().contains { $0.node == "c" && $0.instant > from }, "the new node took a share")
        await cluster.cleanUp()
    }

    @Test("a node stopped with SIGSTOP past the timeout and continued: nothing runs twice, nothing is lost")
    func sigstop() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: Self.jobs)
        for node in ["a", "b", "c"] { try cluster.start(node) }
        try await Task.sleep(for: .seconds(4))
        let from = wallSeconds() - 1
        cluster.signal("b", SIGSTOP)
        try await Task.sleep(for: .seconds(5))
        cluster.signal("b", SIGCONT)
        try await Task.sleep(for: .seconds(5))
        let to = wallSeconds() - 2
        cluster.expectExactlyOnce(from: from, to: to, "around SIGSTOP of b")
        await cluster.cleanUp()
    }

    @Test("redis-server restarted with empty data: instants in the outage may run late, never twice")
    func redisRestart() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: Self.jobs)
        for node in ["a", "b", "c"] { try cluster.start(node) }
        try await Task.sleep(for: .seconds(4))
        let from = wallSeconds() - 1
        try await server.restart()
        try await Task.sleep(for: .seconds(6))
        let to = wallSeconds() - 2
        var count: [String: Int] = [:]
        for run in cluster.runs() { count["\(run.job)@\(run.instant)", default: 0] += 1 }
        #expect(count.filter { $0.value > 1 }.isEmpty, "ran twice: \(count.filter { $0.value > 1 }.keys.sorted())")
        // After the restart the nodes run again.
        #expect(cluster.runs().contains { $0.instant >= to - 1 })
        _ = from
        await cluster.cleanUp()
    }

    @Test("standalone: without redis one node runs every job exactly once, and SIGINT stops it cleanly")
    func standalone() async throws {
        let server = try await RedisTestServer.start()  // only for the harness's folder; not used by the node
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: ["s1", "s2", "s3"])
        try cluster.start("solo", standalone: true)
        try await Task.sleep(for: .seconds(2))
        let from = wallSeconds()
        try await Task.sleep(for: .seconds(4))
        let to = wallSeconds() - 1
        cluster.expectExactlyOnce(from: from, to: to, "standalone")
        #expect(cluster.log("solo").contains("standalone (no redis: this node runs every job)"))
        cluster.signal("solo", SIGINT)
        #expect(try await cluster.wait("solo") == 0)
        await cluster.cleanUp()
    }

    @Test("dcrond drain moves a node's jobs away while it stays in the pool; dcrond resume brings them back")
    func drainAndResume() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: Self.jobs)
        for node in ["a", "b"] { try cluster.start(node) }
        try await Task.sleep(for: .seconds(3))
        let from = wallSeconds()
        let dcrond = buildProductsDirectory() + "/dcrond"
        let drain = try await runProcess([dcrond, "drain", "b", "--config", cluster.directory + "/a.json"])
        #expect(drain.status == 0 && drain.outputLines == ["node b drains at its next heartbeat"])
        try await Task.sleep(for: .seconds(2))
        let drained = wallSeconds()
        try await Task.sleep(for: .seconds(3))
        #expect(
            cluster.runs().filter { $0.instant > drained }.allSatisfy { $0.node == "a" },
            "b owns nothing while drained"
        )
        let status = try await runProcess([dcrond, "status", "--config", cluster.directory + "/a.json", "--json"])
        #expect(status.standardOutput.contains(#"{"id":"b","state":"draining""#))
        let resume = try await runProcess([dcrond, "resume", "b", "--config", cluster.directory + "/a.json"])
        #expect(resume.status == 0)
        try await Task.sleep(for: .seconds(3))
        let to = wallSeconds() - 2
        #expect(
            cluster.runs().contains { $0.node == "b" && $0.instant > drained + 4 },
            "b runs jobs again after resume"
        )
        cluster.expectExactlyOnce(from: from, to: to, "through a drain and a resume")
        await cluster.cleanUp()
    }

    @Test("overlap forbid and replace hold across nodes, also when the owner changes mid-run")
    func clusterWideOverlap() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: [])
        let line = cluster.line
        try cluster.writeJobs(raw: [
            #"{"name": "slow", "schedule": "*/2 * * * * *", "overlap": "forbid", "command": "\#(line("start")); sleep 3; \#(line("end"))"}"#,
            #"{"name": "long", "schedule": "*/3 * * * * *", "overlap": "replace", "killGrace": "2s", "command": "trap '\#(line("end")); exit 0' TERM; \#(line("start")); sleep 60 & wait"}"#,
        ])
        try cluster.start("a")
        try await Task.sleep(for: .seconds(4))
        for node in ["b", "c"] { try cluster.start(node) }  // the jobs may move while a run goes on
        try await Task.sleep(for: .seconds(9))
        await cluster.stopAll()
        for job in ["slow", "long"] {
            let runs = cluster.intervals().filter { $0.job == job }
            #expect(runs.count >= 2, "\(job) ran \(runs.count) times")
            for (previous, current) in zip(runs, runs.dropFirst()) {
                let previousEnd = try #require(
                    previous.end,
                    "\(job)@\(previous.instant) on \(previous.node) never ended before \(job)@\(current.instant) started"
                )
                #expect(
                    current.start >= previousEnd,
                    "\(job)@\(current.instant) on \(current.node) started while \(job)@\(previous.instant) on \(previous.node) ran"
                )
            }
        }
        let slowRuns = cluster.intervals().filter { $0.job == "slow" }
        #expect(slowRuns.count < 7, "forbid skipped instants while a run was going (\(slowRuns.count) runs)")
        await cluster.cleanUp()
    }

    @Test("reload: a changed schedule takes effect; an invalid table is rejected and the old one keeps running")
    func reload() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: ["r1", "r2"], schedule: "*/2 * * * * *")
        for node in ["a", "b"] { try cluster.start(node) }
        try await Task.sleep(for: .seconds(4))
        #expect(cluster.runs().allSatisfy { $0.instant % 2 == 0 })
        try cluster.writeJobs(schedule: "* * * * * *", broken: true)
        for node in ["a", "b"] { cluster.signal(node, SIGHUP) }
        try await Task.sleep(for: .seconds(1))
        #expect(
            cluster.log("a").contains(
                "reload rejected: \(cluster.directory)/jobs.json: job \"bad\": schedule: required"
            )
        )
        #expect(cluster.log("a").contains("the current table (fingerprint"))
        let afterInvalid = wallSeconds()
        try await Task.sleep(for: .seconds(3))
        #expect(
            cluster.runs().filter { $0.instant > afterInvalid }.allSatisfy { $0.instant % 2 == 0 },
            "the old table kept running"
        )
        #expect(cluster.runs().contains { $0.instant > afterInvalid })
        // A valid table that anyone could have written is rejected too, and the old one keeps running.
        try cluster.writeJobs(schedule: "* * * * * *")
        chmod(cluster.directory + "/jobs.json", 0o666)
        for node in ["a", "b"] { cluster.signal(node, SIGHUP) }
        try await Task.sleep(for: .seconds(1))
        #expect(
            cluster.log("a").contains(
                "reload rejected: \(cluster.directory)/jobs.json: owned by \(Accounts.userName(geteuid())) (uid \(geteuid())) with mode 0666: anyone can change it"
            )
        )
        let afterWritable = wallSeconds()
        try await Task.sleep(for: .seconds(3))
        #expect(
            cluster.runs().filter { $0.instant > afterWritable }.allSatisfy { $0.instant % 2 == 0 },
            "the old table kept running"
        )
        chmod(cluster.directory + "/jobs.json", 0o644)
        for node in ["a", "b"] { cluster.signal(node, SIGHUP) }
        try await Task.sleep(for: .seconds(2))
        let from = wallSeconds()
        try await Task.sleep(for: .seconds(4))
        let to = wallSeconds() - 2
        cluster.expectExactlyOnce(from: from, to: to, "after a reload to every second")
        await cluster.cleanUp()
    }
}
