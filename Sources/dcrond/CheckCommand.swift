import ArgumentParser
import DcrondCore

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the configuration and its jobs file.",
        discussion: """
            Prints "ok: N jobs, fingerprint F" and exits 0, or prints every problem to stderr and exits 1. \
            With --connect, also connects to Redis (through the sentinels for a redis+sentinel:// address), \
            prints the server reached, and warns of every Redis setting under which a promise does not hold; \
            exits 1 when Redis cannot be reached.
            """
    )

    @Option(help: "The daemon configuration.")
    var config = DaemonConfiguration.defaultPath

    @Flag(help: "Also connect to Redis and check its settings.")
    var connect = false

    func run() async throws {
        let loaded = try loadConfiguration(config)
        let count = loaded.table.jobs.count
        print("ok: \(count) job\(count == 1 ? "" : "s"), fingerprint \(loaded.table.fingerprint)")
        guard connect else { return }
        guard let endpoint = loaded.daemon.redis else {
            print("redis: none configured (standalone: this node runs every job)")
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
        if !checked.unchecked.isEmpty { print("note: not checked (the server refused): \(checked.unchecked.joined(separator: ", "))") }
        if checked.warnings.isEmpty { print("redis: no setting found that breaks a promise") }
    }
}

/// Both configuration files, or a failure (exit status 1) listing every problem.
func loadConfiguration(_ path: String) throws -> LoadedConfiguration {
    do {
        return try ConfigurationLoader.load(configPath: path)
    } catch {
        throw CommandFailure(status: 1, messages: error.problems.map(\.description))
    }
}
