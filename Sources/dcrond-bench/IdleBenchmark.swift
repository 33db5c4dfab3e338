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
        abstract: "CPU and memory of an idle dcrond with 10,000 jobs (standalone and with Redis)."
    )

    @Option(help: "Jobs in the table.")
    var jobs = 10_000

    @Option(help: "Seconds to measure, after 5 s to settle.")
    var seconds = 20

    func run() async throws {
        let dcrond = buildProductsDirectory() + "/dcrond"
        guard access(dcrond, X_OK) == 0 else { throw ValidationError("build dcrond first (swift build -c release --product dcrond)") }
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let directory = server.directory
        // Daily at a hashed time: none is due within the measurement (unless one hashes into it).
        let list = (0..<jobs).map { #"{"name": "job-\#($0)", "schedule": "H H * * *", "command": "/bin/true"}"# }
        try writeText(directory + "/jobs.json", #"{"jobs": [\#(list.joined(separator: ","))]}"#)
        print("dcrond-bench idle: dcrond run with \(jobs) jobs (H H * * *), measured over \(seconds) s after 5 s")
        try writeText(directory + "/load.json", #"{"cluster": "idle", "node": "idle-1", "timezone": "UTC", "jobs": "jobs.json"}"#)
        var loadTimes: [Duration] = []
        for _ in 0..<5 {
            let start = ContinuousClock.now
            _ = try ConfigurationLoader.load(configPath: directory + "/load.json")
            loadTimes.append(ContinuousClock.now - start)
        }
        print("  reading and validating the \(jobs)-job table (dcrond check, start-up, reload): best \(milliseconds(loadTimes.min()!, decimals: 1))")
        for (mode, redis) in [("standalone", ""), ("with Redis, heartbeat 1 s", #", "redis": "unix://\#(server.socketPath)""#)] {
            let config = directory + "/idle.json"
            try writeText(config, #"{"cluster": "idle", "node": "idle-1", "timezone": "UTC", "jobs": "jobs.json"\#(redis)}"#)
            let pid = try spawn([dcrond, "run", "--config", config], standardOutput: "/dev/null", standardError: directory + "/idle.log")
            try await Task.sleep(for: .seconds(5))
            let before = try cpuTicks(pid)
            try await Task.sleep(for: .seconds(seconds))
            let after = try cpuTicks(pid)
            let rss = residentKilobytes(pid)
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
            let cpuSeconds = Double(after - before) / ticksPerSecond
            print("  \(mode): \(milliseconds(cpuSeconds * 1000, decimals: 0)) of CPU in \(seconds) s (\(rounded(cpuSeconds / Double(seconds) * 100, decimals: 2)) % of one core); RSS \(rss / 1024) MB")
        }
    }

    /// utime + stime of a process, in clock ticks.
    private func cpuTicks(_ pid: pid_t) throws -> Int64 {
        let text = String(decoding: try FileSystem.readFile("/proc/\(pid)/stat"), as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { throw ValidationError("cannot read /proc/\(pid)/stat") }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After "(comm)": state is field 0; utime and stime are fields 11 and 12.
        return (Int64(fields[11]) ?? 0) + (Int64(fields[12]) ?? 0)
    }

    private func residentKilobytes(_ pid: pid_t) -> Int {
        guard let bytes = try? FileSystem.readFile("/proc/\(pid)/status") else { return 0 }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return 0
    }
}
