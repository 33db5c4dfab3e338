import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// `trigger`, `pause`, `unpause`, `kill`, `history`, `status` and `drain` against real nodes and a
/// real redis-server; the missed-run alarm with every node drained.
@Suite("dcrond operator commands: real nodes, real Redis", .enabled(if: RedisTestServer.enabled))
struct OperatorCommandTests {
    /// A job that appends `<trigger> <run ID> <instant> <node>` to the cluster's output.
    static func recording(
        _ name: String,
        in cluster: DcrondCluster,
        schedule: String,
        command: String = "",
        extra: String = ""
    ) -> String {
        let line =
            #"echo \"$DCRON_TRIGGER $DCRON_RUN_ID $DCRON_SCHEDULED_AT $DCRON_NODE\" >> \#(cluster.directory)/runs-\#(name).txt"#
        return #"{"name": "\#(name)", "schedule": "\#(schedule)", "command": "\#(line)\#(command)"\#(extra)}"#
    }

    struct Line: Hashable {
        let trigger: String
        let runID: String
        let instant: Int64
        let node: String
    }

    static func lines(_ cluster: DcrondCluster, _ job: String) -> [Line] {
        guard let bytes = try? FileSystem.readFile(cluster.directory + "/runs-\(job).txt") else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 4, let instant = Int64(parts[2]) else { return nil }
            return Line(trigger: String(parts[0]), runID: String(parts[1]), instant: instant, node: String(parts[3]))
        }
    }

    static func command(_ cluster: DcrondCluster, _ arguments: String...) async throws -> ProcessResult {
        let arguments = Array(arguments)
        return try await runProcess(
            [buildProductsDirectory() + "/dcrond", arguments[0], "--config", cluster.directory + "/a.json"]
                + arguments.dropFirst()
        )
    }

    /// `explain --json` of `job` at `instant` (default: the latest due): the rule, or the verdict.
    static func explain(
        _ cluster: DcrondCluster,
        _ job: String,
        at instant: Int64? = nil
    ) async throws -> (rule: String?, verdict: String?, summary: String) {
        var arguments = ["explain", "--config", cluster.directory + "/a.json", job, "--json"]
        if let instant { arguments += ["--at", String(instant)] }
        let result = try await runProcess([buildProductsDirectory() + "/dcrond"] + arguments)
        let explanation = (try? JSONParser.parse(Array(result.standardOutput.utf8)))?["explanation"]
        return (
            explanation?["rule"]?.stringValue, explanation?["verdict"]?.stringValue,
            explanation?["summary"]?.stringValue ?? "\(result.standardOutput) \(result.standardError)"
        )
    }

    static func start(_ cluster: DcrondCluster, _ nodes: [String], grace: String = "30s") throws {
        for node in nodes {
            try cluster.start(node, settings: #", "missedRunGrace": "\#(grace)""#)
        }
    }

    @Test("trigger: two racing triggers and the scheduled instants give one manual run and one run per instant")
    func triggerRace() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: [])
        try cluster.writeJobs(raw: [Self.recording("tick", in: cluster, schedule: "* * * * * *", command: "; sleep 1")])
        try Self.start(cluster, ["a", "b"])
        try await Task.sleep(for: .seconds(3))
        // Two operators at once, right on a scheduled instant.
        await sleepUntilRealtime((realtimeNanoseconds() / 1_000_000_000 + 1) * 1_000_000_000)
        async let first = Self.command(cluster, "trigger", "tick", "--wait", "--json")
        async let second = Self.command(cluster, "trigger", "tick", "--wait", "--json")
        let results = try await [first, second]
        for result in results {
            #expect(result.status == 0, "trigger failed: \(result.standardOutput) \(result.standardError)")
        }
        try await Task.sleep(for: .seconds(2))
        let lines = Self.lines(cluster, "tick")
        let manual = lines.filter { $0.trigger == "manual" }
        #expect(manual.count == 1, "racing triggers ran \(manual.count) manual runs: \(manual)")
        let runIDs = Set(
            results.compactMap { result in
                (try? JSONParser.parse(Array(result.standardOutput.utf8)))?["runId"]?.stringValue
            }
        )
        #expect(runIDs == Set(manual.map(\.runID)), "both commands report the one run: \(runIDs)")
        let scheduled = lines.filter { $0.trigger != "manual" }
        #expect(Set(scheduled.map(\.instant)).count == scheduled.count, "a scheduled instant ran twice")
        #expect(!scheduled.isEmpty)
        // The history has the manual run, recorded as manual, from whichever node ran it.
        let history = try await Self.command(cluster, "history", "tick", "--json", "--limit", "100")
        #expect(
            history.standardOutput.contains(#""trigger":"manual""#)
                && history.standardOutput.contains(manual.first?.runID ?? "?")
        )
        await cluster.cleanUp()
    }

    @Test(
        "trigger: refused under forbid while a run is going (the reason printed); --force runs; no active node fails clearly"
    )
    func triggerForbid() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: [])
        try cluster.writeJobs(raw: [
            Self.recording(
                "slow",
                in: cluster,
                schedule: "* * * * * *",
                command: "; sleep 4",
                extra: #", "overlap": "forbid""#
            )
        ])
        try Self.start(cluster, ["a", "b"])
        // A scheduled run is going from its first start on (each lasts 4 s, one is due every second).
        #expect(try await waitFor(seconds: 20) { Self.lines(cluster, "slow").contains { $0.trigger == "schedule" } })
        let refused = try await Self.command(cluster, "trigger", "slow")
        #expect(refused.status == 1)
        #expect(
            refused.standardError.contains("refused") && refused.standardError.contains("forbid"),
            "\(refused.standardError)"
        )
        let forced = try await Self.command(cluster, "trigger", "slow", "--force")
        #expect(forced.status == 0, "\(forced.standardOutput) \(forced.standardError)")
        try await Task.sleep(for: .milliseconds(500))
        #expect(Self.lines(cluster, "slow").contains { $0.trigger == "manual" })
        // The scheduled instants skipped behind the long runs: explain names the rule.
        var skippedInstant: Int64?
        var history = ""
        _ = try await waitFor(seconds: 15) {
            history =
                shellOutputBlocking(
                    "'\(buildProductsDirectory())/dcrond' history slow --json --limit 100 --config '\(cluster.directory)/a.json'"
                ) ?? ""
            skippedInstant =
                (try? JSONParser.parse(Array(history.utf8)))?.arrayValue?
                .first { $0["rule"]?.stringValue == "overlap" && $0["trigger"]?.stringValue != "manual" }?[
                    "scheduledAt"
                ]?.int64Value
            return skippedInstant != nil
        }
        let overlapped = try #require(skippedInstant, "no overlap skip in \(history)")
        let explained = try await Self.explain(cluster, "slow", at: overlapped)
        #expect(explained.rule == "overlap", "\(explained.summary)")
        let ran = try #require(Self.lines(cluster, "slow").first { $0.trigger == "schedule" })
        let verdict = try await Self.explain(cluster, "slow", at: ran.instant).verdict
        #expect(
            verdict == "ran" || verdict == "claimed",
            "the first run is recorded, or still running: \(verdict ?? "nil")"
        )
        for node in ["a", "b"] { _ = try await Self.command(cluster, "drain", node) }
        try await Task.sleep(for: .seconds(2))
        let none = try await Self.command(cluster, "trigger", "slow", "--force")
        #expect(none.status == 1 && none.standardError.contains("no active node"), "\(none.standardError)")
        await cluster.cleanUp()
    }

    @Test("pause skips every instant (recorded as paused) and unpause replays none of them")
    func pauseAndUnpause() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: [])
        try cluster.writeJobs(raw: [
            Self.recording("tick", in: cluster, schedule: "* * * * * *"),
            #"{"name": "off", "schedule": "* * * * * *", "command": "true", "enabled": false}"#,
        ])
        try Self.start(cluster, ["a", "b"])
        try await Task.sleep(for: .seconds(3))
        #expect(try await Self.explain(cluster, "off").rule == "disabled")
        let paused = try await Self.command(cluster, "pause", "tick")
        #expect(paused.status == 0 && paused.standardOutput.contains("paused tick"))
        let pausedAt = wallSeconds()
        let status = try await Self.command(cluster, "status")
        #expect(status.standardOutput.contains("paused by"), "\(status.standardOutput)")
        try await Task.sleep(for: .seconds(4))
        #expect(try await Self.explain(cluster, "tick", at: pausedAt + 2).rule == "paused")
        #expect(
            try await Self.explain(cluster, "tick", at: wallSeconds() + 30).rule == "paused",
            "a future instant while paused"
        )
        // A restart of both nodes while paused changes nothing: the pause is in Redis.
        for node in ["a", "b"] { cluster.signal(node, SIGTERM) }
        for node in ["a", "b"] { _ = try await cluster.wait(node) }
        try Self.start(cluster, ["a", "b"])
        try await Task.sleep(for: .seconds(3))
        let unpausedAt = wallSeconds()
        #expect(try await Self.command(cluster, "unpause", "tick").status == 0)
        try await Task.sleep(for: .seconds(3))
        let during = Self.lines(cluster, "tick").filter { $0.instant > pausedAt && $0.instant < unpausedAt }
        #expect(during.isEmpty, "instants of the pause ran: \(during)")
        #expect(Self.lines(cluster, "tick").contains { $0.instant > unpausedAt }, "runs again after unpause")
        let history = try await Self.command(cluster, "history", "tick", "--json", "--limit", "100")
        #expect(
            history.standardOutput.contains("paused by"),
            "skips recorded with the reason: \(history.standardOutput)"
        )
        await cluster.cleanUp()
    }

    @Test("kill ends a run on another node, recorded as killed by an operator, with its output tail readable from here")
    func killElsewhere() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: [])
        try cluster.writeJobs(raw: [
            #"{"name": "long", "schedule": "0 0 1 1 *", "command": "echo started on $DCRON_NODE; echo warn >&2; sleep 60", "killGrace": "2s"}"#
        ])
        try Self.start(cluster, ["a", "b", "c"])
        try await Task.sleep(for: .seconds(3))
        let trigger = try await Self.command(cluster, "trigger", "long", "--json")
        #expect(trigger.status == 0, "\(trigger.standardError)")
        let node = try #require((try? JSONParser.parse(Array(trigger.standardOutput.utf8)))?["node"]?.stringValue)
        try await Task.sleep(for: .milliseconds(500))
        let killed = try await Self.command(cluster, "kill", "long")
        #expect(
            killed.status == 0 && killed.standardOutput.contains("on node \(node)"),
            "\(killed.standardOutput) \(killed.standardError)"
        )
        var record: RunRecord?
        _ = try await waitFor(seconds: 10) {
            let history =
                shellOutputBlocking(
                    "'\(buildProductsDirectory())/dcrond' history long --json --config '\(cluster.directory)/a.json'"
                ) ?? ""
            record = (try? JSONParser.parse(Array(history.utf8)))?.arrayValue?.first.flatMap(RunRecord.init(json:))
            return record != nil
        }
        let run = try #require(record)
        #expect(run.killedBy == "operator" && run.outcome == .failed && run.node == node && run.trigger == .manual)
        #expect(run.attempts.last?.termination == .signaled(SIGTERM))
        #expect(run.output.map(\.text) == ["started on \(node)", "warn"] && run.output.last?.stream == .stderr)
        let nothing = try await Self.command(cluster, "kill", "long")
        #expect(nothing.status == 1 && nothing.standardError.contains("no run of long"))
        await cluster.cleanUp()
    }

    @Test("the missed-run alarm: every node drained, each instant is reported once by one node, and recorded")
    func missedAlarm() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: [])
        try cluster.writeJobs(
            raw: (1...3).map { #"{"name": "m\#($0)", "schedule": "*/2 * * * * *", "command": "true"}"# }
        )
        try Self.start(cluster, ["a", "b", "c"], grace: "2s")
        try await Task.sleep(for: .seconds(3))
        for node in ["a", "b", "c"] { _ = try await Self.command(cluster, "drain", node) }
        try await Task.sleep(for: .seconds(2))
        let from = wallSeconds()
        try await Task.sleep(for: .seconds(8))
        let to = wallSeconds() - 3  // reported 2 s after its instant
        var reports: [String: Int] = [:]
        for node in ["a", "b", "c"] {
            reports.merge(
                instantsReported(in: cluster.log(node), containing: "missed: not claimed"),
                uniquingKeysWith: +
            )
        }
        #expect(reports.values.allSatisfy { $0 == 1 }, "reported more than once: \(reports.filter { $0.value > 1 })")
        for job in ["m1", "m2", "m3"] {
            for instant in stride(from: (from + 1) / 2 * 2, through: to, by: 2) {
                #expect(
                    reports["\(job)@\(instant)"] == 1,
                    "\(job)@\(instant) not reported: \(reports.keys.sorted())"
                )
            }
        }
        let history = try await Self.command(cluster, "history", "m1", "--json", "--limit", "100")
        #expect(
            history.standardOutput.contains(#""outcome":"missed""#)
                && history.standardOutput.contains("no node is active")
        )
        let explained = try await Self.explain(cluster, "m1", at: (from + 1) / 2 * 2)
        #expect(explained.verdict == "missed" && explained.rule == "noActiveNode", "\(explained.summary)")
        // status says why nothing runs, with its own exit status.
        #expect(try await Self.command(cluster, "status").status == 2)
        await cluster.cleanUp()
    }

    @Test("a node whose runs cannot start says so in status (and fails --strict), instead of looking healthy")
    func startFailuresInStatus() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: [])
        try cluster.writeJobs(raw: [
            #"{"name": "nowhere", "schedule": "* * * * * *", "command": "true", "workingDirectory": "/nonexistent-dcrond-test"}"#
        ])
        try Self.start(cluster, ["a"])
        #expect(try await waitFor(seconds: 15) { cluster.log("a").contains("run failed to start") })
        try await Task.sleep(for: .seconds(2))  // the next heartbeat publishes it
        let status = try await Self.command(cluster, "status")
        #expect(
            status.standardOutput.contains("warning: node a could not start runs:")
                && status.standardOutput.contains("job nowhere"),
            "\(status.standardOutput)"
        )
        #expect(status.status == 0)
        let strict = try await Self.command(cluster, "status", "--strict")
        #expect(strict.status == 3 && strict.standardError.contains("could not start runs"))
        let json = try await Self.command(cluster, "status", "--json")
        #expect(json.standardOutput.contains(#""startFailures":""#))
        await cluster.cleanUp()
    }

    @Test(
        "status exits 1 when Redis is down or wants a password (saying so), 0 when healthy; drain refuses unknown nodes"
    )
    func statusAndDrain() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: ["j"])
        try Self.start(cluster, ["a"])
        try await Task.sleep(for: .seconds(2))
        #expect(try await Self.command(cluster, "status").status == 0)
        // --strict: a node running another table fails the check (exit 3), naming it.
        try writeText(
            cluster.directory + "/other-jobs.json",
            #"{"jobs": [{"name": "j", "schedule": "@daily", "command": "true"}]}"#
        )
        try writeText(
            cluster.directory + "/other.json",
            #"{"cluster": "\#(cluster.cluster)", "node": "z", "timezone": "UTC", "redis": "unix://\#(server.socketPath)", "jobs": "other-jobs.json"}"#
        )
        let strict = try await runProcess([
            buildProductsDirectory() + "/dcrond", "status", "--strict", "--config", cluster.directory + "/other.json",
        ])
        #expect(
            strict.status == 3 && strict.standardError.contains("node a runs a different job table"),
            "\(strict.standardError)"
        )
        #expect(
            try await runProcess([
                buildProductsDirectory() + "/dcrond", "status", "--config", cluster.directory + "/other.json",
            ]).status == 0
        )
        let unknown = try await Self.command(cluster, "drain", "nobody-here")
        #expect(unknown.status == 1 && unknown.standardError.contains("not in the pool"))
        let redis = RedisClient(endpoint: server.unixEndpoint)
        let keys = try await redis.send(RedisCommand("KEYS", "*drain*")).array ?? []
        #expect(keys.isEmpty, "a refused drain left a key: \(keys)")
        let forced = try await Self.command(cluster, "drain", "nobody-here", "--force", "--json")
        #expect(forced.status == 0 && forced.standardOutput.contains(#""draining":true"#), "\(forced.standardOutput)")
        #expect(try await Self.command(cluster, "resume", "nobody-here").status == 0)
        #expect(
            (try await redis.send(RedisCommand("KEYS", "*drain*")).array ?? []).isEmpty,
            "resume cleared the forced key"
        )
        cluster.signal("a", SIGKILL)
        _ = try await cluster.wait("a")
        _ = try await redis.send(RedisCommand("CONFIG", "SET", "requirepass", "s3cret"))
        let refused = try await Self.command(cluster, "status")
        #expect(refused.status == 1 && refused.standardError.contains("redisPasswordFile"), "\(refused.standardError)")
        #expect(!refused.standardError.contains("s3cret"))
        // A wrong password is refused at AUTH, not by a command: named the same way, and not shown.
        try writeText(cluster.directory + "/wrong-password", "not-the-s3cret\n")
        try writeText(
            cluster.directory + "/wrong.json",
            #"{"cluster": "\#(cluster.cluster)", "node": "z", "timezone": "UTC", "redis": "unix://\#(server.socketPath)", "redisPasswordFile": "wrong-password", "jobs": "other-jobs.json"}"#
        )
        let wrong = try await runProcess([
            buildProductsDirectory() + "/dcrond", "status", "--config", cluster.directory + "/wrong.json",
        ])
        #expect(wrong.status == 1 && wrong.standardError.contains("redisPasswordFile"), "\(wrong.standardError)")
        #expect(!wrong.standardError.contains("not-the-s3cret"))
        server.kill()
        let down = try await Self.command(cluster, "status")
        #expect(down.status == 1 && down.standardError.contains("cannot read the pool"))
        await cluster.cleanUp()
    }
}
