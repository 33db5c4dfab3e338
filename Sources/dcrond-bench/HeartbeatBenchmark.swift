import ArgumentParser
import DcrondCore
import DcrondTestSupport
import Logging

/// The cost of a heartbeat with an empty Redis and with 1,000,000 unrelated keys.
struct HeartbeatBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heartbeat",
        abstract: "Heartbeat round trip and server-side script time, with no other keys and with 1,000,000."
    )

    @Option(help: "Heartbeats per measurement.")
    var count = 2000

    @Option(help: "Nodes in the pool (each heartbeats in turn).")
    var nodes = 10

    func run() async throws {
        let server = try await RedisTestServer.start(["--enable-debug-command", "yes"])
        defer { server.stop() }
        let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let admin = RedisClient(endpoint: server.unixEndpoint)
        let pools = (0..<nodes).map { index in
            NodePool(
                settings: PoolSettings(
                    cluster: "bench",
                    node: "node-\(index)",
                    heartbeat: .seconds(1),
                    nodeTimeout: .seconds(3)
                ),
                redis: RedisClient(endpoint: server.unixEndpoint, logger: quiet),
                description: NodeDescription(fingerprint: "0123456789abcdef", timeZone: "UTC"),
                logger: quiet
            )
        }
        print("dcrond-bench heartbeat: \(count) heartbeats from a pool of \(nodes) nodes, over a unix socket")
        for keys in [0, 1_000_000] {
            if keys > 0 { _ = try await admin.send("DEBUG", "POPULATE", keys, "unrelated") }
            for pool in pools { await pool.heartbeat() }
            _ = try await admin.send("CONFIG", "RESETSTAT")
            var durations: [Duration] = []
            for index in 0..<count {
                let start = ContinuousClock.now
                await pools[index % nodes].heartbeat()
                durations.append(ContinuousClock.now - start)
            }
            durations.sort()
            let info = try await admin.send("INFO", "commandstats").string ?? ""
            let line = info.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_evalsha:") } ?? ""
            let perCall =
                line.split(separator: ",").first { $0.hasPrefix("usec_per_call=") }?.dropFirst("usec_per_call=".count)
                ?? "?"
            let scans = info.contains("cmdstat_scan") || info.contains("cmdstat_keys") ? "yes" : "none"
            let dbsize = try await admin.send("DBSIZE").integer ?? 0
            print(
                "  \(dbsize) keys: round trip p50 \(milliseconds(durations[count / 2])) p99 \(milliseconds(durations[count * 99 / 100])); script \(perCall) µs per call in Redis; SCAN/KEYS calls: \(scans)"
            )
        }
    }
}
