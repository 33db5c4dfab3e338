/// The Redis keys of one cluster. Every key starts with `dcron:{<cluster>}:`; the braces are a
/// Redis Cluster hash tag, so all keys of a cluster live in one slot and scripts may touch them
/// together.
///
/// | key | type | content |
/// | --- | --- | --- |
/// | `members` | sorted set | node id → expiry (Redis time, ms) of its last heartbeat |
/// | `states` | hash | node id → `active` or `draining` |
/// | `epoch` | string | counter bumped by every membership change |
/// | `node:<id>` | hash, TTL = node timeout | the node's info: state, version, pid, host, start time, fingerprint, time zone, heartbeat time, clock offset |
/// | `drain:<id>` | string | `1` while an operator wants the node drained (no TTL) |
/// | `membership` | pub/sub channel | the new epoch, published on every change |
package struct ClusterKeys: Sendable, Hashable {
    package let cluster: String

    package init(cluster: String) { self.cluster = cluster }

    package var prefix: String { "dcron:{\(cluster)}:" }
    package var members: String { prefix + "members" }
    package var states: String { prefix + "states" }
    package var epoch: String { prefix + "epoch" }
    package var membershipChannel: String { prefix + "membership" }
    package func node(_ id: String) -> String { prefix + "node:" + id }
    package func drain(_ id: String) -> String { prefix + "drain:" + id }
}
