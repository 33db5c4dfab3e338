import ArgumentParser
import DcrondCore

@main
struct Dcrond: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcrond",
        abstract: "A distributed cron daemon: every node runs the same jobs file; each run starts on exactly one node.",
        discussion: """
            Nodes join a pool in Redis; each job is owned by one live node on a consistent-hash ring, \
            and each scheduled instant is claimed in Redis before it starts.
            """,
        version: DcrondVersion.current,
        subcommands: []
    )
}
