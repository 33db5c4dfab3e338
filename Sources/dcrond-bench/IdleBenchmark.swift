import ArgumentParser
import DcrondCore
import DcrondTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// What an idle daemon costs: CPU time and memory of `dcrond run` with a 10,000-job table whose
/// jobs are not due during the measurement, standalone and in a pool with Redis.
struct IdleBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract:
            "CPU, memory and Redis traffic of an idle dcrond with 10,000 jobs (standalone, with Redis, with metrics scraped), and the cost of the missed-run check."
    )

    @Option(help: "Jobs in the table.")
    var jobs = 10_000

    @Option(help: "Seconds to measure, after 5 s to settle.")
    var seconds = 20

    @Flag(help: "Add one job due every second: the cost of a wake with one due job among all the others.")
    var tick = false

    @Flag(help: "Only the standalone and Redis modes (no metrics, no missed-run check).")
    var short = false

    func run() async throws {
        let dcrond = buildProductsDirectory() + "/dcrond"
        guard access(dcrond, X_OK) == 0 else {
            throw ValidationError("build dcrond first (swift build -c release --product dcrond)")
        }
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let directory = server.directory
        // Daily at a hashed time: none is due within the measurement (unless one hashes into it).
        var list = (0..<jobs).map { #"{"name": "job-\#($0)", "schedule": "H H * * *", "command": "/bin/true"}"# }
        if tick { list.append(#"{"name": "tick", "schedule": "* * * * * *", "command": "/bin/true"}"#) }
        try writeText(directory + "/jobs.json", #"{"jobs": [\#(list.joined(separator: ","))]}"#)
        print(
            "dcrond-bench idle: dcrond run with \(jobs) jobs (H H * * *)\(tick ? " and one every second" : ""), measured over \(seconds) s after 5 s"
        )
        try writeText(
            directory + "/load.json",
            #"{"cluster": "idle", "node": "idle-1", "timezone": "UTC", "jobs": "jobs.json"}"#
        )
        var loadTimes: [Duration] = []
        for _ in 0..<5 {
            let start = ContinuousClock.now
            _ = try ConfigurationLoader.load(configPath: directory + "/load.json")
            loadTimes.append(ContinuousClock.now - start)
        }
        print(
            "  reading and validating the \(jobs)-job table (dcrond check, start-up, reload): best \(milliseconds(loadTimes.min()!, decimals: 1))"
        )
        let metricsPort = try freeLoopbackPort()
        let modes: [(String, String, Bool)] = [
            ("standalone", "", false),
            ("with Redis, heartbeat 1 s", #", "redis": "unix://\#(server.socketPath)""#, false),
            (
                "with Redis and metrics scraped every 15 s",
                #", "redis": "unix://\#(server.socketPath)", "metrics": "127.0.0.1:\#(metricsPort)""#, true
            ),
        ]
        let redis = RedisClient(endpoint: server.unixEndpoint)
        for (mode, settings, scraped) in short ? Array(modes.prefix(2)) : modes {
            let config = directory + "/idle.json"
            try writeText(
                config,
                #"{"cluster": "idle", "node": "idle-1", "timezone": "UTC", "jobs": "jobs.json"\#(settings)}"#
            )
            let pid = try spawn(
                [dcrond, "run", "--config", config],
                standardOutput: "/dev/null",
                standardError: directory + "/idle.log"
            )
            try await Task.sleep(for: .seconds(5))
            let before = try cpuTicks(pid)
            let commandsBefore = try await commandsProcessed(redis)
            var scrapes: [(bytes: Int, time: Duration)] = []
            let end = ContinuousClock.now + .seconds(seconds)
            if scraped {
                while ContinuousClock.now < end {
                    let start = ContinuousClock.now
                    let body = try await httpGet(port: metricsPort, path: "/metrics").body
                    scrapes.append((body.utf8.count, ContinuousClock.now - start))
                    try await Task.sleep(until: min(end, start + .seconds(15)))
                }
            } else {
                try await Task.sleep(until: end)
            }
            let after = try cpuTicks(pid)
            let commands = try await commandsProcessed(redis) - commandsBefore
            let rss = residentKilobytes(pid)
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
            let cpuSeconds = Double(after - before) / ticksPerSecond
            var line =
                "  \(mode): \(milliseconds(cpuSeconds * 1000, decimals: 0)) of CPU in \(seconds) s (\(rounded(cpuSeconds / Double(seconds) * 100, decimals: 2)) % of one core); RSS \(rss / 1024) MB"
            if !settings.isEmpty {
                line +=
                    "; Redis round trips \(rounded(Double(commands) / Double(seconds), decimals: 1))/s from the node"
            }
            print(line)
            if let largest = scrapes.max(by: { $0.bytes < $1.bytes }) {
                let slowest = scrapes.map(\.time).max()!
                print(
                    "    \(scrapes.count) scrapes of /metrics: \(largest.bytes / 1024) KB each, the slowest in \(milliseconds(slowest, decimals: 1))"
                )
            }
        }
        if short { return }
        // The missed-run check: one script for a batch of due instants (the checker sends one per
        // wake, in batches of 1,000). Here: every job of the table due at once, none claimed.
        let claims = RedisClaimStore(redis: redis, cluster: "idle-missed", node: "idle-1")
        var checkTimes: [Duration] = []
        for round in 0..<5 {
            let instants = (0..<jobs).map { (job: "job-\($0)", instant: Int64(1_000 + round)) }
            let start = ContinuousClock.now
            var index = 0
            while index < instants.count {
                _ = try await claims.reportMissed(Array(instants[index..<min(instants.count, index + 1000)]))
                index += 1000
            }
            checkTimes.append(ContinuousClock.now - start)
        }
        print(
            "  missed-run check of \(jobs) due instants (\((jobs + 999) / 1000) round trips of 1,000): best \(milliseconds(checkTimes.min()!, decimals: 1)), median \(milliseconds(checkTimes.sorted()[2], decimals: 1))"
        )
    }

    /// Scripts run by the server (`EVALSHA` and `EVAL` calls): every round trip of an idle node
    /// is one (heartbeat, manual-run poll). `total_commands_processed` would count the commands
    /// inside the scripts too.
    private func commandsProcessed(_ redis: RedisClient) async throws -> Int64 {
        let info = try await redis.send(RedisCommand("INFO", "commandstats")).string ?? ""
        var calls: Int64 = 0
        for line in info.split(whereSeparator: \.isNewline)
        where line.hasPrefix("cmdstat_evalsha:") || line.hasPrefix("cmdstat_eval:") {
            let field = line.split(separator: ":")[1].split(separator: ",").first { $0.hasPrefix("calls=") }
            calls += field.flatMap { Int64($0.dropFirst(6)) } ?? 0
        }
        return calls
    }
}
