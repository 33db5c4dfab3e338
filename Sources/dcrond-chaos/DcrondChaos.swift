import ArgumentParser
import DcrondTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `make chaos`: a real redis-server and real nodes under injected faults, then an audit of every
/// (job, instant). Exits 1 when the audit finds a duplicate, a loss outside the documented window,
/// or an overlapping forbid run.
@main
struct DcrondChaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcrond-chaos",
        abstract: "Inject faults into a real pool of dcrond nodes and audit every (job, instant).",
        discussion:
            "Faults: \(ChaosFault.allCases.map(\.rawValue).joined(separator: ", ")). Network faults need root (network namespaces, nftables)."
    )

    @Option(help: "Nodes in the pool.") var nodes = 3
    @Option(help: "Jobs every second.") var jobs = 20
    @Option(help: "Seconds of random faults; 0: each fault once.") var duration = 0
    @Option(help: "Comma-separated faults (default: all).") var faults: String?
    @Option(help: "Seed of the fault order and victims.") var seed: UInt64?
    @Option(help: "The dcrond binary (default: next to this one).") var dcrond: String?
    @Flag(help: "Keep the folder with logs and the audit file.") var keep = false
    @Flag(help: "Run against a master, two replicas and three sentinels, with claimReplicas 1.") var sentinel = false

    func validate() throws {
        guard nodes >= 2, nodes <= 20 else { throw ValidationError("--nodes must be 2 to 20") }
        guard jobs >= 1, jobs <= 1000 else { throw ValidationError("--jobs must be 1 to 1000") }
        guard duration >= 0 else { throw ValidationError("--duration must not be negative") }
        if let faults {
            for name in faults.split(separator: ",") where ChaosFault(rawValue: String(name)) == nil {
                throw ValidationError(
                    "unknown fault \"\(name)\"; known: \(ChaosFault.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
        }
    }

    func run() async throws {
        var settings = ChaosSettings()
        settings.nodes = nodes
        settings.jobs = jobs
        settings.duration = duration > 0 ? .seconds(duration) : nil
        if let faults { settings.faults = faults.split(separator: ",").compactMap { ChaosFault(rawValue: String($0)) } }
        if let seed { settings.seed = seed }
        if let dcrond { settings.dcrond = dcrond }
        settings.keepDirectory = keep
        settings.sentinel = sentinel
        signal(SIGPIPE, SIG_IGN)
        let audit = try await ChaosRun(settings: settings).run()
        print(audit.table)
        if !audit.passed { throw ExitCode(1) }
    }
}
