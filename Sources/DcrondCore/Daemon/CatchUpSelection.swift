/// Which of a job's due instants run and which are skipped, by its `catchUp` policy and its
/// `startingDeadline`. Pure: the daemon logs and counts every skip it returns.
struct CatchUpSelection: Sendable, Equatable {
    /// To run, in order.
    var run: [Int64] = []
    /// Older than the starting deadline.
    var pastDeadline: [Int64] = []
    /// Missed and skipped by the policy (`none`; `latest` for all but the newest; `all` past its bound).
    var byPolicy: [Int64] = []

    init(run: [Int64] = [], pastDeadline: [Int64] = [], byPolicy: [Int64] = []) {
        self.run = run
        self.pastDeadline = pastDeadline
        self.byPolicy = byPolicy
    }

    var skippedCount: Int { pastDeadline.count + byPolicy.count }

    /// Every instant selected from, run or skipped, in order.
    var all: [Int64] { (run + pastDeadline + byPolicy).sorted() }

    /// `missed`: instants that passed without running, in order. `current`: the instant due now, if
    /// any; it is not missed and runs unless it is past its deadline. `limit` bounds `all`.
    static func select(
        missed: [Int64],
        current: Int64? = nil,
        policy: CatchUpPolicy,
        startingDeadline: Duration,
        now: Int64,
        limit: Int
    ) -> CatchUpSelection {
        let deadline = Int64(startingDeadline.components.seconds)
        var selection = CatchUpSelection()
        var inTime: [Int64] = []
        for instant in missed {
            if now - instant > deadline { selection.pastDeadline.append(instant) } else { inTime.append(instant) }
        }
        switch policy {
        case .none:
            selection.byPolicy = inTime
        case .latest:
            // The current instant is the latest when there is one.
            if current == nil, let newest = inTime.last {
                selection.byPolicy = Array(inTime.dropLast())
                selection.run = [newest]
            } else {
                selection.byPolicy = inTime
            }
        case .all:
            selection.byPolicy = Array(inTime.dropLast(min(limit, inTime.count)))
            selection.run = Array(inTime.suffix(limit))
        }
        if let current {
            if now - current > deadline {
                selection.pastDeadline.append(current)
            } else {
                selection.run.append(current)
            }
        }
        return selection
    }
}
