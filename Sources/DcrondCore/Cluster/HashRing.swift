/// Consistent hashing of job names onto nodes, with virtual nodes.
///
/// Every node builds the same ring from the same member list: points and lookups use
/// ``StableHash`` (FNV-1a 64 with the SplitMix64 finalizer), identical on every node and version.
///
/// - Node `n` has `virtualNodes` points: `hash("<n>#<i>")` for i in 0..<virtualNodes.
/// - Job `j` belongs to the node of the first point at or after `hash(j)`, wrapping around.
/// - Equal points (astronomically rare) are ordered by node name, so every node agrees.
///
/// When a node joins, it takes over only the arcs just before its points; when one leaves, its
/// arcs go to the next points. No other job moves.
struct HashRing: Sendable, Equatable {
    let nodes: [String]
    let virtualNodes: Int
    /// Sorted by point, then node index.
    private let points: [UInt64]
    private let owners: [Int32]

    init(nodes: [String], virtualNodes: Int) {
        let sortedNodes = Array(Set(nodes)).sorted()
        self.nodes = sortedNodes
        self.virtualNodes = virtualNodes
        var entries: [(UInt64, Int32)] = []
        entries.reserveCapacity(sortedNodes.count * virtualNodes)
        for (index, node) in sortedNodes.enumerated() {
            for replica in 0..<virtualNodes {
                entries.append((Self.point(node: node, replica: replica), Int32(index)))
            }
        }
        entries.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        points = entries.map(\.0)
        owners = entries.map(\.1)
    }

    /// The ring position of a node's virtual node: `hash("<node>#<replica>")`.
    static func point(node: String, replica: Int) -> UInt64 {
        StableHash.hash("\(node)#\(replica)")
    }

    /// The ring position of a job: `hash(<name>)`.
    static func position(ofJob name: String) -> UInt64 {
        StableHash.hash(name)
    }

    /// The node that owns `job`, or nil for an empty ring.
    func owner(of job: String) -> String? {
        guard !points.isEmpty else { return nil }
        return nodes[Int(owners[firstPoint(ofJob: job)])]
    }

    /// The index of the first point at or after the job's position, wrapping around.
    private func firstPoint(ofJob job: String) -> Int {
        let position = Self.position(ofJob: job)
        var low = 0
        var high = points.count
        while low < high {
            let middle = (low + high) / 2
            if points[middle] < position { low = middle + 1 } else { high = middle }
        }
        return low == points.count ? 0 : low
    }

    /// The node of the first point at or after `job`'s position that is not `excluded` (the
    /// successor of the owner, when `excluded` is the owner); the owner when no other node exists.
    func owner(of job: String, excluding excluded: String?) -> String? {
        guard !points.isEmpty else { return nil }
        let first = firstPoint(ofJob: job)
        for step in 0..<points.count {
            let node = nodes[Int(owners[(first + step) % points.count])]
            if node != excluded { return node }
        }
        return nodes[Int(owners[first])]
    }
}
