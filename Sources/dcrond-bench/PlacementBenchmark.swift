import ArgumentParser
import DcrondCore

/// Placement quality of the hash ring: load balance and movement on join and leave.
struct PlacementBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement",
        abstract: "Load balance (max/mean) and jobs moved on a join or leave, for 10,000 job names."
    )

    @Option(help: "Job names (job-0 ... job-N).")
    var jobs = 10_000

    @Option(help: "Virtual nodes per node.")
    var virtualNodes = 160

    @Option(parsing: .upToNextOption, help: "Cluster sizes.")
    var sizes: [Int] = [3, 10, 30, 100]

    func run() {
        print(Self.report(jobs: jobs, virtualNodes: virtualNodes, sizes: sizes))
    }

    static func report(jobs: Int, virtualNodes: Int, sizes: [Int]) -> String {
        let names = (0..<jobs).map { "job-\($0)" }
        var lines = ["placement: \(jobs) jobs, \(virtualNodes) virtual nodes per node"]
        for size in sizes {
            let nodes = (0..<size).map { "node-\($0)" }
            let figures = PlacementFigures.measure(jobs: names, nodes: nodes, virtualNodes: virtualNodes)
            lines.append(
                "  N=\(size): max/mean load \(rounded(figures.maxOverMean, decimals: 3)); join moves \(rounded(figures.joinMovedFraction, decimals: 3)) of jobs (\(rounded(figures.joinMovedFraction * Double(size + 1), decimals: 3)) × 1/(N+1)), all to the new node: \(figures.joinMovesOnlyToNewNode); leave moves \(rounded(figures.leaveMovedFraction, decimals: 3)) (\(rounded(figures.leaveMovedFraction * Double(size), decimals: 3)) × 1/N), all from the leaving node: \(figures.leaveMovesOnlyFromLeaver)"
            )
        }
        return lines.joined(separator: "\n")
    }
}
