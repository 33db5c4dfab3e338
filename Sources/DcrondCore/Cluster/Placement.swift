/// Which active node owns each job: rendezvous (highest-random-weight) hashing, with weights.
///
/// Every node computes the same owners from the same members: scores use ``StableHash`` only.
///
/// - Node `n` of weight `w` has `w` identities: `hash("<n>#<k>")` for k in 0..<w.
/// - The score of job `j` at identity `i` is `mix64(hash(j) ^ i)`; `j` belongs to the node of the
///   highest score (equal scores, astronomically rare, go to the first node by name).
///
/// Each job's owner depends only on its own scores, so a node joining takes only the jobs it now
/// scores highest on, a node leaving gives up only its own, and a weight change moves jobs only to
/// or from that node. The share of a node is its weight over the total, up to sampling: with `m`
/// jobs per node the busiest carries about `1 + 2.5/√m` times the mean at 100 nodes (no scheme that
/// places jobs independently does better), against `1 + 1/√virtualNodes` more for a ring.
///
/// A pool with a node that does not publish its weight (a version before rendezvous placement)
/// uses the ring of ``HashRing`` instead, over all active nodes and without weights, so that old
/// and new nodes agree on owners during a rolling upgrade.
package struct Placement: Sendable, Equatable {
    /// An active node and its weight; `weight` nil for a node that does not announce rendezvous
    /// placement.
    package struct Member: Sendable, Hashable {
        package var id: String
        package var weight: Int?

        package init(id: String, weight: Int? = 1) {
            self.id = id
            self.weight = weight
        }
    }

    enum Scheme: Sendable, Equatable {
        case rendezvous
        /// The ring of an older version, kept while such a node is active.
        case ring(virtualNodes: Int)
    }

    /// The allowed weights (`weight` in dcrond.json).
    static let weights = 1...1000

    /// The active nodes, sorted by id.
    let nodes: [String]
    /// Each node's weight, in the order of ``nodes`` (all 1 on the ring).
    let weights: [Int]
    let scheme: Scheme
    private let identities: [UInt64]
    private let identityNode: [Int32]
    private let ring: HashRing?

    /// Rendezvous placement when every member has a weight, else the ring of `virtualNodes`.
    /// A member listed twice counts once (its larger weight).
    package init(members: [Member], virtualNodes: Int) {
        var byID: [String: Int?] = [:]
        for member in members {
            if let seen = byID[member.id] {
                byID[member.id] = seen.flatMap { old in member.weight.map { max(old, $0) } }
            } else {
                byID[member.id] = member.weight
            }
        }
        let sorted = byID.keys.sorted()
        nodes = sorted
        if byID.values.contains(where: { $0 == nil }) {
            scheme = .ring(virtualNodes: virtualNodes)
            weights = sorted.map { _ in 1 }
            ring = HashRing(nodes: sorted, virtualNodes: virtualNodes)
            identities = []
            identityNode = []
            return
        }
        scheme = .rendezvous
        ring = nil
        let weights = sorted.map { min(max(byID[$0]!!, Self.weights.lowerBound), Self.weights.upperBound) }
        self.weights = weights
        var identities: [UInt64] = []
        var identityNode: [Int32] = []
        identities.reserveCapacity(weights.reduce(0, +))
        for (index, node) in sorted.enumerated() {
            for k in 0..<weights[index] {
                identities.append(Self.identity(node: node, index: k))
                identityNode.append(Int32(index))
            }
        }
        self.identities = identities
        self.identityNode = identityNode
    }

    /// Rendezvous placement of `nodes`, each of weight 1.
    init(nodes: [String]) {
        self.init(members: nodes.map { Member(id: $0) }, virtualNodes: 1)
    }

    /// The `index`th identity of a node: `hash("<node>#<index>")`.
    static func identity(node: String, index: Int) -> UInt64 {
        StableHash.hash("\(node)#\(index)")
    }

    /// A job's hash: `hash(<name>)`.
    static func position(ofJob name: String) -> UInt64 {
        StableHash.hash(name)
    }

    /// The score of a job (by its ``position(ofJob:)``) at one identity.
    static func score(position: UInt64, identity: UInt64) -> UInt64 {
        StableHash.mix64(position ^ identity)
    }

    /// The node that owns `job`, or nil when no node is active.
    package func owner(of job: String) -> String? {
        owner(of: job, excluding: nil)
    }

    /// The node with the highest score for `job` other than `excluded` (the owner's successor, the
    /// node that would take the job over, when `excluded` is the owner); the owner when no other
    /// node exists.
    func owner(of job: String, excluding excluded: String?) -> String? {
        if let ring { return ring.owner(of: job, excluding: excluded) }
        guard !nodes.isEmpty else { return nil }
        let position = Self.position(ofJob: job)
        let skipped = excluded.flatMap { nodes.firstIndex(of: $0) }.map(Int32.init) ?? -1
        var best: (score: UInt64, node: Int32)?
        for (identity, node) in zip(identities, identityNode) where node != skipped {
            let score = Self.score(position: position, identity: identity)
            if let current = best, current.score > score || (current.score == score && current.node <= node) {
                continue
            }
            best = (score, node)
        }
        guard let best else { return nodes[0] }
        return nodes[Int(best.node)]
    }

    /// Why `job` belongs where it does, in a sentence for `dcrond explain`.
    func reason(forJob job: String) -> String? {
        guard let owner = owner(of: job) else { return nil }
        let count = "\(nodes.count) active node\(nodes.count == 1 ? "" : "s") (\(nodes.joined(separator: ", ")))"
        switch scheme {
        case .ring:
            return
                "the job's hash (\(String(HashRing.position(ofJob: job), radix: 16))) falls on node \(owner)'s arc of the ring of the \(count); the pool uses the ring while a node of an older version is active"
        case .rendezvous:
            let weighted = weights.contains { $0 != 1 }
            let weightText =
                weighted ? ", weights \(zip(nodes, weights).map { "\($0)=\($1)" }.joined(separator: " "))" : ""
            return
                "node \(owner) has the job's highest rendezvous score among the \(count)\(weightText)"
        }
    }
}
