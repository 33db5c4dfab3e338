import ArgumentParser
import DcrondCore
import DcrondTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Round-trip latency and pipeline throughput of ``RedisClient``, measured the way the daemon
/// uses it: from an async task, through the client's own thread and back.
struct RedisBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis",
        abstract: "PING round-trip latency and 10,000-SET pipeline time, over TCP and a unix socket."
    )

    @Option(help: "Benchmark this server instead of starting a private one (redis:// or unix:// address).")
    var redis: String?

    @Option(help: "PINGs per measurement, and SETs per pipeline.")
    var count = 10_000

    @Option(help: "Pipelines to time (the best and the median are printed).")
    var rounds = 7

    @Option(help: "Commands sent before their replies are read, per chunk of a pipeline.")
    var chunk = RedisConnectionOptions().pipelineChunk

    func run() async throws {
        var endpoints: [(String, RedisEndpoint)] = []
        var server: RedisTestServer?
        if let redis {
            endpoints = [("given", try RedisEndpoint(parsing: redis))]
        } else {
            let started = try await RedisTestServer.start()
            server = started
            endpoints = [("tcp", started.tcpEndpoint), ("unix", started.unixEndpoint)]
        }
        defer { server?.stop() }

        print("dcrond-bench redis: \(count) PINGs and \(rounds) pipelines of \(count) SETs per transport")
        for (transport, endpoint) in endpoints {
            var options = RedisConnectionOptions()
            options.pipelineChunk = chunk
            let client = RedisClient(endpoint: endpoint, options: options)
            for _ in 0..<1000 { _ = try await client.send("PING") }  // warm-up

            var latencies: [Duration] = []
            latencies.reserveCapacity(count)
            let clock = ContinuousClock()
            for _ in 0..<count {
                let start = clock.now
                _ = try await client.send("PING")
                latencies.append(clock.now - start)
            }
            latencies.sort()
            let onThread = try await client.measurePingRoundTrips(count: count).sorted()

            let commands = (0..<count).map { RedisCommand("SET", "bench:key:\($0)", "value-\($0)") }
            var pipelineTimes: [Duration] = []
            for _ in 0..<rounds {
                let start = clock.now
                let replies = try await client.pipeline(commands)
                pipelineTimes.append(clock.now - start)
                precondition(replies.count == count && replies.allSatisfy { $0 == .status("OK") })
            }
            pipelineTimes.sort()
            _ = try await client.send("DEL", "bench:key:0")

            print(
                """
                \(transport) \(endpoint)
                  PING round trip from a task:      p50 \(milliseconds(percentile(latencies, 0.50), decimals: 3))  p99 \(milliseconds(percentile(latencies, 0.99), decimals: 3))  max \(milliseconds(latencies.last!, decimals: 3))
                  PING round trip on client thread: p50 \(milliseconds(percentile(onThread, 0.50), decimals: 3))  p99 \(milliseconds(percentile(onThread, 0.99), decimals: 3))  max \(milliseconds(onThread.last!, decimals: 3))
                  \(count)-SET pipeline (chunks of \(chunk)): best \(milliseconds(pipelineTimes.first!, decimals: 3))  median \(milliseconds(percentile(pipelineTimes, 0.5), decimals: 3))
                """
            )
            if let peer = await redisBenchmarkPeer(endpoint) {
                print("  peer redis-benchmark (1 client, same server): \(peer)")
            }
        }
    }

    private func percentile(_ sorted: [Duration], _ fraction: Double) -> Duration {
        sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    /// redis-benchmark's own PING latency and pipelined SET time on the same server, as the floor.
    private func redisBenchmarkPeer(_ endpoint: RedisEndpoint) async -> String? {
        guard access("/usr/bin/redis-benchmark", X_OK) == 0 else { return nil }
        let target: String
        switch endpoint.address {
        case .tcp(let host, let port): target = "-h \(host) -p \(port)"
        case .unix(let path): target = "-s \(path)"
        case .sentinel: return nil  // the benchmark starts its own server
        }
        guard
            let ping = await shellOutput(
                "/usr/bin/redis-benchmark \(target) -c 1 -n \(count) -t ping_mbulk --csv 2>/dev/null"
            ),
            let set = await shellOutput(
                "/usr/bin/redis-benchmark \(target) -c 1 -n \(count * 10) -P \(count) -t set --csv 2>/dev/null"
            )
        else { return nil }
        // CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
        func fields(_ csv: String) -> [String] {
            csv.split(separator: "\n").last.map { $0.split(separator: ",").map { $0.replacingQuotes() } } ?? []
        }
        let pingFields = fields(ping)
        let setFields = fields(set)
        guard pingFields.count >= 7, setFields.count >= 2, let setRate = Double(setFields[1]) else { return nil }
        let pipelineMs = Double(count) / setRate * 1000
        return
            "PING p50 \(pingFields[4]) ms  p99 \(pingFields[6]) ms; \(count) pipelined SETs \(rounded(pipelineMs, decimals: 3)) ms"
    }
}

extension Substring {
    fileprivate func replacingQuotes() -> String { String(filter { $0 != "\"" }) }
}

extension RedisClient {
    /// Times `count` PINGs made on the client's own thread, without the hop from the caller's task:
    /// the benchmark prints both, so the cost of the hop is visible on its own.
    func measurePingRoundTrips(count: Int) throws(RedisConnectionError) -> [Duration] {
        let clock = ContinuousClock()
        var durations: [Duration] = []
        durations.reserveCapacity(count)
        for _ in 0..<count {
            let start = clock.now
            _ = try send("PING")
            durations.append(clock.now - start)
        }
        return durations
    }
}
