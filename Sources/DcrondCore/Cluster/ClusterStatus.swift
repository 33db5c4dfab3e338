/// What `dcrond status` shows: the nodes of the pool as Redis has them, and the owner of every
/// job of the local table among the active nodes.
struct ClusterStatus: Sendable {
    struct Node: Sendable, Hashable {
        let id: String
        let state: NodeState
        /// Since its last heartbeat, by Redis's clock.
        let heartbeatAgeMilliseconds: Int64?
        let clockOffsetMilliseconds: Int64?
        let version: String?
        let fingerprint: String?
        let host: String?
        let pid: Int64?
        let startedAt: Int64?
        let timeZone: String?
        /// Runs it could not start in the last minute, in words, if any.
        var startFailures: String?
        /// Its placement weight; nil when it publishes none (a version before weights).
        var weight: Int? = 1
    }

    /// Who owns what among `nodes`: the same placement as the daemons compute.
    static func placement(of nodes: [Node], virtualNodes: Int) -> Placement {
        PoolView.placement(
            of: nodes.map { PoolMember(id: $0.id, state: $0.state, weight: $0.weight) },
            virtualNodes: virtualNodes
        )
    }

    struct Job: Sendable, Equatable {
        let name: String
        let owner: String?
        let enabled: Bool
        /// Unix seconds.
        let next: Int64?
        /// The newest run record and the newest successful one.
        var lastRun: RunRecord?
        var lastSuccess: RunRecord?
        /// Who paused it (`dcrond pause`), if it is paused.
        var pausedBy: String?
    }

    let cluster: String
    let epoch: Int64
    let nodes: [Node]
    let jobs: [Job]
    /// This node's table fingerprint, for comparison with the nodes'.
    let localFingerprint: String
    /// Redis settings under which a promise does not hold (``RedisSafetyCheck``).
    var redisWarnings: [RedisSafetyWarning] = []
    /// The server the status was read from (for a sentinel address, the master they named).
    var redisServer: String?

    /// Nodes whose published fingerprint differs from the local table's.
    var mismatchedNodes: [Node] { nodes.filter { $0.fingerprint != nil && $0.fingerprint != localFingerprint } }

    /// The pool's epoch and nodes as Redis has them, in two round trips.
    /// A server error (`NOAUTH`, `WRONGTYPE`, ...) is thrown, not read as an empty pool.
    static func readNodes(redis: RedisClient, cluster: String) async throws -> (epoch: Int64, nodes: [Node]) {
        let keys = ClusterKeys(cluster: cluster)
        let first = try await checked(
            redis,
            [
                RedisCommand("ZRANGE", keys.members, 0, -1), RedisCommand("HGETALL", keys.states),
                RedisCommand("GET", keys.epoch), RedisCommand("TIME"),
            ]
        )
        let ids = (first[0].array?.compactMap(\.string) ?? []).sorted()
        var states: [String: NodeState] = [:]
        if let flat = first[1].array {
            for index in stride(from: 0, to: flat.count - 1, by: 2) {
                if let id = flat[index].string {
                    states[id] = NodeState(rawValue: flat[index + 1].string ?? "") ?? .active
                }
            }
        }
        let epoch = first[2].string.flatMap { Int64($0) } ?? 0
        let time = first[3].array?.compactMap { $0.string.flatMap { Int64($0) } } ?? []
        let redisNow = time.count == 2 ? time[0] * 1000 + time[1] / 1000 : nil
        let infos = ids.isEmpty ? [] : try await checked(redis, ids.map { RedisCommand("HGETALL", keys.node($0)) })
        let nodes = zip(ids, infos).map { id, reply -> Node in
            var fields: [String: String] = [:]
            if let flat = reply.array {
                for index in stride(from: 0, to: flat.count - 1, by: 2) {
                    if let key = flat[index].string { fields[key] = flat[index + 1].string }
                }
            }
            let heartbeatAt = fields["heartbeatAt"].flatMap { Int64($0) }
            return Node(
                id: id,
                state: states[id] ?? .active,
                heartbeatAgeMilliseconds: heartbeatAt.flatMap { at in redisNow.map { $0 - at } },
                clockOffsetMilliseconds: fields["clockOffsetMs"].flatMap { Int64($0) },
                version: fields["version"],
                fingerprint: fields["fingerprint"],
                host: fields["host"],
                pid: fields["pid"].flatMap { Int64($0) },
                startedAt: fields["startedAt"].flatMap { Int64($0) },
                timeZone: fields["timezone"],
                startFailures: fields["startFailures"],
                // No info at all: expiring; a node without the field: an older version.
                weight: fields.isEmpty ? 1 : fields["weight"].flatMap { Int($0) }
            )
        }
        return (epoch, nodes)
    }

    /// Reads the pool from Redis in two round trips (no `SCAN`).
    static func read(
        redis: RedisClient,
        cluster: String,
        table: JobTable,
        virtualNodes: Int,
        now: Int64
    ) async throws -> ClusterStatus {
        let keys = ClusterKeys(cluster: cluster)
        let (epoch, nodes) = try await readNodes(redis: redis, cluster: cluster)
        var jobs = jobs(of: table, placement: placement(of: nodes, virtualNodes: virtualNodes), now: now)
        let paused = (try? await OperatorRequests.paused(redis, keys: keys)) ?? [:]
        for index in jobs.indices { jobs[index].pausedBy = paused[jobs[index].name]?.who }
        if !jobs.isEmpty {
            let history = try await checked(
                redis,
                jobs.flatMap { job in
                    [RunHistory.readLatest(job.name, keys: keys), RunHistory.readLastSuccess(job.name, keys: keys)]
                }
            )
            for index in jobs.indices {
                jobs[index].lastRun = RunHistory.record(in: history[2 * index])
                jobs[index].lastSuccess = RunHistory.record(in: history[2 * index + 1])
            }
        }
        return ClusterStatus(
            cluster: cluster,
            epoch: epoch,
            nodes: nodes,
            jobs: jobs,
            localFingerprint: table.fingerprint
        )
    }

    private static func checked(_ redis: RedisClient, _ commands: [RedisCommand]) async throws -> [RedisReply] {
        try await redis.checkedPipeline(commands)
    }

    /// Standalone mode: one node owns everything.
    static func standalone(node: String, table: JobTable, now: Int64) -> ClusterStatus {
        ClusterStatus(
            cluster: "(standalone)",
            epoch: 0,
            nodes: [
                Node(
                    id: node,
                    state: .active,
                    heartbeatAgeMilliseconds: nil,
                    clockOffsetMilliseconds: nil,
                    version: DcrondVersion.current,
                    fingerprint: table.fingerprint,
                    host: nil,
                    pid: nil,
                    startedAt: nil,
                    timeZone: nil
                )
            ],
            jobs: jobs(of: table, placement: Placement(nodes: [node]), now: now),
            localFingerprint: table.fingerprint
        )
    }

    private static func jobs(of table: JobTable, placement: Placement, now: Int64) -> [Job] {
        table.jobs.map { job in
            Job(
                name: job.name,
                owner: placement.owner(of: job.name),
                enabled: job.enabled,
                next: job.enabled ? job.schedule.next(after: now, in: job.timeZone, policy: job.dstPolicy) : nil,
                lastRun: nil,
                lastSuccess: nil
            )
        }
    }

    var json: JSONValue {
        func optional(_ value: Int64?) -> JSONValue { value.map { .integer($0) } ?? .null }
        func optional(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
        return .object([
            "cluster": .string(cluster),
            "epoch": .integer(epoch),
            "fingerprint": .string(localFingerprint),
            "fingerprintsDiffer": .bool(!mismatchedNodes.isEmpty),
            "redisServer": optional(redisServer),
            "redisWarnings": .array(
                redisWarnings.map { warning in
                    .object([
                        "setting": .string(warning.setting), "consequence": .string(warning.consequence),
                        "remedy": .string(warning.remedy),
                    ])
                }
            ),
            "nodes": .array(
                nodes.map { node in
                    .object([
                        "id": .string(node.id), "state": .string(node.state.rawValue),
                        "heartbeatAgeMs": optional(node.heartbeatAgeMilliseconds),
                        "clockOffsetMs": optional(node.clockOffsetMilliseconds),
                        "version": optional(node.version), "fingerprint": optional(node.fingerprint),
                        "host": optional(node.host),
                        "pid": optional(node.pid), "startedAt": optional(node.startedAt),
                        "timezone": optional(node.timeZone),
                        "startFailures": optional(node.startFailures),
                    ])
                }
            ),
            "jobs": .array(
                jobs.map { job in
                    .object([
                        "name": .string(job.name), "owner": optional(job.owner), "enabled": .bool(job.enabled),
                        "next": optional(job.next),
                        "paused": .bool(job.pausedBy != nil), "pausedBy": optional(job.pausedBy),
                        "lastRun": job.lastRun?.json ?? .null, "lastSuccess": job.lastSuccess?.json ?? .null,
                    ])
                }
            ),
        ])
    }
}
