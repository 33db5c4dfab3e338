import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// The package under a real systemd 252: a debootstrapped bookworm booted by systemd-nspawn, with
/// its own journald and redis-server. `make test` (as root) builds the package (`make deb`) and
/// runs this suite with `DCROND_DEB` naming it; without that variable the suite does not run.
@Suite("the Debian package under a real systemd", .enabled(if: SystemdEnvironment.package != nil), .serialized)
struct SystemdEndToEndTests {
    @Test("install, readiness, journal fields and priorities, reload, stop, restart, watchdog, invalid start, removal")
    func service() async throws {
        let package = try #require(SystemdEnvironment.package)
        #expect(getuid() == 0, "systemd-nspawn needs root")
        let tarball = try await BootedContainer.rootfsTarball()
        let container = try await BootedContainer.boot(tarball: tarball)
        do {
            try await exercise(container, package: package)
        } catch {
            let log = try? await container.run("journalctl --no-pager -n 80 -o short-precise")
            Issue.record("\(error)\nlast journal records:\n\(log?.standardOutput ?? "")")
        }
        await container.shutdown()
    }

    private func exercise(_ container: BootedContainer, package: String) async throws {
        // The package, with its Depends: met by the packages debootstrap put in.
        let copied = try await runProcess(["/bin/cp", package, container.root + "/root/dcrond.deb"])
        try #require(copied.status == 0)
        let installed = try await container.run("dpkg -i /root/dcrond.deb")
        try #require(installed.status == 0, "dpkg -i: \(installed.standardOutput) \(installed.standardError)")
        #expect(
            try await container.run("systemctl is-enabled dcrond").standardOutput.contains("disabled"),
            "installing enables nothing"
        )
        #expect(try await container.run("pgrep -x dcrond").status != 0, "installing starts nothing")
        let manual = try await container.run("MANPAGER=cat man dcrond | head -20; man -w dcrond.json dcrond-jobs.json")
        #expect(manual.status == 0 && manual.standardOutput.contains("dcrond"), "man pages: \(manual.standardError)")
        for completion in [
            "/usr/share/bash-completion/completions/dcrond", "/usr/share/zsh/vendor-completions/_dcrond",
            "/usr/share/fish/vendor_completions.d/dcrond.fish",
        ] {
            #expect(try await container.run("test -s \(completion)").status == 0, "\(completion)")
        }
        let verify = try await container.run("systemd-analyze verify /lib/systemd/system/dcrond.service")
        #expect(
            verify.status == 0 && verify.standardOutput.isEmpty && verify.standardError.isEmpty,
            "systemd-analyze verify: \(verify.standardOutput)\(verify.standardError)"
        )

        // A pool of one on the container's Redis; three jobs; a watchdog short enough to test.
        try writeText(
            container.root + "/etc/dcrond/dcrond.json",
            """
            {"cluster": "ci", "redis": "redis://127.0.0.1:6379/0", "jobs": "jobs.json", "shutdownGrace": "30s", "heartbeat": "500ms", "nodeTimeout": "2s"}
            """
        )
        let jobs = """
            {"jobs": [
              {"name": "hello", "schedule": "*/2 * * * * *", "command": "echo out-line; echo err-line >&2"},
              {"name": "failing", "schedule": "*/3 * * * * *", "command": "exit 7"},
              {"name": "long", "schedule": "0 0 1 1 *", "command": "sleep 4; echo long-done"}
            ]}
            """
        try writeText(container.root + "/etc/dcrond/jobs.json", jobs)
        // A stop timeout far below shutdownGrace: the daemon must extend it, or the stop with a
        // running job below ends in a SIGKILL of the cgroup.
        _ = try await container.run(
            "mkdir -p /etc/systemd/system/dcrond.service.d && printf '[Service]\\nWatchdogSec=3s\\nTimeoutStopSec=2s\\n' > /etc/systemd/system/dcrond.service.d/test.conf && systemctl daemon-reload"
        )

        // Type=notify: `systemctl start` returns once READY=1 came, with a status line already.
        let started = try await container.run("systemctl start dcrond")
        #expect(started.status == 0, "start: \(started.standardError)")
        let shown = try await container.run("systemctl show dcrond -p ActiveState -p StatusText")
        #expect(shown.standardOutput.contains("ActiveState=active"))
        #expect(shown.standardOutput.contains("StatusText=active, owns 3 of 3 jobs, 1 node"), "\(shown.standardOutput)")
        let order = try await container.run("journalctl -u dcrond -o cat --no-pager")
        let lines = order.standardOutput.split(separator: "\n")
        let joined = lines.firstIndex { $0.hasPrefix("joined the pool") }
        let active = lines.firstIndex { $0.hasPrefix("Started dcrond.service") }
        #expect(
            joined != nil && active != nil && joined! < active!,
            "the unit became active only after the daemon joined the pool"
        )

        try await Task.sleep(for: .seconds(7))
        // hello's records, found by field, with their priorities; output after its run's start.
        let hello = try await records(container, "DCRON_JOB=hello")
        let startedRuns = hello.filter { $0["MESSAGE_ID"] == LogEvent.runStarted.messageID }
        #expect(startedRuns.count >= 2, "hello started at least twice in 7 s: \(hello.count) records")
        #expect(
            startedRuns.allSatisfy {
                $0["PRIORITY"] == "6" && $0["DCRON_RUN_ID"] != nil && $0["DCRON_SCHEDULED_AT"] != nil
            }
        )
        let stdout = hello.filter { $0["MESSAGE"] == "out-line" }
        let stderr = hello.filter { $0["MESSAGE"] == "err-line" }
        #expect(!stdout.isEmpty && stdout.allSatisfy { $0["PRIORITY"] == "6" && $0["DCRON_STREAM"] == "stdout" })
        #expect(!stderr.isEmpty && stderr.allSatisfy { $0["PRIORITY"] == "5" && $0["DCRON_STREAM"] == "stderr" })
        for line in stdout + stderr {
            let run = line["DCRON_RUN_ID"]
            let start = hello.firstIndex {
                $0["MESSAGE_ID"] == LogEvent.runStarted.messageID && $0["DCRON_RUN_ID"] == run
            }
            let position = hello.firstIndex { $0["__CURSOR"] == line["__CURSOR"] }
            #expect(
                start != nil && position != nil && start! < position!,
                "run \(run ?? "?"): output after its start record"
            )
        }
        let failing = try await records(container, "DCRON_JOB=failing MESSAGE_ID=\(LogEvent.runFailed.messageID)")
        #expect(
            !failing.isEmpty && failing.allSatisfy { $0["PRIORITY"] == "4" && $0["DCRON_EXIT_STATUS"] == "7" },
            "\(failing.first ?? [:])"
        )
        let warnings = try await container.run("journalctl -u dcrond -p warning -o cat --no-pager")
        #expect(warnings.standardOutput.contains("run failed"))
        #expect(!warnings.standardOutput.contains("run started"), "-p warning shows no info record")
        let explained = try await container.run("journalctl -x -u dcrond --no-pager -n 30")
        #expect(explained.standardOutput.contains("Defined-By: dcrond"), "the catalog explains the records")

        // A valid reload; an invalid one fails and the old table keeps running.
        try writeText(
            container.root + "/etc/dcrond/jobs.json.new",
            jobs.replacingFirst("\"hello\"", with: "\"hello\", \"description\": \"greets\"")
        )
        _ = try await container.run("mv /etc/dcrond/jobs.json.new /etc/dcrond/jobs.json")
        let reloaded = try await container.run("systemctl reload dcrond")
        #expect(reloaded.status == 0, "valid reload: \(reloaded.standardError)")
        try writeText(
            container.root + "/etc/dcrond/jobs.json.new",
            #"{"jobs": [{"name": "hello", "schedule": "not a schedule", "command": "echo"}]}"#
        )
        _ = try await container.run("mv /etc/dcrond/jobs.json.new /etc/dcrond/jobs.json")
        let rejected = try await container.run("systemctl reload dcrond")
        #expect(rejected.status != 0, "an invalid reload fails")
        let rejectedAt = try await container.run("date +%s")
        #expect(try await container.run("systemctl is-active dcrond").standardOutput.hasPrefix("active"))
        let unitLog = try await container.run("journalctl -u dcrond -o cat --no-pager")
        #expect(
            unitLog.standardOutput.contains("reload rejected: /etc/dcrond/jobs.json: job \"hello\": schedule"),
            "the unit's log says why"
        )
        let errors = try await records(container, "MESSAGE_ID=\(LogEvent.reloadRejected.messageID)")
        #expect(!errors.isEmpty && errors.allSatisfy { $0["PRIORITY"] == "3" })
        try await Task.sleep(for: .seconds(3))
        let since = Int64(rejectedAt.standardOutput.trimmingWhitespace()) ?? 0
        let later = try await records(container, "DCRON_JOB=hello MESSAGE_ID=\(LogEvent.runStarted.messageID)")
        #expect(later.contains { Int64($0["DCRON_SCHEDULED_AT"] ?? "") ?? 0 > since }, "the old table still runs hello")
        try writeText(container.root + "/etc/dcrond/jobs.json", jobs)
        #expect(try await container.run("systemctl reload dcrond").status == 0)

        // Stop while a run is going (4 s, beyond TimeoutStopSec=2s): the daemon waits for it and exits 0.
        let trigger = try await container.run("dcrond trigger long")
        #expect(trigger.status == 0, "trigger: \(trigger.standardError)")
        let stopped = try await container.run("systemctl stop dcrond")
        #expect(stopped.status == 0)
        let result = try await container.run("systemctl show dcrond -p Result -p ExecMainStatus")
        #expect(
            result.standardOutput.contains("Result=success") && result.standardOutput.contains("ExecMainStatus=0"),
            "\(result.standardOutput)"
        )
        let long = try await records(container, "DCRON_JOB=long MESSAGE_ID=\(LogEvent.runFinished.messageID)")
        #expect(long.count == 1 && long.first?["DCRON_EXIT_STATUS"] == "0", "the long run finished before the stop")

        // A crash is restarted.
        #expect(try await container.run("systemctl start dcrond").status == 0)
        let first = try await mainPID(container)
        _ = try await container.run("systemctl kill -s KILL dcrond")
        #expect(
            try await waitUntil(seconds: 15) {
                let now = try await self.mainPID(container)
                guard now != first else { return false }
                return try await self.isActive(container)
            },
            "restarted after SIGKILL"
        )

        // The watchdog: a stopped scheduling loop is killed and restarted.
        let frozen = try await mainPID(container)
        _ = try await container.run("kill -STOP \(frozen)")
        #expect(
            try await waitUntil(seconds: 20) {
                let now = try await self.mainPID(container)
                guard now != frozen else { return false }
                return try await self.isActive(container)
            },
            "restarted by the watchdog"
        )
        let watchdog = try await container.run(
            "journalctl -u dcrond -o cat --no-pager | grep -c \"Failed with result 'watchdog'\""
        )
        #expect(watchdog.standardOutput.trimmingWhitespace() == "1", "systemd says the watchdog fired")

        // An invalid table at start: failed, no restart loop.
        try writeText(
            container.root + "/etc/dcrond/jobs.json",
            #"{"jobs": [{"name": "hello", "schedule": "61 * * * *", "command": "echo"}]}"#
        )
        let restarted = try await container.run("systemctl restart dcrond")
        #expect(restarted.status != 0)
        try await Task.sleep(for: .seconds(6))
        let failed = try await container.run("systemctl show dcrond -p ActiveState -p ExecMainStatus -p NRestarts")
        #expect(
            failed.standardOutput.contains("ActiveState=failed") && failed.standardOutput.contains("ExecMainStatus=78")
                && failed.standardOutput.contains("NRestarts=0"),
            "\(failed.standardOutput)"
        )
        let critical = try await container.run("journalctl -u dcrond -p err -o cat --no-pager")
        #expect(
            critical.standardOutput.contains("configuration rejected: /etc/dcrond/jobs.json: job \"hello\": schedule")
        )

        // Removal stops it and leaves no process behind.
        try writeText(container.root + "/etc/dcrond/jobs.json", jobs)
        _ = try await container.run("systemctl reset-failed dcrond; systemctl start dcrond")
        #expect(try await isActive(container))
        let removed = try await container.run("dpkg -r dcrond")
        #expect(removed.status == 0, "dpkg -r: \(removed.standardError)")
        #expect(try await container.run("pgrep -x dcrond").status != 0, "no dcrond process after removal")
        #expect(try await container.run("test -e /usr/bin/dcrond").status != 0)
    }

    private func records(_ container: BootedContainer, _ filter: String) async throws -> [[String: String]] {
        let output = try await container.run("journalctl --no-pager -o json \(filter)")
        return output.standardOutput.split(separator: "\n").compactMap { line in
            guard case .object(let members)? = try? JSONParser.parse(Array(line.utf8)) else { return nil }
            var fields: [String: String] = [:]
            for member in members { if case .string(let text) = member.value { fields[member.key] = text } }
            return fields
        }
    }

    private func mainPID(_ container: BootedContainer) async throws -> String {
        try await container.run("systemctl show -p MainPID --value dcrond").standardOutput.trimmingWhitespace()
    }

    private func isActive(_ container: BootedContainer) async throws -> Bool {
        try await container.run("systemctl is-active dcrond").standardOutput.hasPrefix("active")
    }

    private func waitUntil(seconds: Int, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return try await condition()
    }
}

enum SystemdEnvironment {
    /// The package to test (`DCROND_DEB`, set by `make test` as root after `make deb`).
    static let package: String? = getenv("DCROND_DEB").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        let parts = split(separator: target, maxSplits: 1, omittingEmptySubsequences: false)
        return parts.count == 2 ? parts[0] + replacement + parts[1] : self
    }
}
