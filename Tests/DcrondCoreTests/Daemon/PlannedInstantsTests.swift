import Testing

@testable import DcrondCore

@Suite("Planned instants: the scheduler's queue")
struct PlannedInstantsTests {
    @Test("the earliest and the due jobs come in instant order; replaced and removed plans are skipped")
    func order() {
        var plans = PlannedInstants()
        #expect(plans.earliest() == nil && plans.takeDue(upTo: .max).isEmpty)
        plans["c"] = 30
        plans["a"] = 10
        plans["b"] = 20
        #expect(plans.earliest() == 10)
        plans["a"] = 40  // replanned: its old entry is stale
        plans["b"] = nil  // removed
        #expect(plans.earliest() == 30)
        #expect(plans.takeDue(upTo: 35) == ["c"])
        #expect(plans["c"] == 30, "a due job keeps its plan until the caller replaces it")
        plans["c"] = 50
        #expect(plans.takeDue(upTo: 100) == ["a", "c"])
        #expect(plans.earliest() == nil, "taken entries are gone from the order")
    }

    @Test("many replans stay bounded and correct (stale entries are compacted)")
    func compaction() {
        var plans = PlannedInstants()
        for round in 0..<50 {
            for job in 0..<100 { plans["job-\(job)"] = Int64(round * 1000 + job) }
        }
        #expect(plans.byJob.count == 100 && plans.earliest() == 49_000)
        #expect(plans.takeDue(upTo: 49_049).count == 50)
        #expect(plans.earliest() == 49_050)
    }

    @Test(
        "the earliest plan of the jobs a predicate takes: among the first entries, else by a scan; stale entries never count"
    )
    func earliestWhere() {
        var plan = PlannedInstants()
        for index in 0..<1000 { plan["job-\(index)"] = 10_000 + Int64(index) }
        plan["job-0"] = 50_000  // its old entry (10,000) is stale now
        #expect(plan.earliest(where: { _ in true })! == ("job-1", 10_001))
        #expect(plan.earliest(where: { $0 == "job-0" })! == ("job-0", 50_000), "the stale entry is not taken")
        // Owned: only every 100th job. Found past the probes, by the scan.
        #expect(plan.earliest(probes: 8, where: { $0.hasSuffix("00") && $0 != "job-0" })! == ("job-100", 10_100))
        #expect(plan.earliest(where: { $0 == "none" }) == nil)
        #expect(PlannedInstants().earliest(where: { _ in true }) == nil)
        // The plan itself is unchanged by the look-up.
        #expect(plan.takeDue(upTo: 10_002) == ["job-1", "job-2"])
    }
}
