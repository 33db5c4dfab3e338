import Testing

@testable import DcrondCore

@Suite("catch-up selection: policy and starting deadline")
struct CatchUpSelectionTests {
    let hour = Duration.seconds(3600)

    @Test("none skips every missed instant, a single one included")
    func noneSkipsASingleMissedInstant() {
        let one = CatchUpSelection.select(missed: [100], policy: .none, startingDeadline: hour, now: 103, limit: 100)
        #expect(one == CatchUpSelection(run: [], byPolicy: [100]))
        let three = CatchUpSelection.select(
            missed: [100, 101, 102],
            policy: .none,
            startingDeadline: hour,
            now: 103,
            limit: 100
        )
        #expect(three.run.isEmpty && three.byPolicy == [100, 101, 102])
    }

    @Test("none still runs the instant due now")
    func noneRunsTheCurrentInstant() {
        let selection = CatchUpSelection.select(
            missed: [100, 101],
            current: 102,
            policy: .none,
            startingDeadline: hour,
            now: 102,
            limit: 100
        )
        #expect(selection == CatchUpSelection(run: [102], byPolicy: [100, 101]))
    }

    @Test("latest runs the newest missed instant, or the current one when there is one")
    func latest() {
        #expect(
            CatchUpSelection.select(
                missed: [100, 101, 102],
                policy: .latest,
                startingDeadline: hour,
                now: 105,
                limit: 100
            )
                == CatchUpSelection(run: [102], byPolicy: [100, 101])
        )
        #expect(
            CatchUpSelection.select(missed: [100], policy: .latest, startingDeadline: hour, now: 105, limit: 100)
                == CatchUpSelection(run: [100])
        )
        #expect(
            CatchUpSelection.select(
                missed: [100, 101],
                current: 105,
                policy: .latest,
                startingDeadline: hour,
                now: 105,
                limit: 100
            )
                == CatchUpSelection(run: [105], byPolicy: [100, 101])
        )
    }

    @Test("all runs each in order up to the bound, skipping the oldest beyond it")
    func allWithBound() {
        let selection = CatchUpSelection.select(
            missed: Array(1...5),
            policy: .all,
            startingDeadline: hour,
            now: 10,
            limit: 3
        )
        #expect(selection == CatchUpSelection(run: [3, 4, 5], byPolicy: [1, 2]))
    }

    @Test("instants older than the starting deadline are skipped whatever the policy, the current one too")
    func deadline() {
        for policy in CatchUpPolicy.allCases {
            let selection = CatchUpSelection.select(
                missed: [0, 50, 95],
                current: 100,
                policy: policy,
                startingDeadline: .seconds(10),
                now: 100,
                limit: 100
            )
            #expect(selection.pastDeadline == [0, 50], "\(policy)")
            #expect(selection.run.last == 100, "\(policy)")
        }
        let late = CatchUpSelection.select(
            missed: [],
            current: 80,
            policy: .all,
            startingDeadline: .seconds(10),
            now: 100,
            limit: 100
        )
        #expect(late == CatchUpSelection(run: [], pastDeadline: [80]))
    }
}
