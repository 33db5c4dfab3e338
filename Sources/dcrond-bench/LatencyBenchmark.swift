import ArgumentParser
import DcrondCore
import DcrondTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Start latency through the daemon: a release `dcrond run` (standalone, and in a pool with a
/// private redis-server, each run claimed there), N jobs due at the same instant, from the
/// instant to each child's first instruction; the C `posix_spawn` loop in the same run is the
/// floor, and each figure is printed next to its aim (issue 13: within 1.15× of the loop at 200
/// and 1,000 jobs, a single job p50 ≤ 1 ms).
struct LatencyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract:
            "Delay from the instant to each child's first instruction, through dcrond run (with Redis), against a C posix_spawn loop."
    )

    @Option(parsing: .upToNextOption, help: "Numbers of jobs due at the same instant.")
    var counts: [Int] = [1, 200, 1000]

    @Option(help: "Instants of the single job (one a second).")
    var singleRounds = 30

    @Option(help: "Instants of each larger count (one every 5 seconds).")
    var rounds = 5

    @Option(parsing: .upToNextOption, help: "Modes: standalone, redis.")
    var modes: [String] = ["standalone", "redis"]

    @Option(help: "The dcrond binary (default: the one built next to this benchmark).")
    var dcrond: String?

    func run() async throws {
        let dcrond = self.dcrond ?? buildProductsDirectory() + "/dcrond"
        guard access(dcrond, X_OK) == 0 else {
            throw ValidationError("build dcrond first (swift build -c release --product dcrond)")
        }
        let directory = try makeTemporaryDirectory()
        defer { _ = shellOutputBlocking("rm -rf '\(directory)'") }
        let probe = directory + "/probe"
        try buildProbe(at: probe)
        let loop = directory + "/spawn-loop"
        try buildSpawnLoop(at: loop)
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        print(
            "dcrond-bench latency: from the instant to the child's first instruction (CLOCK_REALTIME), direct exec; the C loop runs between the daemon's instants, in the same windows"
        )
        for mode in modes {
            for count in counts {
                let (daemon, loop) = try await measure(
                    dcrond: dcrond,
                    probe: probe,
                    loop: loop,
                    directory: directory,
                    count: count,
                    redis: mode == "redis" ? server.socketPath : nil
                )
                print("  C posix_spawn loop     N=\(pad(String(count), 4)) \(summary(loop))")
                var line = "  dcrond, \(pad(mode, 10))     N=\(pad(String(count), 4)) \(summary(daemon))"
                if count == 1 {
                    let p50 = percentile(daemon, 0.5)
                    line += "   aim p50 ≤ 1 ms: \(p50 <= 1 ? "ok" : "MISSED")"
                } else {
                    let ratio50 = percentile(daemon, 0.5) / percentile(loop, 0.5)
                    let ratio99 = percentile(daemon, 0.99) / percentile(loop, 0.99)
                    line +=
                        "   × loop: p50 \(rounded(ratio50, decimals: 2)), p99 \(rounded(ratio99, decimals: 2)) (aim ≤ 1.15: \(max(ratio50, ratio99) <= 1.15 ? "ok" : "MISSED"))"
                }
                print(line)
            }
        }
    }

    private func percentile(_ values: [Double], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    /// One run of the C loop at `nominal` (Unix ns).
    private func loopDelays(loop: String, probe: String, output: String, count: Int, nominal: Int64) throws -> [Double]
    {
        guard
            shellOutputBlocking("'\(loop)' \(nominal) \(count) 0 '\(probe)' '\(output)' && echo done")?.contains("done")
                == true
        else {
            throw ValidationError("the posix_spawn loop failed")
        }
        let stamps = try readStamps(output)
        _ = unlink(output)
        return stamps.map { Double($0 - nominal) / 1e6 }
    }

    /// `count` jobs due together, every second for one job and every 5 s for more, in a daemon
    /// started for them: the delays of the instants after its READY=1, and of the C loop started
    /// half a period after each of them (the daemon idle then), so both see the same machine.
    private func measure(
        dcrond: String,
        probe: String,
        loop: String,
        directory: String,
        count: Int,
        redis: String?
    ) async throws -> (daemon: [Double], loop: [Double]) {
        // Not in the configuration's folder, as a job's output would not be.
        mkdir(directory + "/out", 0o755)
        let output = "\(directory)/out/daemon-\(count)-\(redis == nil ? "standalone" : "redis")"
        let period: Int64 = count == 1 ? 1 : 5
        let wanted = count == 1 ? singleRounds : rounds
        let schedule = count == 1 ? "* * * * * *" : "*/5 * * * * *"
        let jobs = (0..<count).map {
            #"{"name": "probe-\#($0)", "schedule": "\#(schedule)", "command": "\#(probe) \#(output)"}"#
        }
        try writeText(directory + "/jobs.json", #"{"jobs": [\#(jobs.joined(separator: ","))]}"#)
        let cluster = "latency-\(count)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let settings = redis.map { #", "redis": "unix://\#($0)""# } ?? ""
        try writeText(
            directory + "/dcrond.json",
            #"{"cluster": "\#(cluster)", "node": "n1", "timezone": "UTC", "jobs": "jobs.json", "reloadOnChange": false, "maxConcurrentRuns": 2000\#(settings)}"#
        )
        let socket = try NotifySocket(
            directory: directory,
            name: "notify-latency-\(count)-\(redis == nil ? "s" : "r").sock"
        )
        defer { socket.stop() }
        let pid = try spawn(
            [
                dcrond, "run", "--config", directory + "/dcrond.json", "--log-format", "logfmt", "--log-level",
                "warning",
            ],
            standardOutput: "/dev/null",
            standardError: directory + "/log-latency",
            environment: ["PATH=/usr/bin:/bin", "NOTIFY_SOCKET=\(socket.path)"]
        )
        defer {
            kill(pid, SIGTERM)
            waitpid(pid, nil, 0)
        }
        let started = ContinuousClock.now
        while !socket.messages.contains(where: { $0.hasPrefix("READY=1") }) {
            guard ContinuousClock.now - started < .seconds(60) else {
                throw ValidationError("dcrond did not become ready (see \(directory)/log-latency)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        // The first instant at least a second after READY: nothing of the start-up in it.
        let readyAt = realtimeNanoseconds() / 1_000_000_000
        let first = (readyAt / period + 1) * period + (period == 1 ? 1 : 0)
        let last = first + period * Int64(wanted - 1)
        var loopDelays: [Double] = []
        for round in 0..<Int64(wanted) {
            let nominal = (first + round * period) * 1_000_000_000 + period * 500_000_000
            await sleepUntilRealtime(nominal - 100_000_000)
            loopDelays += try self.loopDelays(
                loop: loop,
                probe: probe,
                output: directory + "/out/loop",
                count: count,
                nominal: nominal
            )
        }
        await sleepUntilRealtime((last + 1) * 1_000_000_000 + (count == 1 ? 300_000_000 : 3_000_000_000))
        let stamps = try readStamps(output).filter {
            $0 >= first * 1_000_000_000 && $0 < (last + period) * 1_000_000_000
        }
        let delays = stamps.map { stamp -> Double in
            let instant = stamp / 1_000_000_000 / period * period
            return Double(stamp - instant * 1_000_000_000) / 1e6
        }
        guard delays.count == count * wanted else {
            throw ValidationError("\(delays.count) of \(count * wanted) runs started (see \(directory)/log-latency)")
        }
        return (delays, loopDelays)
    }
}
