import Testing

@testable import DcrondCore

/// Runs `body` on a thread of its own: the larger checks are seconds of computation in a debug
/// build, and on one of the two cooperative threads they held up the suites that measure timeouts.
private func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        startDetachedThread(name: "placement-test") { continuation.resume(returning: body()) }
    }
}

@Suite("Placement", .serialized)
struct PlacementTests {
    private let jobs = (0..<10_000).map { "job-\($0)" }

    /// The busiest node's jobs over its fair share (its weight over the total).
    private static func maxOverFair(_ placement: Placement, _ jobs: [String]) -> Double {
        var load: [String: Int] = [:]
        for job in jobs { load[placement.owner(of: job)!, default: 0] += 1 }
        let total = Double(placement.weights.reduce(0, +))
        return zip(placement.nodes, placement.weights).map { node, weight in
            Double(load[node] ?? 0) / (Double(jobs.count) * Double(weight) / total)
        }.max()!
    }

    @Test("published vectors: anyone can reproduce placement (docs/cluster.md)")
    func vectors() {
        #expect(Placement.identity(node: "node-a", index: 0) == StableHash.hash("node-a#0"))
        #expect(
            Placement.score(position: 0x9E37_79B9_7F4A_7C15, identity: 0) == StableHash.mix64(0x9E37_79B9_7F4A_7C15)
        )
        // The same values from an independent implementation (Python, docs/cluster.md).
        let names = ["nightly-backup", "cache-warmup", "month-end-report", "log-rotate", "db-vacuum", "report-mail"]
        let placement = Placement(nodes: ["node-a", "node-b", "node-c"])
        #expect(placement.scheme == .rendezvous)
        #expect(names.map { placement.owner(of: $0)! } == ["node-c", "node-a", "node-a", "node-a", "node-a", "node-c"])
        let weighted = Placement(
            members: [.init(id: "node-a"), .init(id: "node-b", weight: 3), .init(id: "node-c")],
            virtualNodes: 160
        )
        #expect(names.map { weighted.owner(of: $0)! } == ["node-c", "node-a", "node-a", "node-b", "node-a", "node-c"])
    }

    @Test("the owner is the node of the highest score, computed from the formula")
    func formula() {
        let placement = Placement(
            members: [.init(id: "a", weight: 2), .init(id: "b"), .init(id: "c")],
            virtualNodes: 1
        )
        for job in jobs.prefix(500) {
            let position = StableHash.hash(job)
            let scores = [("a", 0), ("a", 1), ("b", 0), ("c", 0)].map { node, index in
                (node, StableHash.mix64(position ^ StableHash.hash("\(node)#\(index)")))
            }
            #expect(placement.owner(of: job) == scores.max { $0.1 < $1.1 }!.0)
        }
    }

    @Test("the same members give the same owners in any order; no node owns nothing")
    func deterministic() {
        #expect(Placement(nodes: ["b", "a", "c"]) == Placement(nodes: ["c", "b", "a", "a"]))
        #expect(Placement(nodes: []).owner(of: "x") == nil)
        #expect(Placement(nodes: []).owner(of: "x", excluding: nil) == nil)
        #expect(Placement(nodes: ["only"]).owner(of: "x") == "only")
        #expect(Placement(nodes: ["only"]).owner(of: "x", excluding: "only") == "only")
    }

    @Test("10 nodes, 20 sets of arbitrary names (seeded, so the check is the same every run): at most 1.10 × the mean")
    func balanceAtTenNodes() async {
        let jobs = self.jobs
        let worst = await onOwnThread {
            var state: UInt64 = 13
            func next() -> UInt64 {
                state &+= 0x9E37_79B9_7F4A_7C15
                return StableHash.mix64(state)
            }
            var worst = Self.maxOverFair(Placement(nodes: (0..<10).map { "node-0\($0)" }), jobs)
            for _ in 0..<20 {
                let nodes = (0..<10).map { _ in "host-\(String(next() >> 32, radix: 16))" }
                worst = max(worst, Self.maxOverFair(Placement(nodes: nodes), jobs))
            }
            return worst
        }
        #expect(worst <= 1.10)
    }

    @Test("100 nodes with 300 jobs each: at most 1.30 × the mean (1.19 by an independent computation)")
    func balanceAtHundredNodes() async {
        let worst = await onOwnThread {
            Self.maxOverFair(Placement(nodes: (0..<100).map { "node-\($0)" }), (0..<30_000).map { "job-\($0)" })
        }
        #expect(worst <= 1.30)
    }

    @Test("a join moves jobs only to the new node, a leave only from the leaver, about 1/N of them")
    func moves() {
        let nodes = (0..<10).map { "node-\($0)" }
        let placement = Placement(nodes: nodes)
        let joined = Placement(nodes: nodes + ["node-new"])
        let left = Placement(nodes: Array(nodes.dropFirst()))
        var joinMoved = 0
        for job in jobs {
            let owner = placement.owner(of: job)
            if joined.owner(of: job) != owner {
                joinMoved += 1
                #expect(joined.owner(of: job) == "node-new")
            }
            if left.owner(of: job) != owner { #expect(owner == "node-0") }
            if owner == "node-0" { #expect(left.owner(of: job) != "node-0") }
        }
        #expect(Double(joinMoved) / Double(jobs.count) < 1.15 / 11)
    }

    @Test("a node of weight w takes w shares; a weight change moves jobs only to or from that node")
    func weights() {
        var members = (0..<10).map { Placement.Member(id: "node-\($0)") }
        members[3].weight = 3
        let placement = Placement(members: members, virtualNodes: 160)
        let owned = jobs.filter { placement.owner(of: $0) == "node-3" }.count
        let fair = Double(jobs.count) * 3 / 12
        #expect(abs(Double(owned) / fair - 1) < 0.08)
        #expect(Self.maxOverFair(placement, jobs) <= 1.10)
        members[3].weight = 1
        let lighter = Placement(members: members, virtualNodes: 160)
        for job in jobs where lighter.owner(of: job) != placement.owner(of: job) {
            #expect(placement.owner(of: job) == "node-3")
        }
    }

    @Test("the checker (the owner excluded) is the owner once the owner is gone")
    func successor() {
        let members = [Placement.Member(id: "node-a", weight: 2), .init(id: "node-b"), .init(id: "node-c")]
        let placement = Placement(members: members, virtualNodes: 160)
        for job in jobs.prefix(500) {
            let owner = placement.owner(of: job)!
            let checker = placement.owner(of: job, excluding: owner)!
            #expect(checker != owner)
            #expect(checker == Placement(members: members.filter { $0.id != owner }, virtualNodes: 160).owner(of: job))
            #expect(placement.owner(of: job, excluding: nil) == owner)
        }
    }

    @Test("a node without a weight (an older version) keeps the whole pool on the ring, weights ignored")
    func olderVersionKeepsTheRing() {
        let mixed = Placement(
            members: [.init(id: "node-a", weight: 4), .init(id: "node-b", weight: nil), .init(id: "node-c")],
            virtualNodes: 160
        )
        #expect(mixed.scheme == .ring(virtualNodes: 160))
        #expect(mixed.weights == [1, 1, 1])
        let ring = HashRing(nodes: ["node-a", "node-b", "node-c"], virtualNodes: 160)
        for job in jobs.prefix(1_000) {
            #expect(mixed.owner(of: job) == ring.owner(of: job))
            #expect(mixed.owner(of: job, excluding: "node-a") == ring.owner(of: job, excluding: "node-a"))
        }
        #expect(mixed.reason(forJob: "x")?.contains("older version") == true)
        #expect(Placement(nodes: ["a"]).reason(forJob: "x")?.contains("rendezvous") == true)
    }
}
