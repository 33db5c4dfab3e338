/// How evenly a ring spreads jobs, and how many move when one node joins or leaves; computed by
/// `dcrond-bench placement` and checked by the tests.
package struct PlacementFigures: Sendable {
    /// The busiest node's job count over the mean.
    package let maxOverMean: Double
    /// Fraction of jobs whose owner changed when `node-new` joined.
    package let joinMovedFraction: Double
    package let joinMovesOnlyToNewNode: Bool
    /// Fraction of jobs whose owner changed when the first node left.
    package let leaveMovedFraction: Double
    package let leaveMovesOnlyFromLeaver: Bool

    package static func measure(jobs: [String], nodes: [String], virtualNodes: Int) -> PlacementFigures {
        let ring = HashRing(nodes: nodes, virtualNodes: virtualNodes)
        let owners = jobs.map { ring.owner(of: $0)! }
        var load: [String: Int] = [:]
        for owner in owners { load[owner, default: 0] += 1 }
        let mean = Double(jobs.count) / Double(nodes.count)
        let maxOverMean = Double(load.values.max() ?? 0) / mean

        let joined = HashRing(nodes: nodes + ["node-new"], virtualNodes: virtualNodes)
        var joinMoved = 0
        var joinOnlyToNew = true
        for (job, owner) in zip(jobs, owners) {
            let now = joined.owner(of: job)!
            if now != owner {
                joinMoved += 1
                if now != "node-new" { joinOnlyToNew = false }
            }
        }
        let leaver = nodes[0]
        let left = HashRing(nodes: Array(nodes.dropFirst()), virtualNodes: virtualNodes)
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
            maxOverMean: maxOverMean,
            joinMovedFraction: Double(joinMoved) / Double(jobs.count),
            joinMovesOnlyToNewNode: joinOnlyToNew,
            leaveMovedFraction: Double(leaveMoved) / Double(jobs.count),
            leaveMovesOnlyFromLeaver: leaveOnlyFromLeaver
        )
    }
}
