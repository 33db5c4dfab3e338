/// A Redis setting under which a promise of dcrond's does not hold, found at start-up (and by
/// `dcrond status` and `dcrond check --connect`).
struct RedisSafetyWarning: Sendable, Hashable, CustomStringConvertible {
    /// The setting as Redis names it, with its value: `maxmemory-policy allkeys-lru`.
    let setting: String
    /// What goes wrong, and which promise it breaks.
    let consequence: String
    /// What to change.
    let remedy: String

    var description: String { "\(setting): \(consequence); \(remedy)" }
}

/// What the start-up checks read from the server: `INFO` sections and `CONFIG GET` values. A field
/// is nil when the server refused to tell (a managed Redis often renames `CONFIG`).
struct RedisSafetyFacts: Sendable, Hashable {
    var maxmemory: Int64?
    var maxmemoryPolicy: String?
    var appendOnly: Bool?
    /// The `save` setting: "" when snapshots are off.
    var save: String?
    /// `master` or `slave`.
    var role: String?
    var connectedReplicas: Int?
    var clusterEnabled: Bool?

    init() {}

    /// Parses the `key:value` lines of an `INFO` reply.
    mutating func read(info: String) {
        for line in info.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let value = String(line[line.index(after: colon)...])
            switch key {
            case "maxmemory": maxmemory = Int64(value)
            case "maxmemory_policy": maxmemoryPolicy = value
            case "aof_enabled": appendOnly = value == "1"
            case "role": role = value
            case "connected_slaves": connectedReplicas = Int(value)
            case "cluster_enabled": clusterEnabled = value == "1"
            default: break
            }
        }
    }
}

/// The settings under which the promises in the docs do not hold. Pure: ``warnings(_:viaSentinel:claimReplicas:)``
/// decides from facts; ``check(_:claimReplicas:)`` reads them from a server.
enum RedisSafetyCheck {
    static func warnings(
        _ facts: RedisSafetyFacts,
        viaSentinel: Bool,
        claimReplicas: Int
    ) -> [RedisSafetyWarning] {
        var warnings: [RedisSafetyWarning] = []
        if let policy = facts.maxmemoryPolicy, (facts.maxmemory ?? 1) > 0 {
            let limit = facts.maxmemory.map { " with maxmemory \($0)" } ?? ""
            if policy.hasPrefix("allkeys-") {
                warnings.append(
                    RedisSafetyWarning(
                        setting: "maxmemory-policy \(policy)\(limit)",
                        consequence:
                            "a full Redis evicts any key, claims included: an evicted claim lets its instant run a second time (promise 1, at most once) and an evicted history hides missed instants from catch-up (promise 2)",
                        remedy: "set maxmemory-policy noeviction (writes then fail when full, and dcrond fails closed)"
                    )
                )
            } else if policy.hasPrefix("volatile-") {
                warnings.append(
                    RedisSafetyWarning(
                        setting: "maxmemory-policy \(policy)\(limit)",
                        consequence:
                            "a full Redis evicts keys with a TTL: heartbeats (a live node drops out of the ring) and overlap leases (a second run of an overlap forbid job can start beside the first)",
                        remedy: "set maxmemory-policy noeviction"
                    )
                )
            }
        }
        if facts.appendOnly == false, facts.save == "" {
            warnings.append(
                RedisSafetyWarning(
                    setting: "appendonly no, save \"\"",
                    consequence:
                        "a restart empties Redis: claims come back only from the memory of the running nodes, so a job whose last claim no running node remembers has the instants it missed skipped instead of caught up (promise 2), and the run history is gone",
                    remedy: "enable appendonly yes (or snapshots with save)"
                )
            )
        }
        if let role = facts.role, role != "master", !viaSentinel {
            warnings.append(
                RedisSafetyWarning(
                    setting: "role \(role == "slave" ? "replica" : role)",
                    consequence:
                        "the configured address is a replica: it refuses every write, so nothing is claimed and nothing runs (promise 2); and a failover is not followed",
                    remedy: "point \"redis\" at the master, or at the sentinels with redis+sentinel://"
                )
            )
        }
        if facts.clusterEnabled == true {
            warnings.append(
                RedisSafetyWarning(
                    setting: "cluster-enabled yes",
                    consequence:
                        "dcrond follows no MOVED or ASK redirect and no Cluster failover: commands fail whenever the pool's slot is served by another node, and nothing runs (promise 2)",
                    remedy: "use a standalone Redis, with replicas and Sentinel for availability"
                )
            )
        }
        if claimReplicas > 0, let replicas = facts.connectedReplicas, replicas < claimReplicas, facts.role == "master" {
            warnings.append(
                RedisSafetyWarning(
                    setting: "connected_slaves \(replicas) (claimReplicas \(claimReplicas))",
                    consequence:
                        "fewer replicas are connected than claims must reach: no run starts until enough are back (fail closed; promise 2 waits on them)",
                    remedy: "connect \(claimReplicas) replica\(claimReplicas == 1 ? "" : "s"), or lower claimReplicas"
                )
            )
        }
        return warnings
    }

    /// Reads the facts from the server `redis` is connected to. Settings the server refuses to
    /// show are listed in `unchecked`.
    static func check(
        _ redis: RedisClient,
        claimReplicas: Int
    ) async throws(RedisConnectionError)
        -> (warnings: [RedisSafetyWarning], unchecked: [String])
    {
        var facts = RedisSafetyFacts()
        var unchecked: [String] = []
        for section in ["memory", "persistence", "replication", "cluster"] {
            let reply = try await redis.send("INFO", section)
            if let text = reply.string { facts.read(info: text) } else { unchecked.append("INFO \(section)") }
        }
        // `save` is not in INFO; CONFIG may be renamed or refused.
        let save = try await redis.send("CONFIG", "GET", "save")
        if let parts = save.array, parts.count == 2 {
            facts.save = parts[1].string
        } else {
            unchecked.append("save (CONFIG GET refused)")
        }
        return (
            warnings(facts, viaSentinel: redis.endpoint.sentinelGroup != nil, claimReplicas: claimReplicas), unchecked
        )
    }
}
