import ArgumentParser
import DcrondCore

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Reload a running daemon's configuration and wait for its answer.",
        discussion: """
            Sends SIGHUP and waits until the daemon has read both files again. Exits 0 when the \
            new table runs, 1 when it was rejected (the problems are printed; the daemon keeps the \
            table it had) or no answer came. The unit's ExecReload runs it, so `systemctl reload \
            dcrond` fails the same way. The answer is read from the daemon's runtime folder \
            (RuntimeDirectory=, $RUNTIME_DIRECTORY); without one, the files are checked here and \
            SIGHUP is sent without waiting.
            """
    )

    @Option(help: "The daemon's process id (the unit passes $MAINPID; default: the one in the runtime folder).")
    var pid: Int32?

    @Option(help: "The daemon's runtime folder (default: $RUNTIME_DIRECTORY).")
    var runtimeDirectory: String?

    @Option(help: "The daemon configuration, checked here when there is no runtime folder.")
    var config = Commands.defaultConfigPath

    @Option(help: "How long to wait for the daemon's answer.")
    var timeout = "60s"

    @OptionGroup var trustOptions: TrustOptions

    func validate() throws {
        if let problem = Commands.durationProblem(timeout) { throw ValidationError("--timeout: \(problem)") }
        if let pid, pid <= 1 { throw ValidationError("--pid \(pid): not a daemon's process id") }
    }

    func run() async throws {
        try await Commands.reload(
            pid: pid,
            runtimeDirectory: runtimeDirectory,
            config: config,
            timeout: timeout,
            trustedOwners: trustOptions.trustedOwners
        )
    }
}
