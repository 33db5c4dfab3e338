import ArgumentParser
import DcrondCore

/// Placement quality: load balance across random sets of node names, movement on a join or a
/// leave, and weights; rendezvous placement next to the ring it replaced, in the same run.
struct PlacementBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement",
        abstract: "Load balance (max/mean) over random node names, jobs moved on a join or leave, and weights."
    )

    @Option(parsing: .upToNextOption, help: "Job counts (names job-0 ... job-N).")
    var jobs: [Int] = [10_000, 100_000]

    @Option(help: "Random sets of node names per cluster size.")
    var sets = 20

    @Option(help: "Virtual nodes per node of the ring (the comparison).")
    var virtualNodes = 160

    @Option(parsing: .upToNextOption, help: "Cluster sizes.")
    var sizes: [Int] = [3, 10, 30, 100]

    @Option(help: "Seed of the node names.")
    var seed: UInt64 = 1

    func run() {
        var generator = SplitMix(state: seed)
        let aims: [Int: Double] = [10: 1.10, 100: 1.30]
        for jobCount in jobs {
            let names = (0..<jobCount).map { "job-\($0)" }
            print("placement: \(jobCount) jobs, \(sets) random sets of node names per size")
            print(
                "  " + pad("nodes", 6) + pad("rendezvous max/mean: worst, median", 38)
                    + pad("ring (\(virtualNodes) vnodes): worst, median", 34) + "moves (rendezvous)"
            )
            for size in sizes {
                var rendezvous: [Double] = []
                var ring: [Double] = []
                var movesOK = true
                var joinMoved: [Double] = []
                for _ in 0..<sets {
                    let members = (0..<size).map { _ in Placement.Member(id: Self.randomName(&generator)) }
                    let figures = PlacementFigures.measure(jobs: names, members: members) {
                        Placement(members: $0, virtualNodes: virtualNodes)
                    }
                    rendezvous.append(figures.maxOverFair)
                    movesOK = movesOK && figures.joinMovesOnlyToNewNode && figures.leaveMovesOnlyFromLeaver
                    joinMoved.append(figures.joinMovedFraction * Double(size + 1))
                    let ringFigures = PlacementFigures.measure(
                        jobs: names,
                        members: members.map { Placement.Member(id: $0.id, weight: nil) }
                    ) { Placement(members: $0, virtualNodes: virtualNodes) }
                    ring.append(ringFigures.maxOverFair)
                }
                let aim = aims[size].map { " (aim ≤ \($0))" } ?? ""
                print(
                    "  " + pad("\(size)", 6)
                        + pad(
                            "\(rounded(rendezvous.max()!, decimals: 3)), \(rounded(median(rendezvous), decimals: 3))\(aim)",
                            38
                        )
                        + pad("\(rounded(ring.max()!, decimals: 3)), \(rounded(median(ring), decimals: 3))", 34)
                        + "join moves \(rounded(median(joinMoved), decimals: 2)) × 1/(N+1) (median), only to or from the changed node: \(movesOK)"
                )
            }
            // The issue's set: node-00 … node-09.
            let named = (0..<10).map { Placement.Member(id: "node-0\($0)") }
            let issue = PlacementFigures.measure(jobs: names, members: named) {
                Placement(members: $0, virtualNodes: virtualNodes)
            }
            let issueRing = PlacementFigures.measure(
                jobs: names,
                members: named.map { Placement.Member(id: $0.id, weight: nil) }
            ) {
                Placement(members: $0, virtualNodes: virtualNodes)
            }
            print(
                "  node-00 … node-09: rendezvous max/mean \(rounded(issue.maxOverFair, decimals: 3)) (aim ≤ 1.1), ring \(rounded(issueRing.maxOverFair, decimals: 3))"
            )
            // Weights: one node of weight 2 (or 4) among weight-1 nodes, its share against its fair one.
            for (size, weight) in [(10, 2), (10, 4), (100, 2)] {
                var shares: [Double] = []
                var movesOK = true
                for _ in 0..<sets {
                    var members = (0..<size).map { _ in Placement.Member(id: Self.randomName(&generator)) }
                    members[0].weight = weight
                    let placement = Placement(members: members, virtualNodes: virtualNodes)
                    let owned = names.filter { placement.owner(of: $0) == members[0].id }.count
                    let fair = Double(names.count) * Double(weight) / Double(size - 1 + weight)
                    shares.append(Double(owned) / fair)
                    // The weight back to 1: jobs move only from that node.
                    var lighter = members
                    lighter[0].weight = 1
                    let after = Placement(members: lighter, virtualNodes: virtualNodes)
                    for name in names.prefix(20_000) {
                        let before = placement.owner(of: name)
                        let now = after.owner(of: name)
                        if before != now && before != members[0].id { movesOK = false }
                    }
                }
                print(
                    "  weight \(weight) among \(size) nodes: its share / fair share \(rounded(shares.min()!, decimals: 3))…\(rounded(shares.max()!, decimals: 3)); a weight change moves jobs only to or from it: \(movesOK)"
                )
            }
            // The owner of every job: what a membership change costs a node.
            for size in [10, 100] {
                let placement = Placement(
                    members: (0..<size).map { Placement.Member(id: "node-\($0)") },
                    virtualNodes: virtualNodes
                )
                let start = ContinuousClock.now
                var count = 0
                for name in names where placement.owner(of: name) == "node-0" { count += 1 }
                let elapsed = ContinuousClock.now - start
                print(
                    "  owners of all \(jobCount) jobs among \(size) nodes: \(milliseconds(elapsed)) (node-0 owns \(count))"
                )
            }
        }
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// A host-like name: `web-7f3a2c`, `db3`, `ip-10-0-12-7`.
    static func randomName(_ generator: inout SplitMix) -> String {
        let value = generator.next()
        switch value % 3 {
        case 0: return "web-" + String(value >> 40, radix: 16)
        case 1: return "db\(value >> 50)-\(String(value >> 20 & 0xFFF, radix: 36))"
        default: return "ip-10-0-\(value >> 8 & 0xFF)-\(value >> 16 & 0xFF)-\(value >> 24 & 0xFF)"
        }
    }
}

/// A seeded generator, so that a run can be repeated.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return StableHash.mix64(state)
    }
}
