import CDcrondSystem
import DcrondTestSupport
import Logging
import Synchronization
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// Collects every output line, per run.
final class OutputCollector: Sendable {
    private let lines = Mutex<[(JobRunner.RunContext, OutputLine)]>([])

    var handler: @Sendable (JobRunner.RunContext, OutputLine) -> Void {
        { context, line in self.lines.withLock { $0.append((context, line)) } }
    }

    func texts(run runID: String? = nil, stream: OutputLine.Stream = .stdout) -> [String] {
        lines.withLock { lines in
            lines.filter { (runID == nil || $0.0.runID == runID) && $0.1.stream == stream }.map(\.1.text)
        }
    }

    func all() -> [(JobRunner.RunContext, OutputLine)] { lines.withLock { $0 } }
}

func makeRunner(
    _ collector: OutputCollector,
    maxConcurrentRuns: Int = 64,
    retryBackoff: ExponentialBackoff? = nil
) -> JobRunner {
    JobRunner(
        supervisor: ProcessSupervisor(),
        settings: RunnerSettings(
            node: "node-t",
            cluster: "cluster-t",
            maxConcurrentRuns: maxConcurrentRuns,
            retryBackoff: retryBackoff ?? RunnerSettings.defaultRetryBackoff
        ),
        logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
        outputHandler: collector.handler
    )
}

func testJob(
    _ name: String,
    _ command: String,
    configure: (inout JobDefinition) -> Void = { _ in }
) throws -> JobDefinition {
    var job = JobDefinition(
        name: name,
        schedule: try Schedule(parsing: "* * * * *"),
        command: command,
        workingDirectory: "/tmp"
    )
    configure(&job)
    return job
}

func nowSeconds() -> Int64 { realtimeNanoseconds() / 1_000_000_000 }

/// Live (not zombie) processes in process group `pgid`, from /proc.
func liveProcesses(inGroup pgid: Int32) -> [Int32] {
    guard let directory = opendir("/proc") else { return [] }
    defer { closedir(directory) }
    var members: [Int32] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let pid = Int32(name), let bytes = try? FileSystem.readFile("/proc/\(name)/stat") else { continue }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { continue }
        // After "(comm)": state ppid pgrp ...
        let fields = text[text.index(after: close)...].split(separator: " ")
        if fields.count > 3, fields[0] != "Z", fields[0] != "X", Int32(fields[2]) == pgid { members.append(pid) }
    }
    return members
}

@Suite("Job runner with real processes")
struct JobRunnerTests {
    @Test("exit statuses and signals are reported; plain commands run without a shell")
    func exitStatuses() async throws {
        let collector = OutputCollector()
        let runner = makeRunner(collector)
        let ok = await runner.run(try testJob("ok", "/bin/true"), scheduledAt: nowSeconds())
        #expect(ok.outcome == .succeeded)
        #expect(ok.attempts.map(\.termination) == [.exited(0)])
        let three = await runner.run(try testJob("three", "exit 3"), scheduledAt: nowSeconds())
        #expect(three.outcome == .failed)
        #expect(three.attempts.first?.termination == .exited(3))
        let killed = await runner.run(try testJob("killed", "kill -USR1 $$"), scheduledAt: nowSeconds())
        #expect(killed.attempts.first?.termination == .signaled(SIGUSR1))
        let missing = await runner.run(
            try testJob("missing", "no-such-program-dcrond --flag"),
            scheduledAt: nowSeconds()
        )
        #expect(missing.attempts.first?.termination == .exited(127), "falls back to the shell, which reports 127")
        #expect(collector.texts(run: missing.runID, stream: .stderr) == ["sh: 1: no-such-program-dcrond: not found"])
        let badDirectory = await runner.run(
            try testJob("bad-dir", "/bin/true") { $0.workingDirectory = "/no/such/dir" },
            scheduledAt: nowSeconds()
        )
        #expect(badDirectory.outcome == .failed)
        #expect(badDirectory.attempts.first?.error == "chdir /no/such/dir: No such file or directory")
    }

    @Test("a timeout terminates the whole process tree, SIGKILL for what ignores SIGTERM")
    func timeoutKillsTree() async throws {
        let collector = OutputCollector()
        let runner = makeRunner(collector)
        for (name, command) in [
            ("polite", "sleep 100 & sleep 100"), ("stubborn", "trap '' TERM; sleep 100 & sleep 100"),
        ] {
            let job = try testJob(name, command) {
                $0.timeout = .seconds(1)
                $0.killGrace = .milliseconds(500)
            }
            let started = ContinuousClock.now
            let record = await runner.run(job, scheduledAt: nowSeconds())
            let attempt = try #require(record.attempts.first)
            #expect(attempt.timedOut, "\(name)")
            #expect(attempt.termination == .signaled(name == "polite" ? SIGTERM : SIGKILL), "\(name)")
            // A bound, not a benchmark: beside the other suites in CI a run's end took 5.5 s to reach it.
            #expect(ContinuousClock.now - started < .seconds(10))
            let pgid = try #require(attempt.pid)
            // The group's other members die with the same signal; give the kernel a moment.
            var survivors = liveProcesses(inGroup: pgid)
            for _ in 0..<100 where !survivors.isEmpty {
                try await Task.sleep(for: .milliseconds(20))
                survivors = liveProcesses(inGroup: pgid)
            }
            #expect(survivors.isEmpty, "\(name): processes of group \(pgid) survived: \(survivors)")
        }
    }

    @Test("overlap replace terminates the previous run first; forbid skips the new one")
    func overlapPolicies() async throws {
        let collector = OutputCollector()
        let runner = makeRunner(collector)
        let replace = try testJob("replace", "echo started; sleep 30") {
            $0.overlap = .replace
            $0.killGrace = .seconds(2)
        }
        let first = Task { await runner.run(replace, scheduledAt: nowSeconds()) }
        try await waitUntil { collector.texts().contains("started") }
        let second = await runner.run(
            try testJob("replace", "echo second") { $0.overlap = .replace },
            scheduledAt: nowSeconds()
        )
        let firstRecord = await first.value
        #expect(firstRecord.attempts.first?.terminated == true)
        #expect(firstRecord.attempts.first?.termination == .signaled(SIGTERM))
        #expect(second.outcome == .succeeded)
        #expect(try #require(second.attempts.first).startedAt >= firstRecord.attempts.first!.endedAt)

        let forbid = try testJob("forbid", "echo running; sleep 1") { $0.overlap = .forbid }
        let running = Task { await runner.run(forbid, scheduledAt: nowSeconds()) }
        try await waitUntil { collector.texts().contains("running") }
        let skipped = await runner.run(forbid, scheduledAt: nowSeconds())
        guard case .skipped(let reason) = skipped.outcome else {
            Issue.record("not skipped: \(skipped.outcome)")
            return
        }
        #expect(skipped.rule == .overlap, "the record names the rule explain reports")
        #expect(reason.hasPrefix("overlap is forbid and run "))
        #expect(skipped.attempts.isEmpty)
        #expect(await running.value.outcome == .succeeded)
        #expect(
            await runner.run(forbid, scheduledAt: nowSeconds()).outcome == .succeeded,
            "runs again once the previous one ended"
        )

        let allow = try testJob("allow", "sleep 0.5") { $0.overlap = .allow }
        async let a = runner.run(allow, scheduledAt: nowSeconds())
        async let b = runner.run(allow, scheduledAt: nowSeconds())
        let both = await [a, b]
        #expect(both.map(\.outcome) == [.succeeded, .succeeded])
        #expect(both[0].attempts[0].endedAt > both[1].attempts[0].startedAt, "they overlapped")
    }

    @Test("the environment is exactly as specified: no daemon variables, no descriptors, default signals")
    func environment() async throws {
        ignoreSIGPIPE()  // as the daemon does
        setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1)
        setenv("INVOCATION_ID", "0123", 1)
        setenv("WATCHDOG_USEC", "1000", 1)
        defer { for name in ["NOTIFY_SOCKET", "INVOCATION_ID", "WATCHDOG_USEC"] { unsetenv(name) } }
        // A descriptor without close-on-exec in the daemon, as hiredis's socket is before dcrond sets it.
        let leaky = open("/dev/null", O_RDONLY)
        defer { close(leaky) }
        let collector = OutputCollector()
        let runner = makeRunner(collector)
        let job = try testJob("env-check", "env") { $0.environment = ["LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"] }
        let scheduledAt = nowSeconds()
        let record = await runner.run(job, scheduledAt: scheduledAt, runID: "00000000000000ab")
        #expect(record.outcome == .succeeded)
        let account = try #require(Accounts.user(String(geteuid())))
        #expect(
            Set(collector.texts(run: "00000000000000ab")) == [
                "HOME=\(account.home)", "USER=\(account.name)", "LOGNAME=\(account.name)", "SHELL=/bin/sh",
                "PATH=/usr/bin:/bin",
                "LANG=C.UTF-8", "DCRON_JOB=env-check", "DCRON_SCHEDULED_AT=\(scheduledAt)",
                "DCRON_RUN_ID=00000000000000ab",
                "DCRON_NODE=node-t", "DCRON_CLUSTER=cluster-t", "DCRON_ATTEMPT=1",
                "DCRON_IDEMPOTENCY_KEY=env-check@\(scheduledAt)",
                "DCRON_TRIGGER=schedule",
            ]
        )
        // A manual run says so, and its idempotency key is its own (it has no instant of the schedule).
        let manual = OutputCollector()
        _ = await makeRunner(manual).run(job, scheduledAt: scheduledAt, runID: "00000000000000ac", trigger: .manual)
        #expect(manual.texts(run: "00000000000000ac").contains("DCRON_TRIGGER=manual"))
        #expect(
            manual.texts(run: "00000000000000ac").contains("DCRON_IDEMPOTENCY_KEY=env-check@manual-00000000000000ac")
        )

        let fds = await runner.run(try testJob("fds", "ls /proc/$$/fd"), scheduledAt: nowSeconds())
        #expect(collector.texts(run: fds.runID) == ["0", "1", "2"])
        // The mask of the process dcrond started itself (run directly: a shell blocks every signal
        // in itself while it forks, which a child reading its status could catch).
        let signals = await runner.run(try testJob("signals", "cat /proc/self/status"), scheduledAt: nowSeconds())
        #expect(
            collector.texts(run: signals.runID).filter { $0.hasPrefix("SigBlk") || $0.hasPrefix("SigIgn") }
                == ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"]
        )
        // This process ignores SIGPIPE, as the daemon does; the job above saw the default disposition.
        var action = sigaction()
        sigaction(SIGPIPE, nil, &action)
        #expect(
            unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
        )
        // The spawners reuse their reading of the dispositions for at most 20 ms: one ignored
        // since then is reset in the next child too.
        signal(SIGUSR2, SIG_IGN)
        defer { signal(SIGUSR2, SIG_DFL) }
        try await Task.sleep(for: .milliseconds(40))
        let later = await runner.run(try testJob("signals-later", "cat /proc/self/status"), scheduledAt: nowSeconds())
        #expect(collector.texts(run: later.runID).filter { $0.hasPrefix("SigIgn") } == ["SigIgn:\t0000000000000000"])
    }

    @Test("a disposition changed through dcrond_signals_changed is seen by the next spawn, not 20 ms later")
    func dispositionChangeIsSeenAtOnce() {
        _ = dcrond_signals_not_default_recent()  // a fresh reading on this thread
        signal(SIGURG, SIG_IGN)
        defer {
            signal(SIGURG, SIG_DFL)
            dcrond_signals_changed()
        }
        dcrond_signals_changed()
        #expect(dcrond_signals_not_default_recent() & (1 << (UInt64(SIGURG) - 1)) != 0)
    }

    @Test("jobs run as another user with its groups; a user that no longer exists is refused")
    func otherUser() async throws {
        let collector = OutputCollector()
        let runner = makeRunner(collector)
        let job = try testJob("as-nobody", "id -u; id -g; echo $HOME $USER; pwd") {
            $0.user = "nobody"
            $0.workingDirectory = nil
        }
        let record = await runner.run(job, scheduledAt: nowSeconds())
        if geteuid() == 0 {
            #expect(record.outcome == .succeeded)
            let nobody = try #require(Accounts.user("nobody"))
            #expect(
                collector.texts(run: record.runID) == ["\(nobody.uid)", "\(nobody.gid)", "\(nobody.home) nobody", "/"]
            )
            let grouped = await runner.run(
                try testJob("group", "id -g") {
                    $0.user = "nobody"
                    $0.group = "daemon"
                },
                scheduledAt: nowSeconds()
            )
            #expect(collector.texts(run: grouped.runID) == ["\(try #require(Accounts.groupID("daemon")))"])
        } else {
            #expect(
                record.outcome
                    == .skipped(
                        "cannot run as user \"nobody\" (group \(Accounts.user("nobody")!.gid)): dcrond runs as uid \(geteuid()), not root"
                    )
            )
        }
        let gone = await runner.run(
            try testJob("gone", "true") { $0.user = "dcrond-deleted-user" },
            scheduledAt: nowSeconds()
        )
        #expect(gone.outcome == .skipped("user \"dcrond-deleted-user\" does not exist on this host"))
    }

    @Test("a run already past its starting deadline is skipped with the reason")
    func startingDeadline() async throws {
        let runner = makeRunner(OutputCollector())
        let late = await runner.run(
            try testJob("late", "/bin/true") { $0.startingDeadline = .seconds(60) },
            scheduledAt: nowSeconds() - 3600
        )
        #expect(late.outcome == .skipped("past its starting deadline of 1m: it is 1h late"))
        #expect(late.rule == .startingDeadline)
        #expect(late.attempts.isEmpty)
    }

    @Test("a run called ahead of its instant is admitted before it and starts at it, never before")
    func startAhead() async throws {
        let runner = makeRunner(OutputCollector())
        let directory = try makeTemporaryDirectory()
        defer { _ = shellOutputBlocking("rm -rf '\(directory)'") }
        let startAt = realtimeNanoseconds() + 400_000_000
        let admitted = Mutex<Int64>(0)
        let admission = RunAdmission(
            claim: {
                admitted.withLock { $0 = realtimeNanoseconds() }
                return .start
            },
            acquire: { .start }
        )
        let record = await runner.run(
            try testJob(
                "ahead",
                "date +%s%N > \(directory)/started; cat /proc/self/timerslack_ns > \(directory)/slack"
            ),
            scheduledAt: startAt / 1_000_000_000,
            admission: admission,
            startAt: startAt
        )
        #expect(record.outcome == .succeeded)
        #expect(admitted.withLock { $0 } < startAt, "claimed before the instant")
        let stamp = String(decoding: try FileSystem.readFile(directory + "/started"), as: UTF8.self)
        let childStarted = Int64(stamp.split(separator: "\n").first ?? "")
        #expect(
            (childStarted ?? 0) >= startAt,
            "the child started at its instant, not before: \(childStarted ?? 0) < \(startAt)"
        )
        #expect((record.attempts.first?.startedAt ?? 0) >= startAt / 1_000_000, "the recorded start is the spawn's")
        // The spawner thread waited with a timer slack of 1 µs: not the job, which has the default.
        let slack = String(decoding: try FileSystem.readFile(directory + "/slack"), as: UTF8.self)
        #expect(slack.split(separator: "\n").first == "50000")

        // An instant further away than any dispatch is ahead: the clock was set back since; at once.
        let farAway = realtimeNanoseconds() + 3_600_000_000_000
        let stepped = await runner.run(
            try testJob("stepped", "true"),
            scheduledAt: farAway / 1_000_000_000,
            startAt: farAway
        )
        #expect(stepped.outcome == .succeeded)
        #expect((stepped.attempts.first?.startedAt ?? .max) < farAway / 1_000_000)
    }

    @Test("a start waiting for its instant when the shutdown begins never happens: the run is not claimed")
    func startAheadCancelled() async throws {
        let directory = try makeTemporaryDirectory()
        defer { _ = shellOutputBlocking("rm -rf '\(directory)'") }
        // Once the shutdown has begun, a start for a later instant is refused outright.
        let stopped = makeRunner(OutputCollector())
        await stopped.beginShutdown()
        let refused = await stopped.run(
            try testJob("refused", "touch \(directory)/refused"),
            scheduledAt: nowSeconds() + 1,
            startAt: realtimeNanoseconds() + 500_000_000
        )
        #expect(refused.outcome == .notClaimed)
        #expect(refused.attempts.isEmpty)

        // A start already on its way to the spawner, or waiting there, when the shutdown begins.
        let runner = makeRunner(OutputCollector())
        let startAt = realtimeNanoseconds() + 950_000_000
        let job = try testJob("cancelled", "touch \(directory)/started")
        let run = Task { await runner.run(job, scheduledAt: startAt / 1_000_000_000, startAt: startAt) }
        try await Task.sleep(for: .milliseconds(20))
        runner.cancelWaitingStarts()
        let cancelledAt = realtimeNanoseconds()
        let record = await run.value
        await sleepUntilRealtime(startAt + 300_000_000)
        // Only a machine so loaded that the cancel came after the instant lets the run through.
        if cancelledAt < startAt {
            #expect(record.outcome == .notClaimed)
            #expect(record.attempts.isEmpty)
            #expect(access(directory + "/started", F_OK) != 0, "nothing started at the instant")
        }
        // A start due now is not a waiting one: the shutdown lets it through (a retry is what it stops).
        await runner.beginShutdown()
        let now = await runner.run(try testJob("now", "true"), scheduledAt: nowSeconds())
        #expect(now.outcome == .succeeded)
    }

    @Test("retries use a new DCRON_ATTEMPT each time and stop at the first success")
    func retries() async throws {
        let collector = OutputCollector()
        let runner = makeRunner(
            collector,
            retryBackoff: ExponentialBackoff(initial: .milliseconds(10), maximum: .milliseconds(20))
        )
        let failing = await runner.run(
            try testJob("flaky", "echo $DCRON_ATTEMPT; exit 1") { $0.retries = 2 },
            scheduledAt: nowSeconds()
        )
        #expect(failing.outcome == .failed)
        #expect(failing.attempts.map(\.attempt) == [1, 2, 3])
        #expect(collector.texts(run: failing.runID) == ["1", "2", "3"])
        let second = await runner.run(
            try testJob("second", "echo $DCRON_ATTEMPT; test $DCRON_ATTEMPT = 2") { $0.retries = 5 },
            scheduledAt: nowSeconds()
        )
        #expect(second.outcome == .succeeded)
        #expect(second.attempts.count == 2)
    }

    @Test("the concurrency cap holds runs back in order, and all of them run")
    func concurrencyCap() async throws {
        let collector = OutputCollector()
        let runner = makeRunner(collector, maxConcurrentRuns: 2)
        // Runs long enough to overlap even when a loaded machine starts them slowly.
        let job = try testJob("capped", "echo start; sleep 1; echo end")
        let records = await withTaskGroup(of: RunRecord.self) { group in
            for _ in 0..<5 { group.addTask { await runner.run(job, scheduledAt: nowSeconds()) } }
            return await group.reduce(into: [RunRecord]()) { $0.append($1) }
        }
        #expect(records.allSatisfy { $0.outcome == .succeeded })
        var concurrent = 0
        var most = 0
        for line in collector.texts() {
            concurrent += line == "start" ? 1 : -1
            most = max(most, concurrent)
        }
        #expect(most == 2)
    }

    @Test(
        "output is streamed by line and stream; long lines are cut; output after the main process exits still arrives"
    )
    func output() async throws {
        let collector = OutputCollector()
        let runner = makeRunner(collector)
        let long = ProcessSupervisor.maximumLineLength + 100
        let record = await runner.run(
            try testJob(
                "out",
                """
                echo one; echo two >&2; printf 'partial'; echo; head -c \(long) /dev/zero | tr '\\0' x; echo; echo after-long; printf 'no newline'
                """
            ),
            scheduledAt: nowSeconds()
        )
        #expect(record.outcome == .succeeded)
        let stdout = collector.all().filter { $0.0.runID == record.runID && $0.1.stream == .stdout }.map(\.1)
        #expect(
            stdout.map(\.text) == [
                "one", "partial", String(repeating: "x", count: ProcessSupervisor.maximumLineLength), "after-long",
                "no newline",
            ]
        )
        #expect(stdout.map(\.truncated) == [false, false, true, false, false])
        #expect(collector.texts(run: record.runID, stream: .stderr) == ["two"])

        // A background process keeps writing after the run's main process ended: still read and
        // delivered, never cut off (it would get SIGPIPE if dcrond closed the pipe).
        let background = await runner.run(
            try testJob("background", "(sleep 0.3; echo late; sleep 0.2; echo later) & echo early"),
            scheduledAt: nowSeconds()
        )
        #expect(background.outcome == .succeeded)
        #expect(collector.texts(run: background.runID).first == "early")
        try await waitUntil { collector.texts(run: background.runID).count == 3 }
        #expect(collector.texts(run: background.runID) == ["early", "late", "later"])
    }

    @Test(
        "the supervisor's shutdown kills and reaps what is left, ends its threads, closes its descriptors, refuses launches"
    )
    func supervisorShutdown() async throws {
        let helper = buildProductsDirectory() + "/dcrond-test-helper"
        let result = try await runProcess([helper, "shutdown", "20"])
        #expect(result.status == 0, "\(result.standardError)")
        let report = Dictionary(
            uniqueKeysWithValues: result.standardOutput.split(whereSeparator: { $0 == " " || $0 == "\n" })
                .compactMap { pair in
                    let parts = pair.split(separator: "=")
                    return parts.count == 2 ? (String(parts[0]), Int(parts[1]) ?? -1) : nil
                }
        )
        let before = try #require(report["threads-before"])
        #expect(report["threads-running"] == before + 3, "a watcher and two spawners: \(report)")
        #expect(report["threads-after"] == before, "the supervisor's threads ended: \(report)")
        #expect(report["fds-after"] == report["fds-before"], "its descriptors and its children's closed: \(report)")
        #expect(report["killed"] == 20 && report["alive"] == 0 && report["zombies"] == 0, "\(report)")
        #expect(report["refused"] == 1, "a launch after the shutdown fails: \(report)")
    }

    @Test(
        "100 MB of output does not grow the daemon; 10,000 runs, and 1,000 at once, leave no zombie and no descriptor behind"
    )
    func resourceHygiene() async throws {
        let helper = buildProductsDirectory() + "/dcrond-test-helper"
        func report(_ arguments: [String]) async throws -> [String: Int] {
            let result = try await runProcess([helper] + arguments)
            #expect(result.status == 0, "\(result.standardError)")
            return Dictionary(
                uniqueKeysWithValues: result.standardOutput.split(whereSeparator: { $0 == " " || $0 == "\n" })
                    .compactMap { pair in
                        let parts = pair.split(separator: "=")
                        return parts.count == 2 ? (String(parts[0]), Int(parts[1]) ?? -1) : nil
                    }
            )
        }
        let output = try await report(["output", "100000000"])
        #expect(output["runs-ok"] == 1 && output["lines"] == 100_000)
        let growth = try #require(output["peak-rss-kb-after"]) - (try #require(output["peak-rss-kb-before"]))
        #expect(growth < 4096, "peak RSS grew by \(growth) KB while reading 100 MB")
        let many = try await report(["many-runs", "10000"])
        #expect(many["runs-ok"] == 10_000)
        #expect(many["zombies"] == 0)
        #expect(many["fds-after"] == many["fds-before"])
        // 1,000 children at once: descriptor numbers are reused while others are still being cloned.
        let burst = try await report(["burst", "1000"])
        #expect(burst["runs-ok"] == 1000)
        #expect(burst["zombies"] == 0)
        #expect(burst["fds-after"] == burst["fds-before"])
        // Orphans that keep the output pipes (`setsid sleep 30 &`): the pipes are closed killGrace
        // after the main process exits, so they cannot use up the daemon's descriptors.
        let orphans = try await report(["orphans", "50"])
        #expect(orphans["runs-ok"] == 50)
        #expect(orphans["fds-after"] == orphans["fds-before"], "descriptors held for orphans: \(orphans)")
        #expect(orphans["lines"] == 100, "each run's line, and the note that its output was closed")
        _ = await shellOutput("pkill -f 'sleep 30$' || true")
    }
}

/// Polls `condition` every 10 ms for up to 10 s.
func waitUntil(_ condition: () -> Bool) async throws {
    try await within(.seconds(10)) { condition() }
}
