import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// `dcrond run` speaks the service manager's protocol: a real process, a real notification socket
/// standing in for systemd's (the booted-systemd suite runs the same against systemd itself).
@Suite("dcrond run and the service manager: readiness, watchdog, reload answers, file changes, order of output")
struct ServiceProtocolTests {
    static let dcrond = buildProductsDirectory() + "/dcrond"

    private struct Node {
        let directory: String
        let socket: NotifySocket
        let pid: pid_t
        var log: String {
            (try? FileSystem.readFile(directory + "/stderr")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        var runtime: String { directory + "/run" }
    }

    private func start(jobs: String, watchdog: Bool = true) throws -> Node {
        let directory = try makeTemporaryDirectory()
        try writeText(
            directory + "/dcrond.json",
            #"{"cluster": "t", "node": "n1", "jobs": "jobs.json", "timezone": "UTC", "shutdownGrace": "5s"}"#
        )
        try writeText(directory + "/jobs.json", jobs)
        mkdir(directory + "/run", 0o755)
        let socket = try NotifySocket(directory: directory)
        var environment = ["PATH=/usr/bin:/bin", "NOTIFY_SOCKET=\(socket.path)", "RUNTIME_DIRECTORY=\(directory)/run"]
        if watchdog { environment.append("WATCHDOG_USEC=1000000") }
        let pid = try spawn(
            [Self.dcrond, "run", "--config", directory + "/dcrond.json", "--log-format", "logfmt"],
            standardOutput: directory + "/stdout",
            standardError: directory + "/stderr",
            environment: environment
        )
        return Node(directory: directory, socket: socket, pid: pid)
    }

    private func stop(_ node: Node) async throws -> Int32 {
        kill(node.pid, SIGTERM)
        let status = try await onOwnThread { [pid = node.pid] in
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return status
        }
        node.socket.stop()
        _ = try? await runProcess(["/bin/rm", "-rf", node.directory])
        return (status >> 8) & 0xFF
    }

    private func replace(_ node: Node, jobs: String) throws {
        // As an editor saves: a new file renamed over the old one.
        try writeText(node.directory + "/jobs.json.new", jobs)
        rename(node.directory + "/jobs.json.new", node.directory + "/jobs.json")
    }

    private static let hello =
        #"{"jobs": [{"name": "hello", "schedule": "* * * * * *", "command": "echo first-line"}]}"#

    @Test(
        "READY=1 with a status line, then WATCHDOG=1 from the loop at least every half interval; STOPPING=1 at SIGTERM"
    )
    func readyAndWatchdog() async throws {
        let node = try start(jobs: Self.hello)
        #expect(try await waitFor(seconds: 10) { node.socket.messages.contains { $0.hasPrefix("READY=1") } })
        let ready = try #require(node.socket.messages.first { $0.hasPrefix("READY=1") })
        #expect(ready.contains("STATUS=standalone, runs 1 job; next: hello at "), "\(ready)")
        try await Task.sleep(for: .seconds(3))
        let beats = node.socket.timedMessages.filter { $0.text == "WATCHDOG=1" }.map(\.at)
        #expect(beats.count >= 5, "\(beats.count) keep-alives in 3 s")
        let gaps = zip(beats.dropFirst(), beats).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 < .milliseconds(700) }, "the longest gap: \(gaps.max() ?? .zero)")
        #expect(try await stop(node) == 0)
        #expect(node.socket.messages.contains { $0.hasPrefix("STOPPING=1") })
    }

    @Test(
        "dcrond reload: 0 and RELOADING=1 … READY=1 for a valid table; 1 with the problems for an invalid one, which keeps the old table"
    )
    func reloadAnswers() async throws {
        let node = try start(jobs: Self.hello)
        #expect(try await waitFor(seconds: 10) { node.socket.messages.contains { $0.hasPrefix("READY=1") } })
        let valid = try await runProcess([
            Self.dcrond, "reload", "--pid", "\(node.pid)", "--runtime-directory", node.runtime,
        ])
        #expect(valid.status == 0, "\(valid.standardError)")
        #expect(valid.standardOutput.hasPrefix("reloaded: the daemon runs table "))
        let messages = node.socket.messages
        let reloading = try #require(messages.firstIndex { $0.hasPrefix("RELOADING=1") })
        #expect(messages[reloading...].contains { $0.hasPrefix("READY=1") })

        try replace(node, jobs: #"{"jobs": [{"name": "hello", "schedule": "* * * 13 *", "command": "echo"}]}"#)
        let invalid = try await runProcess([
            Self.dcrond, "reload", "--pid", "\(node.pid)", "--runtime-directory", node.runtime,
        ])
        #expect(invalid.status == 1)
        #expect(
            invalid.standardError.contains("reload rejected: \(node.directory)/jobs.json: job \"hello\": schedule"),
            "\(invalid.standardError)"
        )
        #expect(invalid.standardError.contains("the daemon keeps running its table"))
        let before = node.log.components("run started")
        try await Task.sleep(for: .seconds(2))
        #expect(node.log.components("run started") > before, "the old table still runs")
        #expect(node.log.contains(" error reload rejected: "), "logged at error")

        // A daemon that is not there: an error, not a wait.
        let gone = try await runProcess([Self.dcrond, "reload", "--pid", "999999", "--runtime-directory", node.runtime])
        #expect(gone.status == 1 && gone.standardError.contains("cannot signal process 999999"))
        #expect(try await stop(node) == 0)
    }

    @Test("a changed file is reloaded on its own, debounced; reloadOnChange false turns that off")
    func fileChanges() async throws {
        let node = try start(jobs: Self.hello)
        #expect(try await waitFor(seconds: 10) { node.socket.messages.contains { $0.hasPrefix("READY=1") } })
        try replace(
            node,
            jobs:
                #"{"jobs": [{"name": "hello", "schedule": "* * * * * *", "command": "echo first-line"}, {"name": "second", "schedule": "* * * * * *", "command": "echo second-line"}]}"#
        )
        #expect(
            try await waitFor(seconds: 5) { node.log.contains("second-line") },
            "the added job runs without a signal"
        )
        #expect(node.log.components("the configuration files changed: reloading") == 1)

        try writeText(
            node.directory + "/dcrond.json",
            #"{"cluster": "t", "node": "n1", "jobs": "jobs.json", "timezone": "UTC", "reloadOnChange": false, "maxConcurrentRuns": 5, "redis": "redis://127.0.0.1:1"}"#
        )
        #expect(
            try await waitFor(seconds: 5) {
                node.log.contains("changed settings need a restart to apply; the running values stay: redis")
            }
        )
        let reloads = node.log.components("the configuration files changed")
        try replace(node, jobs: Self.hello)
        try await Task.sleep(for: .seconds(2))
        #expect(node.log.components("the configuration files changed") == reloads, "reloadOnChange false: no reload")
        #expect(try await stop(node) == 0)
    }

    @Test("a job's output comes after its run's start record, every time")
    func outputOrder() async throws {
        let node = try start(
            jobs:
                #"{"jobs": [{"name": "a", "schedule": "* * * * * *", "command": "echo early-a"}, {"name": "b", "schedule": "* * * * * *", "command": "echo early-b; echo late-b >&2"}]}"#
        )
        try await Task.sleep(for: .seconds(6))
        let lines = node.log.split(separator: "\n").map(String.init)
        #expect(try await stop(node) == 0)
        var started: Set<String> = []
        var outputs = 0
        for line in lines {
            guard let run = line.split(separator: " ").first(where: { $0.hasPrefix("run=") }) else { continue }
            if line.contains(" run started ") { started.insert(String(run)) }
            if line.contains(" early-") || line.contains(" late-b ") {
                outputs += 1
                #expect(started.contains(String(run)), "output before its start: \(line)")
            }
        }
        #expect(outputs >= 10)
    }

    @Test("an invalid configuration at start: exit 78 (EX_CONFIG), each problem at error, no READY")
    func invalidStart() async throws {
        let node = try start(jobs: #"{"jobs": [{"name": "x", "schedule": "61 * * * *", "command": "echo"}]}"#)
        let status = try await onOwnThread { [pid = node.pid] in
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return (status >> 8) & 0xFF
        }
        #expect(status == 78)
        #expect(
            node.log.contains(" error configuration rejected: \(node.directory)/jobs.json: job \"x\": schedule"),
            "\(node.log)"
        )
        #expect(node.log.contains(" critical not starting: 1 problem in the configuration"))
        #expect(!node.socket.messages.contains { $0.hasPrefix("READY=1") })
        node.socket.stop()
    }
}

extension String {
    fileprivate func components(_ needle: String) -> Int {
        split(separator: needle, omittingEmptySubsequences: false).count - 1
    }
}
