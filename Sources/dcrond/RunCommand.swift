import ArgumentParser
import DcrondCore
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the scheduler on this node.",
        discussion: """
            SIGHUP re-reads the configuration and the jobs file (an invalid one is rejected and the \
            running table stays). SIGTERM or SIGINT: leave the pool at once, let running jobs finish \
            within shutdownGrace, terminate the rest, exit 0.
            """
    )

    @Option(help: "The daemon configuration.")
    var config = Commands.defaultConfigPath

    @Option(
        help:
            "Log level: trace, debug, info, notice, warning, error, critical (default: \"logLevel\" of the configuration, else info). Job output is written whatever the level."
    )
    var logLevel: Logger.Level?

    @Option(
        help: "auto (the journal's native protocol when stderr is the journal, else logfmt), journal, logfmt or json."
    )
    var logFormat: LogFormat = .auto

    @OptionGroup var trustOptions: TrustOptions

    func run() async throws {
        let launch = try await DaemonLaunch.prepare(
            config: config,
            logLevel: logLevel,
            logFormat: logFormat,
            trustedOwners: trustOptions.trustedOwners
        )
        // The group's signal sources take over these from here; ignored, a signal in between does
        // not end the process. Children get the default dispositions back at spawn.
        for number in [SIGTERM, SIGINT, SIGHUP] { signal(number, SIG_IGN) }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: launch.services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: launch.logger
            )
        )
        do {
            try await group.run()
        } catch let failure as DaemonFailure {
            throw CommandFailure(status: 1, messages: [failure.message])
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// The node a `drain` or `resume` is about.
struct NodeTarget: ParsableArguments {
    @Option(help: "The daemon configuration.")
    var config = Commands.defaultConfigPath

    @Argument(help: "The node (default: this node, from the configuration).")
    var node: String?

    @Flag(help: "Set it even for a node that is not in the pool now (it takes effect when the node joins).")
    var force = false

    @Flag(help: "Print JSON.")
    var json = false

    func setDrain(_ drain: Bool) async throws {
        try await Commands.setDrain(drain, config: config, node: node, force: force, json: json)
    }
}

struct DrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Move a node off the ring: it owns nothing new and finishes what it started.",
        discussion:
            "Sets the node's drain key in Redis; the node takes it up at its next heartbeat. `dcrond resume` undoes it."
    )

    @OptionGroup var target: NodeTarget

    func run() async throws { try await target.setDrain(true) }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Move a drained node back onto the ring."
    )

    @OptionGroup var target: NodeTarget

    func run() async throws { try await target.setDrain(false) }
}

extension LogFormat: ExpressibleByArgument {}
