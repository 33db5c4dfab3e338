extension Commands {
    /// `dcrond check`: both files (owned by root, the daemon's user or `trustedOwners`), this
    /// host, and with `connect` the Redis they name.
    package static func check(config: String, connect: Bool, trustedOwners: [String]) async throws {
        let loaded = try loadConfiguration(config, trust: fileTrust(trustedOwners))
        let count = loaded.table.jobs.count
        print("ok: \(count) job\(count == 1 ? "" : "s"), fingerprint \(loaded.table.fingerprint)")
        let hostWarnings = HostCheck.warnings(loaded)
        for warning in hostWarnings { print("warning: \(warning)") }
        guard connect else { return }
        let hostFailure = CommandFailure(
            status: 1,
            messages: [
                "this host lacks what the configuration needs: \(hostWarnings.count) warning\(hostWarnings.count == 1 ? "" : "s") above"
            ]
        )
        guard let endpoint = loaded.daemon.redis else {
            print("redis: none configured (standalone: this node runs every job)")
            if !hostWarnings.isEmpty { throw hostFailure }
            return
        }
        var options = RedisConnectionOptions()
        options.clientName = "dcrond-check"
        let client = RedisClient(endpoint: endpoint, options: options)
        let checked: (warnings: [RedisSafetyWarning], unchecked: [String])
        do {
            _ = try await client.send("PING")
            checked = try await RedisSafetyCheck.check(client, claimReplicas: loaded.daemon.claimReplicas)
        } catch {
            throw CommandFailure(status: 1, messages: ["cannot reach Redis: \(error)"])
        }
        let server = await client.connectedPeer ?? "?"
        print("redis: \(endpoint) answers\(endpoint.sentinelGroup == nil ? "" : " (master \(server))")")
        for warning in checked.warnings { print("warning: Redis \(warning)") }
        if !checked.unchecked.isEmpty {
            print("note: not checked (the server refused): \(checked.unchecked.joined(separator: ", "))")
        }
        if checked.warnings.isEmpty { print("redis: no setting found that breaks a promise") }
        if !hostWarnings.isEmpty { throw hostFailure }
    }
}
