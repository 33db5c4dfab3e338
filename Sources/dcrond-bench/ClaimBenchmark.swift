import ArgumentParser
import DcrondCore
import DcrondTestSupport
import Logging

/// What `claimReplicas` costs: one claim after another over TCP loopback, with no `WAIT` (the
/// default), and with `WAIT 1` to a replica, against a bare `PING` round trip as the floor.
struct ClaimBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claims",
        abstract: "Claim round trip with claimReplicas 0 and 1 (a real replica), against a PING."
    )

    @Option(help: "Claims per measurement.")
    var count = 5000

    func run() async throws {
        let master = try await RedisTestServer.start()
        defer { master.stop() }
        let replica = try await RedisTestServer.start(["--replicaof", "127.0.0.1", String(master.port)])
        defer { replica.stop() }
        guard try await waitFor(seconds: 15, { master.onlineReplicas() == 1 }) else {
            throw HarnessError("the replica did not sync within 15 s")
        }
        let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        print("dcrond-bench claims: \(count) claims one after another, TCP loopback, one replica")
        let ping = RedisClient(endpoint: master.tcpEndpoint, logger: quiet)
        var pings: [Duration] = []
        for _ in 0..<count {
            let start = ContinuousClock.now
            _ = try await ping.send("PING")
            pings.append(ContinuousClock.now - start)
        }
        report("PING (the floor)", pings)
        for replicas in [0, 1] {
            let store = RedisClaimStore(
                redis: RedisClient(endpoint: master.tcpEndpoint, logger: quiet),
                cluster: "bench\(replicas)",
                node: "a",
                acknowledgement: ReplicaAcknowledgement(replicas: replicas, timeout: .milliseconds(500)),
                logger: quiet
            )
            var durations: [Duration] = []
            var unacknowledged = 0
            for index in 0..<count {
                let start = ContinuousClock.now
                let result = try await store.claim([
                    ClaimRequest(job: "job-\(index % 100)", instant: Int64(1_000 + index), token: "a r\(index)")
                ])[0]
                durations.append(ContinuousClock.now - start)
                if case .unacknowledged = result { unacknowledged += 1 }
            }
            let stats = try await ping.send("INFO", "commandstats").string ?? ""
            let waits =
                stats.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_wait:") }?
                .split(separator: ",").first?.split(separator: "=").last ?? "0"
            _ = try await ping.send("CONFIG", "RESETSTAT")
            report(
                "claim, claimReplicas \(replicas)",
                durations,
                extra: ", \(waits) WAIT calls" + (replicas > 0 ? ", \(unacknowledged) unacknowledged" : "")
            )
        }
    }

    private func report(_ label: String, _ unsorted: [Duration], extra: String = "") {
        let sorted = unsorted.sorted()
        print(
            "  \(label): p50 \(milliseconds(sorted[sorted.count / 2])) p99 \(milliseconds(sorted[sorted.count * 99 / 100])) max \(milliseconds(sorted[sorted.count - 1]))\(extra)"
        )
    }
}
