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

    @Test("the ring of an older version: a join or leave moves only the changed node's share")
    func movesOnlyTheChangedNode() {
        let jobs = (0..<2_000).map { "job-\($0)" }
        let nodes = (0..<10).map { "node-\($0)" }
        let ring = HashRing(nodes: nodes, virtualNodes: 160)
        let joined = HashRing(nodes: nodes + ["node-new"], virtualNodes: 160)
        let left = HashRing(nodes: Array(nodes.dropFirst()), virtualNodes: 160)
        for job in jobs {
            let owner = ring.owner(of: job)
            if joined.owner(of: job) != owner { #expect(joined.owner(of: job) == "node-new") }
            if left.owner(of: job) != owner { #expect(owner == "node-0") }
        }
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
