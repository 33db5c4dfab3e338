extension Commands {
    /// `dcrond status`: the pool, the owner of every job, and the health as the exit status
    /// (`strict`: also tables, clocks and start failures).
    package static func status(config: String, json: Bool, strict: Bool) async throws {
        let loaded = try loadConfiguration(config, trust: .unchecked)
        let now = currentUnixSeconds()
        var status: ClusterStatus
        if let endpoint = loaded.daemon.redis {
            var options = RedisConnectionOptions()
            options.connectTimeout = .seconds(2)
            let client = RedisClient(endpoint: endpoint, options: options)
            do {
                status = try await ClusterStatus.read(
                    redis: client,
                    cluster: loaded.daemon.cluster,
                    table: loaded.table,
                    virtualNodes: loaded.daemon.virtualNodes,
                    now: now
                )
                status.redisWarnings = try await RedisSafetyCheck.check(
                    client,
                    claimReplicas: loaded.daemon.claimReplicas
                ).warnings
                status.redisServer = await client.connectedPeer
            } catch {
                throw CommandFailure(status: 1, messages: ["cannot read the pool: \(describeRedisError(error))"])
            }
        } else {
            status = ClusterStatus.standalone(node: loaded.daemon.node, table: loaded.table, now: now)
        }
        let problems = health(status, strict: strict)
        if json {
            print(status.json.serialized)
            if let problems { throw CommandFailure(status: problems.status, messages: problems.messages) }
            return
        }
        print(
            "cluster \(status.cluster), epoch \(status.epoch), \(status.nodes.count) node\(status.nodes.count == 1 ? "" : "s")"
        )
        if let endpoint = loaded.daemon.redis, endpoint.sentinelGroup != nil, let server = status.redisServer {
            print("redis \(endpoint): master \(server)")
        }
        var rows = [["NODE", "STATE", "HEARTBEAT", "CLOCK", "VERSION", "FINGERPRINT", "HOST"]]
        for node in status.nodes {
            rows.append([
                node.id, node.state.rawValue, node.heartbeatAgeMilliseconds.map { "\($0) ms ago" } ?? "-",
                node.clockOffsetMilliseconds.map { "\($0 >= 0 ? "+" : "")\($0) ms" } ?? "-", node.version ?? "-",
                node.fingerprint ?? "-", node.host ?? "-",
            ])
        }
        printTable(rows)
        let paused = status.jobs.filter { $0.pausedBy != nil }.count
        if paused > 0 { print("\(paused) job\(paused == 1 ? " is" : "s are") paused (dcrond unpause JOB…)") }
        for warning in status.redisWarnings {
            print("warning: Redis \(warning)")
        }
        for node in status.nodes {
            if let failures = node.startFailures { print("warning: node \(node.id) could not start runs: \(failures)") }
        }
        for node in status.mismatchedNodes {
            print(
                "warning: node \(node.id) runs a different job table (fingerprint \(node.fingerprint ?? "?"), here \(status.localFingerprint))"
            )
        }
        print("")
        var jobRows = [["JOB", "OWNER", "NEXT", "LAST RUN", "LAST SUCCESS"]]
        for job in status.jobs {
            let zone = loaded.table.job(named: job.name)?.timeZone ?? .utc
            var next =
                job.next.map { formatInstant($0, offset: zone.offset(at: $0)) } ?? (job.enabled ? "-" : "disabled")
            if let who = job.pausedBy { next = "paused by \(who)" }
            jobRows.append([
                job.name, job.owner ?? "(no active node)", next, describe(job.lastRun, zone),
                describe(job.lastSuccess, zone),
            ])
        }
        printTable(jobRows)
        if let problems { throw CommandFailure(status: problems.status, messages: problems.messages) }
    }

    /// What makes the status unhealthy, with the exit status: 2 no active node; 3 (`--strict`)
    /// tables or clocks differ.
    private static func health(_ status: ClusterStatus, strict: Bool) -> (status: Int32, messages: [String])? {
        if !status.nodes.contains(where: { $0.state == .active }) {
            return (
                2,
                [
                    "no active node in cluster \(status.cluster): no job runs (\(status.nodes.count) node\(status.nodes.count == 1 ? "" : "s") draining or none in the pool)"
                ]
            )
        }
        guard strict else { return nil }
        var messages = status.mismatchedNodes.map {
            "node \($0.id) runs a different job table (fingerprint \($0.fingerprint ?? "?"), here \(status.localFingerprint))"
        }
        messages += status.nodes.compactMap { node in
            node.startFailures.map { "node \(node.id) could not start runs: \($0)" }
        }
        for node in status.nodes {
            if let offset = node.clockOffsetMilliseconds, abs(offset) > 1000 {
                messages.append("node \(node.id)'s clock is off by \(offset) ms from Redis's")
            }
        }
        return messages.isEmpty ? nil : (3, messages)
    }

    /// `2026-11-21T02:30:00+01:00 on node-b: exit 0`, or `-` for no record.
    private static func describe(_ record: RunRecord?, _ zone: TimeZoneRules) -> String {
        guard let record else { return "-" }
        let at = formatInstant(record.scheduledAt, offset: zone.offset(at: record.scheduledAt))
        return "\(at) on \(record.node): \(record.resultText)"
    }
}
