import ArgumentParser

/// Benchmarks that print figures. Each subcommand starts what it needs (a private redis-server,
/// child processes) and stops it afterwards.
@main
struct DcrondBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcrond-bench",
        abstract: "dcrond benchmarks: each prints the figures it measured.",
        subcommands: [
            RedisBenchmark.self, ScheduleBenchmark.self, SpawnBenchmark.self, LatencyBenchmark.self,
            PlacementBenchmark.self,
            HeartbeatBenchmark.self, IdleBenchmark.self, SoakBenchmark.self, ClaimBenchmark.self, ScaleBenchmark.self,
        ]
    )
}
