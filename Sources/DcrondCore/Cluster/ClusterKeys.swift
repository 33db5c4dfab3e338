/// The Redis keys of one cluster. Every key starts with `dcron:{<cluster>}:`; the braces are a
/// Redis Cluster hash tag, so all keys of a cluster live in one slot and scripts may touch them
/// together.
///
/// | key | type | content |
/// | --- | --- | --- |
/// | `members` | sorted set | node id → expiry (Redis time, ms) of its last heartbeat |
/// | `states` | hash | node id → `active` or `draining` |
/// | `epoch` | string | counter bumped by every membership change |
/// | `node:<id>` | hash, TTL = node timeout | the node's info: state, version, weight, pid, host, start time, fingerprint, time zone, heartbeat time, clock offset |
/// | `drain:<id>` | string | `1` while an operator wants the node drained (no TTL) |
/// | `membership` | pub/sub channel | the new epoch, published on every change |
/// | `claims` | hash | job → last claimed instant (Unix seconds) |
/// | `claimedBy` | hash | job → `<node> <instant> <token>` of that claim (`restored`/`released` for repairs) |
/// | `claimGeneration` | hash | job → history generation in which its claim was written (fresh since the last rollback, or stale) |
/// | `confirmed` | hash | node id → history generation for which it put its claims back |
/// | `awaiting` | set | node ids the repairing nodes knew: claims older than the repair wait for their confirmation |
/// | `starting` | hash | `<job> <instant>` → `<node> <instance>` of a won claim whose run has not started yet (deleted at the start, or when the claim is given back): a claim left here by a process that is gone is a run that never started (reported by its checker or a node's sweep, and deleted) |
/// | `won:<id>` | hash | job → `<instant> <token>` of the node's last won claim: a retried claim is recognised |
/// | `history` | hash | `generation`, `sequence` (advanced by every won claim), `floor` (Unix seconds: no catch-up before it) |
/// | `runs:<job>` | list | run records (JSON), newest first, 100 kept |
/// | `lastSuccess` | hash | job → its last successful run record |
/// | `lease:<job>` | string, TTL | `<node> <run ID>` of the running run of a `forbid`/`replace` job |
/// | `stop:<job>` | string, TTL | the run ID a `replace` asks to terminate |
/// | `paused` | hash | job → `<Unix ms> <who>` while an operator has it paused (`dcrond pause`) |
/// | `missed` | hash | job → the last instant the missed-run alarm reported (each is reported once) |
/// | `triggers` | hash | job → its manual run (JSON: request, force, who, state, node, run ID, reason, expiry) while pending, running or just refused |
/// | `kill:<request>` | list, TTL | the answers of the nodes to one kill request: `<node> <run ID>…` |
/// | `lastManual` | hash | job → the record of its last manual run (how `trigger --wait` finds its end) |
/// | `control` | pub/sub channel | operator requests to the nodes: `trigger <job>`, `kill <request> <signal> <run ID or *> <job>` |
struct ClusterKeys: Sendable, Hashable {
    let cluster: String

    init(cluster: String) { self.cluster = cluster }

    var prefix: String { "dcron:{\(cluster)}:" }
    var members: String { prefix + "members" }
    var states: String { prefix + "states" }
    var epoch: String { prefix + "epoch" }
    var membershipChannel: String { prefix + "membership" }
    /// The prefix of every node's info key (the heartbeat script reads the members' weights there).
    var nodePrefix: String { prefix + "node:" }
    func node(_ id: String) -> String { nodePrefix + id }
    func drain(_ id: String) -> String { prefix + "drain:" + id }
    var claims: String { prefix + "claims" }
    var claimedBy: String { prefix + "claimedBy" }
    var claimGeneration: String { prefix + "claimGeneration" }
    var confirmed: String { prefix + "confirmed" }
    var awaiting: String { prefix + "awaiting" }
    var starting: String { prefix + "starting" }
    /// The field of one claim in ``starting``.
    static func startingField(job: String, instant: Int64) -> String { "\(job) \(instant)" }
    func won(_ id: String) -> String { prefix + "won:" + id }
    var history: String { prefix + "history" }
    func runs(_ job: String) -> String { prefix + "runs:" + job }
    var lastSuccess: String { prefix + "lastSuccess" }
    func lease(_ job: String) -> String { prefix + "lease:" + job }
    func stop(_ job: String) -> String { prefix + "stop:" + job }
    var paused: String { prefix + "paused" }
    var missed: String { prefix + "missed" }
    var triggers: String { prefix + "triggers" }
    func killAcknowledgements(_ request: String) -> String { prefix + "kill:" + request }
    var lastManual: String { prefix + "lastManual" }
    var controlChannel: String { prefix + "control" }
}
