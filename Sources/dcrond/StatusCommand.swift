import ArgumentParser
import DcrondCore

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the nodes of the pool and the owner of every job.",
        discussion: """
            Reads the pool from Redis (the configuration's cluster) and places the local job table on the ring of the \
            active nodes. Exit status: 0 healthy; 1 Redis cannot be reached or refuses this client; 2 no node is active \
            (every job is unowned); 3 with --strict, nodes run different job tables, a clock is off by more than 1s, \
            or a node could not start runs in the last minute.
            """
    )

    @Option(help: "The daemon configuration.")
    var config = Commands.defaultConfigPath

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(
        help:
            "Also fail (exit 3) when nodes run different job tables, a node's clock is off by more than 1s, or a node could not start runs lately."
    )
    var strict = false

    func run() async throws { try await Commands.status(config: config, json: json, strict: strict) }
}
