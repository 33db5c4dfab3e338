import ArgumentParser
import DcrondCore
import DcrondTestSupport
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Start latency: N jobs due at the same instant, from the nominal instant to the first
/// instruction of each child, started by dcrond's runner (directly and through `sh -c`) and by
/// Debian's cron in the same run.
struct SpawnBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spawn",
        abstract:
            "Delay from the nominal instant to each child's first instruction, for N jobs due at once; Debian cron as the baseline."
    )

    @Option(parsing: .upToNextOption, help: "Numbers of jobs due at the same instant.")
    var counts: [Int] = [1, 200, 1000]

    @Option(help: "Repetitions of the single-job case.")
    var singleRepetitions = 200

    @Option(help: "Spawner threads of the runner (dcrond uses 2).")
    var spawnerThreads = 2

    @Flag(help: "Skip the Debian cron baseline (it waits for minute boundaries: about a minute per count).")
    var noCron = false

    func run() async throws {
        let directory = try makeTemporaryDirectory()
        defer { _ = shellOutputBlocking("rm -rf '\(directory)'") }
        let probe = directory + "/probe"
        try buildProbe(at: probe)
        print("dcrond-bench spawn: delay from the nominal instant to the child's first instruction (CLOCK_REALTIME)")

        let supervisor = ProcessSupervisor(spawnerThreads: spawnerThreads)
        let runner = JobRunner(
            supervisor: supervisor,
            settings: RunnerSettings(node: "bench", cluster: "bench", maxConcurrentRuns: 10_000),
            logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }),
            outputHandler: { _, _ in }
        )
        for mode in ["direct", "sh -c"] {
            for count in counts {
                let output = "\(directory)/out-\(count)-\(mode == "direct" ? "direct" : "shell")"
                let job = JobDefinition(
                    name: "probe",
                    schedule: try Schedule(parsing: "* * * * *"),
                    command: "\(probe) \(output)",
                    workingDirectory: directory
                )
                var delays: [Double] = []
                let rounds = count == 1 ? singleRepetitions : 1
                for _ in 0..<rounds {
                    // The nominal instant: 50 ms ahead, on a whole millisecond.
                    let nominal = (realtimeNanoseconds() / 1_000_000 + 50) * 1_000_000
                    await sleepUntilRealtime(nominal)
                    await withTaskGroup(of: Void.self) { group in
                        for _ in 0..<count {
                            group.addTask {
                                _ = await runner.run(
                                    job,
                                    scheduledAt: nominal / 1_000_000_000,
                                    forceShell: mode != "direct"
                                )
                            }
                        }
                    }
                    let stamps = try readStamps(output)
                    _ = unlink(output)
                    guard stamps.count == count else { throw ValidationError("\(stamps.count) of \(count) probes ran") }
                    delays += stamps.map { Double($0 - nominal) / 1e6 }
                }
                print("  dcrond \(pad(mode, 6)) N=\(pad(String(count), 4)) \(summary(delays))")
            }
        }
        // The floor on this machine: a C loop of posix_spawn started at the same kind of instant.
        let loop = directory + "/spawn-loop"
        try buildSpawnLoop(at: loop)
        for mode in ["direct", "sh -c"] {
            for count in counts where count > 1 {
                let output = "\(directory)/out-loop-\(count)"
                let nominal = (realtimeNanoseconds() / 1_000_000 + 100) * 1_000_000
                guard
                    shellOutputBlocking(
                        "'\(loop)' \(nominal) \(count) \(mode == "direct" ? 0 : 1) '\(probe)' '\(output)' && echo done"
                    )?.contains("done") == true
                else {
                    throw ValidationError("the posix_spawn loop failed")
                }
                let stamps = try readStamps(output)
                _ = unlink(output)
                print(
                    "  C posix_spawn loop \(pad(mode, 6)) N=\(pad(String(count), 4)) \(summary(stamps.map { Double($0 - nominal) / 1e6 }))"
                )
            }
        }
        if !noCron {
            for count in counts where count > 1 {
                do {
                    let delays = try await cronBaseline(probe: probe, directory: directory, count: count)
                    print("  Debian cron    N=\(pad(String(count), 4)) \(summary(delays))  (from the minute boundary)")
                } catch {
                    print("  Debian cron    N=\(count): not measured: \(error)")
                }
            }
        }
    }

    /// Debian cron with `count` lines in /etc/cron.d, all due at the next minute boundary.
    private func cronBaseline(probe: String, directory: String, count: Int) async throws -> [Double] {
        guard geteuid() == 0 else { throw ValidationError("needs root (to write /etc/cron.d)") }
        if access("/usr/sbin/cron", X_OK) != 0 {
            guard
                shellOutputBlocking(
                    "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cron >/dev/null 2>&1 && echo ok"
                )?.contains("ok") == true
            else {
                throw ValidationError("cron is not installed and apt-get could not install it")
            }
        }
        let output = "\(directory)/out-cron-\(count)"
        let table = "/etc/cron.d/dcrond-bench"
        try writeText(table, String(repeating: "* * * * * root \(probe) \(output)\n", count: count))
        chmod(table, 0o644)
        defer { unlink(table) }
        // In containers pam_loginuid fails and cron then runs nothing; the benchmark's own cron
        // uses a PAM configuration without it (restored afterwards).
        let pam = "/etc/pam.d/cron"
        let originalPAM = try? FileSystem.readFile(pam)
        if let originalPAM {
            let text = String(decoding: originalPAM, as: UTF8.self)
            try writeText(
                pam,
                text.split(separator: "\n", omittingEmptySubsequences: false)
                    .map { $0.contains("pam_loginuid") ? "# \($0)" : String($0) }.joined(separator: "\n")
            )
        }
        defer { if let originalPAM { try? writeText(pam, String(decoding: originalPAM, as: UTF8.self)) } }
        let alreadyRunning = shellOutputBlocking("pgrep -x cron")?.isEmpty == false
        var cronPID: pid_t = 0
        if !alreadyRunning {
            cronPID = try spawn(
                ["/usr/sbin/cron", "-f", "-L", "0"],
                standardOutput: "/dev/null",
                standardError: "/dev/null"
            )
        }
        defer {
            if cronPID > 0 {
                kill(cronPID, SIGTERM)
                var status: Int32 = 0
                waitpid(cronPID, &status, 0)
            }
        }
        // The next minute boundary at least 2 s away, so cron has read the table.
        let now = realtimeNanoseconds()
        var boundary = (now / 60_000_000_000 + 1) * 60_000_000_000
        if boundary - now < 2_000_000_000 { boundary += 60_000_000_000 }
        await sleepUntilRealtime(boundary + 20_000_000_000)  // all of them have started by then
        let stamps = try readStamps(output).filter { $0 >= boundary && $0 < boundary + 60_000_000_000 }
        guard stamps.count == count else {
            throw ValidationError("only \(stamps.count) of \(count) cron jobs ran within 20 s")
        }
        return stamps.map { Double($0 - boundary) / 1e6 }
    }
}
