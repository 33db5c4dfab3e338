import ArgumentParser
import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

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
        subcommands: [
            RunCommand.self, CheckCommand.self, NextCommand.self, StatusCommand.self, HistoryCommand.self,
            ExplainCommand.self, TriggerCommand.self,
            PauseCommand.self, UnpauseCommand.self, KillCommand.self, DrainCommand.self, ResumeCommand.self,
            ReloadCommand.self,
        ]
    )

    /// Runs the command; a ``CommandFailure`` prints its lines to stderr and sets the exit status.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as CommandFailure {
            failure.report()
            Glibc.exit(failure.status)
        } catch {
            exit(withError: error)
        }
    }
}
