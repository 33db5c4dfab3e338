import ArgumentParser
import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

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
    var config = DaemonConfiguration.defaultPath

    @Option(help: "How long to wait for the daemon's answer.")
    var timeout = "60s"

    @OptionGroup var trustOptions: TrustOptions

    func validate() throws {
        do { _ = try parseDuration(timeout) } catch { throw ValidationError("--timeout: \(error)") }
        if let pid, pid <= 1 { throw ValidationError("--pid \(pid): not a daemon's process id") }
    }

    func run() async throws {
        guard let directory = runtimeDirectory ?? ReloadReport.runtimeDirectory else {
            // Nowhere to read an answer: at least refuse what the daemon would reject.
            _ = try loadConfiguration(config, trust: trustOptions.trust)
            guard let pid else {
                throw CommandFailure(
                    status: 1,
                    messages: [
                        "no --pid and no runtime folder (--runtime-directory or $RUNTIME_DIRECTORY) to find the daemon in"
                    ]
                )
            }
            try signal(pid)
            print("the configuration is valid; sent SIGHUP to \(pid) (its log says when the reload is done)")
            return
        }
        let before = ReloadReport.read(in: directory)
        guard let target = pid ?? before?.pid else {
            throw CommandFailure(
                status: 1,
                messages: ["no daemon's answer in \(ReloadReport.path(in: directory)), and no --pid"]
            )
        }
        // A file left by an earlier process counts as no reload yet.
        let generation = before?.pid == target ? before!.generation : -1
        try signal(target)
        let deadline = ContinuousClock.now + (try parseDuration(timeout))
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            guard let report = ReloadReport.read(in: directory), report.pid == target, report.generation > generation
            else { continue }
            if !report.accepted {
                throw CommandFailure(
                    status: 1,
                    messages: report.problems.map { "reload rejected: \($0)" }
                        + [
                            "reload rejected: \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s"); the daemon keeps running its table (fingerprint \(report.fingerprint))"
                        ]
                )
            }
            print("reloaded: the daemon runs table \(report.fingerprint)")
            if !report.needsRestart.isEmpty {
                printError(
                    "dcrond: warning: changed settings need a restart to apply: \(report.needsRestart.joined(separator: ", "))"
                )
            }
            return
        }
        throw CommandFailure(
            status: 1,
            messages: [
                "sent SIGHUP to \(target), but no answer came within \(timeout) (is the previous reload still reading the files?)"
            ]
        )
    }

    private func signal(_ target: Int32) throws {
        guard kill(target, SIGHUP) == 0 else {
            throw CommandFailure(status: 1, messages: ["cannot signal process \(target): \(errnoDescription())"])
        }
    }
}
