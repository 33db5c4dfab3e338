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
}
