import ArgumentParser
import DcrondCore
import DcrondTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Memory over many short runs: a release `dcrond run` with `jobs` jobs due every second
/// (`/bin/true`), its RSS, threads, descriptors and zombie children sampled every 10 s.
struct SoakBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract:
            "RSS, threads, descriptors and zombies of dcrond over many short runs (default 100 a second for 1,000 s: 100,000 runs)."
    )

    @Option(help: "Jobs due every second.")
    var jobs = 100

    @Option(help: "Seconds to run.")
    var seconds = 1000

    @Flag(help: "In a pool with Redis (claims, records, leases' absence), not standalone.")
    var redis = false

    func run() async throws {
        let dcrond = buildProductsDirectory() + "/dcrond"
        guard access(dcrond, X_OK) == 0 else {
            throw ValidationError("build dcrond first (swift build -c release --product dcrond)")
        }
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let directory = server.directory
        let list = (0..<jobs).map { #"{"name": "soak-\#($0)", "schedule": "* * * * * *", "command": "/bin/true"}"# }
        try writeText(directory + "/jobs.json", #"{"jobs": [\#(list.joined(separator: ","))]}"#)
        let address = redis ? #", "redis": "unix://\#(server.socketPath)""# : ""
        try writeText(
            directory + "/soak.json",
            #"{"cluster": "soak", "node": "soak-1", "timezone": "UTC", "jobs": "jobs.json"\#(address)}"#
        )
        print(
            "dcrond-bench soak: \(jobs) jobs every second for \(seconds) s (\(jobs * seconds) runs), \(redis ? "with Redis" : "standalone")"
        )
        let pid = try spawn(
            [dcrond, "run", "--config", directory + "/soak.json"],
            standardOutput: "/dev/null",
            standardError: "/dev/null"
        )
        defer {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        var samples: [(second: Int, rss: Int)] = []
        for second in stride(from: 0, through: seconds, by: 10) {
            if second > 0 { try await Task.sleep(for: .seconds(10)) }
            let sample = (
                rss: residentKilobytes(pid), threads: entries("/proc/\(pid)/task"), fds: entries("/proc/\(pid)/fd"),
                zombies: zombies(of: pid)
            )
            samples.append((second, sample.rss))
            print(
                "  t=\(second) s: RSS \(sample.rss) KB, \(sample.threads) threads, \(sample.fds) descriptors, \(sample.zombies) zombies"
            )
        }
        // After a minute of warm-up (allocator pools, the first records, metrics families).
        if let warm = samples.first(where: { $0.second >= 60 }), let last = samples.last, last.second > warm.second {
            let growth = last.rss - warm.rss
            print(
                "  growth after warm-up (t=\(warm.second)…\(last.second) s, \(jobs * (last.second - warm.second)) runs): \(growth) KB (aim: < 5 MB)"
            )
        }
    }

    private func entries(_ path: String) -> Int { (FileSystem.entries(of: path) ?? []).count }

    /// Zombie children of `pid`: exited, not reaped.
    private func zombies(of pid: pid_t) -> Int {
        let text = shellOutputBlocking("ps -o stat= --ppid \(pid) 2>/dev/null") ?? ""
        return text.split(separator: "\n").filter { $0.hasPrefix("Z") }.count
    }
}
