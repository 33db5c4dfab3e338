import Testing

@testable import DcrondCore

@Suite("dcrond explain: the rule for each instant")
struct JobExplanationTests {
    // 2026-12-01T12:00:00Z, a job every minute.
    let now: Int64 = 1_796_126_400
    let job = JobDefinition(name: "report", schedule: try! Schedule(parsing: "* * * * *"), command: "true")

    func node(_ id: String, _ state: NodeState = .active, heartbeatAge: Int64 = 100) -> ClusterStatus.Node {
        ClusterStatus.Node(
            id: id,
            state: state,
            heartbeatAgeMilliseconds: heartbeatAge,
            clockOffsetMilliseconds: 0,
            version: nil,
            fingerprint: nil,
            host: nil,
            pid: nil,
            startedAt: nil,
            timeZone: nil
        )
    }

    func facts(_ change: (inout JobExplanation.Facts) -> Void = { _ in }) -> JobExplanation.Facts {
        var facts = JobExplanation.Facts(job: job, now: now)
        facts.nodes = [node("a"), node("b")]
        change(&facts)
        return facts
    }

    func skipped(_ instant: Int64, _ rule: SkipRule, _ reason: String, through: Int64? = nil) -> RunRecord {
        var record = RunRecord.instants(
            through.map { [instant, $0] } ?? [instant],
            of: "report",
            node: "a",
            outcome: .skipped(reason),
            rule: rule
        )
        record.through = through
        return record
    }

    @Test("a run's record: where it ran, the result and its lateness; a claim without a record says so")
    func ranAndClaimed() {
        let attempt = AttemptRecord(
            attempt: 1,
            pid: 7,
            startedAt: (now - 60) * 1000 + 4,
            endedAt: (now - 60) * 1000 + 9,
            termination: .exited(0),
            timedOut: false,
            terminated: false,
            error: nil
        )
        let ran = RunRecord(
            job: "report",
            runID: "r1",
            scheduledAt: now - 60,
            node: "b",
            attempts: [attempt],
            outcome: .succeeded
        )
        let explained = JobExplanation(now - 60, facts { $0.records = [ran] })
        #expect(explained.verdict == .ran(ran))
        #expect(
            explained.summary == "ran on node b (run r1, schedule): succeeded, exit 0, started 4 ms after its instant"
        )
        let claimed = JobExplanation(
            now - 60,
            facts {
                $0.lastClaimed = now - 60
                $0.claimedBy = "a \(now - 60) a 0123"
            }
        )
        #expect(claimed.verdict == .claimed(node: "a"))
        // A manual run asked for in the same second as an instant is not that instant's record.
        let manual = RunRecord(
            job: "report",
            runID: "m",
            scheduledAt: now - 60,
            node: "a",
            attempts: [attempt],
            outcome: .succeeded,
            trigger: .manual
        )
        #expect(JobExplanation(now - 60, facts { $0.records = [manual, ran] }).verdict == .ran(ran))
    }

    @Test(
        "each skip rule from the record that a node wrote: overlap, catch-up (a range), deadline, concurrency, claim failed"
    )
    func recordedSkips() {
        for rule: SkipRule in [.overlap, .startingDeadline, .concurrency, .claimFailed, .unknownHistory, .refused] {
            let explained = JobExplanation(now - 120, facts { $0.records = [skipped(now - 120, rule, "because")] })
            #expect(explained.rule == rule)
            #expect(explained.summary == "did not run [\(rule.rawValue)]: skipped on node a: because")
        }
        let range = facts { $0.records = [skipped(now - 600, .catchUp, "catchUp is latest", through: now - 120)] }
        #expect(JobExplanation(now - 300, range).rule == .catchUp)
        #expect(JobExplanation(now - 60, range).rule != .catchUp)
    }

    @Test("disabled, paused (past and future), and a future instant's owner with why")
    func fileAndPause() {
        var disabled = job
        disabled.enabled = false
        #expect(JobExplanation(now - 60, facts { $0.job = disabled }).rule == .disabled)
        let paused = facts { $0.paused = ((now - 3600) * 1000, "alice@ops") }
        #expect(JobExplanation(now - 60, paused).rule == .paused)
        #expect(JobExplanation(now + 60, paused).rule == .paused)
        let upcoming = JobExplanation(now + 60, facts())
        let owner = Placement(nodes: ["a", "b"]).owner(of: "report")!
        #expect(upcoming.verdict == .upcoming(owner: owner))
        #expect(
            upcoming.ownerReason
                == "node \(owner) has the job's highest rendezvous score among the 2 active nodes (a, b)"
        )
    }

    @Test(
        "never claimed: no node, every node draining, the owner fenced, or the owner silent; within the grace: pending"
    )
    func neverClaimed() {
        #expect(JobExplanation(now - 120, facts { $0.nodes = [] }).rule == .noActiveNode)
        #expect(
            JobExplanation(now - 120, facts { $0.nodes = [node("a", .draining), node("b", .draining)] }).rule
                == .draining
        )
        let owner = Placement(nodes: ["a", "b"]).owner(of: "report")!
        let stale = facts {
            $0.nodes = [
                node("a", heartbeatAge: owner == "a" ? 9000 : 100), node("b", heartbeatAge: owner == "b" ? 9000 : 100),
            ]
        }
        #expect(JobExplanation(now - 120, stale).rule == .fenced)
        #expect(JobExplanation(now - 120, facts()).rule == .ownerDidNotClaim)
        guard case .pending = JobExplanation(now - 60, facts { $0.missedRunGrace = .seconds(90) }).verdict else {
            Issue.record("an instant 60 s old is still within a 90 s grace")
            return
        }
        let missed = RunRecord.instants(
            [now - 120],
            of: "report",
            node: "b",
            outcome: .missed("no node is active"),
            rule: .noActiveNode
        )
        #expect(
            JobExplanation(now - 120, facts { $0.records = [missed] }).verdict
                == .missed(.noActiveNode, "reported missed by node b: no node is active")
        )
    }

    @Test(
        "DST: a wall-clock time that does not exist is run at the transition or left out, as the job's dst settings say"
    )
    func daylightSaving() throws {
        // Europe/Berlin, 2026-03-29: 02:00 → 03:00. 02:30 does not exist.
        let zone = try TimeZoneRules.named("Europe/Berlin")
        let transition: Int64 = 1_774_746_000  // 01:00 UTC
        var run = JobDefinition(
            name: "nightly",
            schedule: try Schedule(parsing: "30 2 * * *"),
            command: "true",
            timeZone: zone
        )
        run.dstPolicy = DSTPolicy(gap: .run, overlap: .once)
        let entries = JobExplanation.dstAnnotated(run, after: transition - 86_400, count: 2)
        #expect(
            entries.contains {
                $0.instant == transition && $0.runs && $0.note?.contains("run at the transition") == true
            }
        )
        var skip = run
        skip.dstPolicy = DSTPolicy(gap: .skip, overlap: .once)
        let skipped = JobExplanation.dstAnnotated(skip, after: transition - 86_400, count: 2)
        #expect(skipped.contains { $0.instant == transition && !$0.runs && $0.note?.contains("dstGap: skip") == true })
        var factsSkip = JobExplanation.Facts(job: skip, now: transition + 86_400)
        factsSkip.nodes = [node("a")]
        #expect(JobExplanation(transition, factsSkip).rule == .dst)
        #expect(JobExplanation.latestDue(run, now: transition + 60) == transition)
    }
}
