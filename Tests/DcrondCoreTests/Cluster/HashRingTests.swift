import Testing

@testable import DcrondCore

@Suite("Hash ring")
struct HashRingTests {
    @Test("published vectors: anyone can reproduce placement (docs/cluster.md)")
    func vectors() {
        #expect(HashRing.position(ofJob: "nightly-backup") == StableHash.hash("nightly-backup"))
        #expect(HashRing.point(node: "node-a", replica: 0) == StableHash.hash("node-a#0"))
        let ring = HashRing(nodes: ["node-a", "node-b", "node-c"], virtualNodes: 160)
        #expect(
            ["nightly-backup", "cache-warmup", "month-end-report", "log-rotate"].map { ring.owner(of: $0)! } == [
                "node-b", "node-c", "node-a", "node-b",
            ]
        )
    }

    @Test("the same members give the same ring in any order; an empty ring owns nothing")
    func deterministic() {
        #expect(
            HashRing(nodes: ["b", "a", "c"], virtualNodes: 16)
                == HashRing(nodes: ["c", "b", "a", "a"], virtualNodes: 16)
        )
        #expect(HashRing(nodes: [], virtualNodes: 160).owner(of: "x") == nil)
        #expect(HashRing(nodes: ["only"], virtualNodes: 1).owner(of: "x") == "only")
    }

    @Test(
        "placement with 10,000 jobs: balanced, and a join or leave moves only the changed node's share",
        arguments: [(10, 1.15), (100, 1.35)]
    )
    func placement(nodes: Int, maximumLoad: Double) {
        let jobs = (0..<10_000).map { "job-\($0)" }
        let figures = PlacementFigures.measure(jobs: jobs, nodes: (0..<nodes).map { "node-\($0)" }, virtualNodes: 160)
        #expect(figures.maxOverMean <= maximumLoad)
        #expect(figures.joinMovesOnlyToNewNode && figures.leaveMovesOnlyFromLeaver)
        #expect(figures.joinMovedFraction <= 1.15 / Double(nodes + 1))
        // A leave moves exactly the leaver's share, so at most the busiest node's.
        #expect(figures.leaveMovedFraction <= figures.maxOverMean / Double(nodes) + 1e-9)
    }
}

@Suite("Hash ring: the missed-run checker")
struct HashRingSuccessorTests {
    @Test("the checker of a job is the next node after its owner; alone, the owner itself; empty, none")
    func successor() {
        let ring = HashRing(nodes: ["node-a", "node-b", "node-c"], virtualNodes: 160)
        for job in (0..<200).map({ "job-\($0)" }) {
            let owner = ring.owner(of: job)!
            let checker = ring.owner(of: job, excluding: owner)!
            #expect(checker != owner)
            // The same as the owner on the ring without the owner: the node that takes over if it dies.
            #expect(checker == HashRing(nodes: ring.nodes.filter { $0 != owner }, virtualNodes: 160).owner(of: job))
            #expect(ring.owner(of: job, excluding: nil) == owner)
        }
        #expect(HashRing(nodes: ["only"], virtualNodes: 4).owner(of: "x", excluding: "only") == "only")
        #expect(HashRing(nodes: [], virtualNodes: 4).owner(of: "x", excluding: nil) == nil)
    }
}
