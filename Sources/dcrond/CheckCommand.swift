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
            exits 1 when Redis cannot be reached or this host lacks what the jobs need. Warnings about \
            this host (a missing workingDirectory, an unreadable password file, a user the daemon cannot \
            switch to) are printed in both modes; without --connect they do not change the exit status, \
            since a jobs file may be checked on another machine than the one that runs it.
            """
    )

    @Option(help: "The daemon configuration.")
    var config = DaemonConfiguration.defaultPath

    @Flag(help: "Also connect to Redis and check its settings.")
    var connect = false

    @OptionGroup var trustOptions: TrustOptions

    func run() async throws {
        let loaded = try loadConfiguration(config, trust: trustOptions.trust)
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

/// Both configuration files, or a failure (exit status 1) listing every problem. Commands that run
/// nothing (`status`, `next`, `drain`) pass ``FileTrust/unchecked``.
func loadConfiguration(_ path: String, trust: FileTrust) throws -> LoadedConfiguration {
    do {
        return try ConfigurationLoader.load(configPath: path, trust: trust)
    } catch {
        throw CommandFailure(status: 1, messages: error.lines)
    }
}

/// Who, besides root and the daemon's user, may own the files (`--trusted-owner`).
struct TrustOptions: ParsableArguments {
    @Option(
        name: .customLong("trusted-owner"),
        help: ArgumentHelp(
            "An account that may also own the configuration, the jobs file, their folders and the password files (repeatable).",
            valueName: "user"
        )
    )
    var trustedOwners: [String] = []

    func validate() throws {
        for name in trustedOwners where Accounts.user(name) == nil {
            throw ValidationError("--trusted-owner \(name): no such user on this host")
        }
    }

    var trust: FileTrust { FileTrust(trustedOwners: Set(trustedOwners.compactMap { Accounts.user($0)?.uid })) }
}
