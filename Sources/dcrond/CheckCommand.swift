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
    var config = Commands.defaultConfigPath

    @Flag(help: "Also connect to Redis and check its settings.")
    var connect = false

    @OptionGroup var trustOptions: TrustOptions

    func run() async throws {
        try await Commands.check(config: config, connect: connect, trustedOwners: trustOptions.trustedOwners)
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
        if let name = Commands.unknownUser(among: trustedOwners) {
            throw ValidationError("--trusted-owner \(name): no such user on this host")
        }
    }
}
