import Testing

@testable import DcrondCore

@Suite("The plan a reload swaps in")
struct ReloadPlanTests {
    private func job(
        _ name: String,
        _ schedule: String,
        enabled: Bool = true,
        command: String = "true"
    ) -> JobDefinition {
        var job = JobDefinition(name: name, schedule: try! Schedule(parsing: schedule), command: command)
        job.enabled = enabled
        return job
    }

    private func table(_ jobs: [JobDefinition]) -> JobTable { JobTable(path: "jobs.json", jobs: jobs) }

    @Test(
        "unchanged jobs keep their instant; added, re-enabled and rescheduled ones start from now; a changed command is planned again without being fresh"
    )
    func plan() {
        // 1_800_000_000 is 2027-01-15T08:00:00Z.
        let now: Int64 = 1_800_000_000
        let old = table([
            job("same", "0 * * * *"), job("moved", "0 * * * *"), job("off", "0 * * * *", enabled: false),
            job("gone", "0 * * * *"), job("edited", "* * * * *"),
        ])
        let new = table([
            job("same", "0 * * * *"), job("moved", "30 * * * *"), job("off", "0 * * * *"),
            job("edited", "* * * * *", command: "echo"), job("new", "*/5 * * * *"),
            job("disabled-new", "* * * * *", enabled: false),
        ])
        // The running plan: `same` still has an instant that is due (the loop has not taken it yet).
        let kept: [String: Int64] = ["same": now - 60, "moved": now + 3600, "gone": now + 3600, "edited": now + 60]
        let plan = ReloadPlan(old: old, new: new, kept: kept, now: now)
        #expect(
            plan.next.byJob == [
                "same": now - 60, "moved": now + 1800, "off": now + 3600, "edited": now + 60, "new": now + 300,
            ]
        )
        #expect(Set(plan.fresh) == ["moved", "off", "new"])
        #expect(Set(plan.added) == ["off", "new"])
        #expect(plan.removed == ["gone"])
    }

    @Test("the same table: every instant kept, nothing fresh, no ownership change")
    func identity() {
        let jobs = table((0..<100).map { job("j\($0)", "\($0 % 60) * * * *") })
        let kept = Dictionary(uniqueKeysWithValues: (0..<100).map { ("j\($0)", Int64(1_000 + $0)) })
        let plan = ReloadPlan(old: jobs, new: jobs, kept: kept, now: 2_000)
        #expect(plan.next.byJob == kept)
        #expect(plan.fresh.isEmpty && plan.added.isEmpty && plan.removed.isEmpty)
    }
}
