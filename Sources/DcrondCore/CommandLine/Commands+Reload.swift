#if canImport(Glibc)
import Glibc
#endif

extension Commands {
    /// `dcrond reload`: SIGHUP to the daemon (`pid`, default: the one in its runtime folder), and
    /// its answer waited for up to `timeout`.
    package static func reload(
        pid: Int32?,
        runtimeDirectory: String?,
        config: String,
        timeout: String,
        trustedOwners: [String]
    ) async throws {
        guard let directory = runtimeDirectory ?? ReloadReport.runtimeDirectory else {
            // Nowhere to read an answer: at least refuse what the daemon would reject.
            _ = try loadConfiguration(config, trust: fileTrust(trustedOwners))
            guard let pid else {
                throw CommandFailure(
                    status: 1,
                    messages: [
                        "no --pid and no runtime folder (--runtime-directory or $RUNTIME_DIRECTORY) to find the daemon in"
                    ]
                )
            }
            try hangUp(pid)
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
        try hangUp(target)
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

    private static func hangUp(_ target: Int32) throws(CommandFailure) {
        guard Glibc.kill(target, SIGHUP) == 0 else {
            throw CommandFailure(status: 1, messages: ["cannot signal process \(target): \(errnoDescription())"])
        }
    }
}
