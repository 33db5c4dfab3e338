import ArgumentParser
import DcrondCore
import DcrondTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The daemon at 10,000 and 100,000 jobs, each figure next to its aim (issue 13): process start to
/// ready and to the first run, a reload and how long it held the scheduling loop, idle CPU, RSS.
///
/// The real `dcrond run`, standalone and in a pool with Redis, told it runs under a service
/// manager: readiness and reloads are read off its notifications (READY=1, RELOADING=1 …
/// READY=1). Start, idle CPU and RSS with the unit's 30 s watchdog; the reload in a second process
/// with a 100 ms watchdog: the loop sends WATCHDOG=1 at every wake (at least every 50 ms), so the
/// longest gap between two keep-alives, less those 50 ms, is the longest the loop was held up.
struct ScaleBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Start, reload, idle CPU and memory of dcrond with 10,000 and 100,000 jobs, next to the aims."
    )

    @Option(parsing: .upToNextOption, help: "Table sizes.")
    var jobs: [Int] = [10_000, 100_000]

    @Option(help: "Seconds of idle CPU measurement.")
    var seconds = 20

    @Option(parsing: .upToNextOption, help: "Modes: standalone, redis.")
    var modes: [String] = ["standalone", "redis"]

    @Option(help: "The dcrond binary (default: the one built next to this benchmark).")
    var dcrond: String?

    private struct Aim {
        let start: Double, reload: Double, rssMB: Int
    }

    private func aim(_ count: Int) -> Aim {
        count <= 10_000 ? Aim(start: 0.2, reload: 0.3, rssMB: 40) : Aim(start: 1.5, reload: 3, rssMB: 150)
    }

    func run() async throws {
        let dcrond = self.dcrond ?? buildProductsDirectory() + "/dcrond"
        guard access(dcrond, X_OK) == 0 else {
            throw ValidationError("build dcrond first (swift build -c release --product dcrond)")
        }
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        print(
            "dcrond-bench scale: dcrond run with N jobs (H H * * *) and one every second, under a notification socket"
        )
        for count in jobs {
            for (mode, settings) in [("standalone", ""), ("with Redis", #", "redis": "unix://\#(server.socketPath)""#)]
            where modes.contains(mode == "standalone" ? "standalone" : "redis") {
                try await measure(count: count, mode: mode, settings: settings, dcrond: dcrond, server: server)
            }
        }
    }

    private func measure(
        count: Int,
        mode: String,
        settings: String,
        dcrond: String,
        server: RedisTestServer
    ) async throws {
        let directory = try makeTemporaryDirectory()
        defer { _ = shellOutputBlocking("rm -rf '\(directory)'") }
        func table(extra: Bool) -> String {
            var list = (0..<count).map { #"{"name": "job-\#($0)", "schedule": "H H * * *", "command": "/bin/true"}"# }
            list.append(
                #"{"name": "tick", "schedule": "* * * * * *", "command": "echo $DCRON_SCHEDULED_AT $(date +%s%N) >> \#(directory)/ticks"}"#
            )
            if extra { list.append(#"{"name": "added", "schedule": "H H * * *", "command": "/bin/true"}"#) }
            return #"{"jobs": [\#(list.joined(separator: ","))]}"#
        }
        try writeText(directory + "/jobs.json", table(extra: false))
        let cluster = "scale-\(count)-\(getpid())"
        try writeText(
            directory + "/dcrond.json",
            #"{"cluster": "\#(cluster)", "node": "n1", "timezone": "UTC", "jobs": "jobs.json", "reloadOnChange": false\#(settings)}"#
        )
        mkdir(directory + "/run", 0o755)
        // First a daemon as the unit runs it (WatchdogSec 30 s: a wake a heartbeat): start, idle, RSS.
        let (pid, socket, startedAt, startedWall) = try start(dcrond, directory, watchdogMicroseconds: 30_000_000)
        var ready: Duration?
        while ContinuousClock.now - startedAt < .seconds(120) {
            if let message = socket.timedMessages.first(where: { $0.text.hasPrefix("READY=1") }) {
                ready = message.at - startedAt
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        guard let ready else { throw ValidationError("no READY=1 within 120 s (see \(directory)/log)") }
        var firstRun: (instant: Int64, started: Int64)?
        while firstRun == nil, ContinuousClock.now - startedAt < ready + .seconds(5) {
            try await Task.sleep(for: .milliseconds(20))
            firstRun = ticks(directory).first { $0.instant * 1_000_000_000 >= startedWall }
        }
        // Idle, with the per-second job: CPU over `seconds`, after 3 s to settle.
        try await Task.sleep(for: .seconds(3))
        let before = try cpuTicks(pid)
        try await Task.sleep(for: .seconds(seconds))
        let cpu = Double(try cpuTicks(pid) - before) / Double(sysconf(Int32(_SC_CLK_TCK)))
        let rss = residentKilobytes(pid) / 1024
        stop(pid, socket)

        // Then one with a 100 ms watchdog, whose loop sends a keep-alive at least every 50 ms: the
        // longest gap between two, less 50 ms, is the longest the loop was held up by the reload.
        try writeText(directory + "/jobs.json", table(extra: false))
        let (watched, beatsSocket, _, watchedWall) = try start(dcrond, directory, watchdogMicroseconds: 100_000)
        defer { stop(watched, beatsSocket) }
        while !beatsSocket.messages.contains(where: { $0.hasPrefix("READY=1") }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        // Instants that passed while this second daemon started are caught up late (with Redis,
        // which remembers the first daemon's claims): start-up, not the reload. Only those due
        // from now on count for the reload.
        let watchedReadyWall = realtimeNanoseconds()
        try await Task.sleep(for: .seconds(2))
        // Reload: a table with one job more, by SIGHUP, to READY=1 after RELOADING=1.
        try writeText(directory + "/jobs.json", table(extra: true))
        let reloadFrom = beatsSocket.timedMessages.count
        let signalled = ContinuousClock.now
        kill(watched, SIGHUP)
        var reload: Duration?
        while ContinuousClock.now - signalled < .seconds(60) {
            let messages = beatsSocket.timedMessages.dropFirst(reloadFrom)
            if let reloading = messages.firstIndex(where: { $0.text.hasPrefix("RELOADING=1") }),
                let done = messages[reloading...].first(where: { $0.text.hasPrefix("READY=1") })
            {
                reload = done.at - signalled
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        try await Task.sleep(for: .milliseconds(500))
        let beats = beatsSocket.timedMessages.dropFirst(reloadFrom).filter { $0.text == "WATCHDOG=1" }.map(\.at)
        let longestGap = zip(beats.dropFirst(), beats).map { $0 - $1 }.max() ?? .zero
        let held = max(.zero, longestGap - .milliseconds(50))
        let watchedTicks = ticks(directory).filter { $0.instant * 1_000_000_000 >= watchedWall }
        let caughtUp = watchedTicks.filter { $0.instant * 1_000_000_000 < watchedReadyWall }.count
        let lateness = watchedTicks.filter { $0.instant * 1_000_000_000 >= watchedReadyWall }.map {
            Double($0.started - $0.instant * 1_000_000_000) / 1e6
        }

        let goal = aim(count)
        func mark(_ ok: Bool) -> String { ok ? "ok" : "MISSED" }
        print("  \(count) jobs, \(mode):")
        print(
            "    process start to READY=1       \(milliseconds(ready, decimals: 0))   (aim ≤ \(milliseconds(goal.start * 1000, decimals: 0)))  \(mark(ready.seconds <= goal.start))"
        )
        if let firstRun {
            let instantAfterStart = Double(firstRun.instant * 1_000_000_000 - startedWall) / 1e6
            print(
                "    first run: its instant came \(milliseconds(instantAfterStart, decimals: 0)) after the process start; it started \(milliseconds(Double(firstRun.started - firstRun.instant * 1_000_000_000) / 1e6, decimals: 1)) after its instant"
            )
        }
        if let reload {
            print(
                "    reload (SIGHUP to READY=1)     \(milliseconds(reload, decimals: 0))   (aim ≤ \(milliseconds(goal.reload * 1000, decimals: 0)))  \(mark(reload.seconds <= goal.reload))"
            )
        } else {
            print("    reload: no answer within 60 s  MISSED")
        }
        print(
            "    loop held up at most           \(milliseconds(held, decimals: 0))   (aim ≤ 10 ms)  \(mark(held <= .milliseconds(10)))  [longest gap between keep-alives \(milliseconds(longestGap, decimals: 0)), sent every 50 ms]"
        )
        print(
            "    idle CPU, one job a second     \(rounded(cpu / Double(seconds) * 100, decimals: 2)) % of a core   (aim < 0.5 %)  \(mark(cpu / Double(seconds) * 100 < 0.5))"
        )
        print("    RSS                            \(rss) MB   (aim ≤ \(goal.rssMB) MB)  \(mark(rss <= goal.rssMB))")
        if !lateness.isEmpty {
            let sorted = lateness.sorted()
            print(
                "    per-second job: \(sorted.count) runs, start after its instant p50 \(milliseconds(sorted[sorted.count / 2], decimals: 1)), max \(milliseconds(sorted.last!, decimals: 1)) (due after READY=1, around the reload; \(caughtUp) more caught up at the start)"
            )
        }
    }

    private func start(
        _ dcrond: String,
        _ directory: String,
        watchdogMicroseconds: Int
    )
        throws -> (pid: pid_t, socket: NotifySocket, at: ContinuousClock.Instant, wall: Int64)
    {
        unlink(directory + "/ticks")
        let socket = try NotifySocket(directory: directory, name: "notify-\(watchdogMicroseconds).sock")
        let at = ContinuousClock.now
        let wall = realtimeNanoseconds()
        let pid = try spawn(
            [dcrond, "run", "--config", directory + "/dcrond.json", "--log-format", "logfmt"],
            standardOutput: "/dev/null",
            standardError: directory + "/log",
            environment: [
                "PATH=/usr/bin:/bin", "NOTIFY_SOCKET=\(socket.path)", "WATCHDOG_USEC=\(watchdogMicroseconds)",
                "RUNTIME_DIRECTORY=\(directory)/run",
            ]
        )
        return (pid, socket, at, wall)
    }

    private func stop(_ pid: pid_t, _ socket: NotifySocket) {
        kill(pid, SIGTERM)
        waitpid(pid, nil, 0)
        socket.stop()
    }

    /// The per-second job's runs: its instant and when it started (Unix nanoseconds).
    private func ticks(_ directory: String) -> [(instant: Int64, started: Int64)] {
        guard let bytes = try? FileSystem.readFile(directory + "/ticks") else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let instant = Int64(parts[0]), let started = Int64(parts[1]) else { return nil }
            return (instant, started)
        }
    }
}
