import DcrondCore

/// How evenly a placement spreads jobs, and how many move when one node joins or leaves.
struct PlacementFigures {
    /// The busiest node's job count over its fair share (its weight over the total).
    let maxOverFair: Double
    /// Fraction of jobs whose owner changed when `node-new` joined.
    let joinMovedFraction: Double
    let joinMovesOnlyToNewNode: Bool
    /// Fraction of jobs whose owner changed when the first node left.
    let leaveMovedFraction: Double
    let leaveMovesOnlyFromLeaver: Bool

    /// `place` builds the placement of a member list.
    static func measure(
        jobs: [String],
        members: [Placement.Member],
        place: ([Placement.Member]) -> Placement
    ) -> PlacementFigures {
        let placement = place(members)
        let owners = jobs.map { placement.owner(of: $0)! }
        var load: [String: Int] = [:]
        for owner in owners { load[owner, default: 0] += 1 }
        let total = Double(members.reduce(0) { $0 + ($1.weight ?? 1) })
        var maxOverFair = 0.0
        for member in members {
            let fair: Double = Double(jobs.count) * Double(member.weight ?? 1) / total
            maxOverFair = max(maxOverFair, Double(load[member.id] ?? 0) / fair)
        }

        let joined = place(members + [Placement.Member(id: "node-new")])
        var joinMoved = 0
        var joinOnlyToNew = true
        for (job, owner) in zip(jobs, owners) {
            let now = joined.owner(of: job)!
            if now != owner {
                joinMoved += 1
                if now != "node-new" { joinOnlyToNew = false }
            }
        }
        let leaver = members[0].id
        let left = place(Array(members.dropFirst()))
        var leaveMoved = 0
        var leaveOnlyFromLeaver = true
        for (job, owner) in zip(jobs, owners) {
            let now = left.owner(of: job)
            if now != owner {
                leaveMoved += 1
                if owner != leaver { leaveOnlyFromLeaver = false }
            }
        }
        return PlacementFigures(
            maxOverFair: maxOverFair,
            joinMovedFraction: Double(joinMoved) / Double(jobs.count),
            joinMovesOnlyToNewNode: joinOnlyToNew,
            leaveMovedFraction: Double(leaveMoved) / Double(jobs.count),
            leaveMovesOnlyFromLeaver: leaveOnlyFromLeaver
        )
    }
}
