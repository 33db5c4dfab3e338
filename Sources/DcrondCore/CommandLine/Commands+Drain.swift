extension Commands {
    /// `dcrond drain` (`drain`) and `dcrond resume`: the drain mark of `node` (default: this
    /// node), set even for a node not in the pool with `force`.
    package static func setDrain(_ drain: Bool, config: String, node: String?, force: Bool, json: Bool) async throws {
        let loaded = try loadConfiguration(config, trust: .unchecked)
        guard let endpoint = loaded.daemon.redis else {
            throw CommandFailure(
                status: 1,
                messages: ["\(config): no \"redis\": a standalone node has no pool to drain from"]
            )
        }
        let target = node ?? loaded.daemon.node
        let keys = ClusterKeys(cluster: loaded.daemon.cluster)
        let redis = RedisClient(endpoint: endpoint)
        do {
            if !force {
                let (_, nodes) = try await ClusterStatus.readNodes(redis: redis, cluster: loaded.daemon.cluster)
                guard nodes.contains(where: { $0.id == target }) else {
                    // Resuming a node that is gone still clears its key: nothing is left behind.
                    if !drain, try await OperatorRequests.setDrain(redis, keys: keys, node: target, draining: false) {
                        print(
                            json
                                ? JSONValue.object([
                                    "node": .string(target), "draining": .bool(false), "inPool": .bool(false),
                                ]).serialized
                                : "node \(target) is not in the pool; cleared its drain mark"
                        )
                        return
                    }
                    let known = nodes.map(\.id).joined(separator: ", ")
                    throw CommandFailure(
                        status: 1,
                        messages: [
                            "node \(target) is not in the pool of cluster \(loaded.daemon.cluster) (nodes: \(known.isEmpty ? "none" : known)); --force sets it anyway"
                        ]
                    )
                }
            }
            try await OperatorRequests.setDrain(redis, keys: keys, node: target, draining: drain)
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(status: 1, messages: ["cannot reach Redis: \(describeRedisError(error))"])
        }
        if json {
            print(JSONValue.object(["node": .string(target), "draining": .bool(drain)]).serialized)
        } else {
            print(
                drain
                    ? "node \(target) drains at its next heartbeat"
                    : "node \(target) returns to the ring at its next heartbeat"
            )
        }
    }
}
