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

    /// A static C program that appends its CLOCK_REALTIME at entry, in nanoseconds, to argv[1].
    private func buildProbe(at path: String) throws {
        let source = path + ".c"
        try writeText(
            source,
            """
            #include <fcntl.h>
            #include <stdio.h>
            #include <time.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                struct timespec now;
                clock_gettime(CLOCK_REALTIME, &now);
                char line[32];
                int length = snprintf(line, sizeof line, "%lld\\n", (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
                int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
                if (fd < 0 || write(fd, line, length) != length) return 1;
                return 0;
            }
            """
        )
        guard
            shellOutputBlocking("cc -O2 -static -o '\(path)' '\(source)' 2>&1 && echo built")?.contains("built") == true
        else {
            throw ValidationError("cannot compile the probe with cc (apt-get install gcc libc6-dev)")
        }
    }

    /// A C program that sleeps until argv[1] (Unix ns), then posix_spawns argv[2] probes (through
    /// `sh -c` when argv[3] is 1) writing to argv[5], and waits for them.
    private func buildSpawnLoop(at path: String) throws {
        let source = path + ".c"
        try writeText(
            source,
            """
            #define _GNU_SOURCE
            #include <spawn.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <sys/prctl.h>
            #include <sys/wait.h>
            #include <time.h>
            extern char **environ;
            int main(int argc, char **argv) {
                long long nominal = atoll(argv[1]);
                int count = atoi(argv[2]), shell = atoi(argv[3]);
                char command[4096];
                snprintf(command, sizeof command, "%s %s", argv[4], argv[5]);
                char *direct[] = {argv[4], argv[5], NULL};
                char *viaShell[] = {"sh", "-c", command, NULL};
                prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
                struct timespec at = {nominal / 1000000000LL, nominal % 1000000000LL};
                clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, NULL);
                for (int i = 0; i < count; i++) {
                    pid_t pid;
                    if (posix_spawn(&pid, shell ? "/bin/sh" : argv[4], NULL, NULL, shell ? viaShell : direct, environ) != 0) return 1;
                }
                while (wait(NULL) > 0) {}
                return 0;
            }
            """
        )
        guard shellOutputBlocking("cc -O2 -o '\(path)' '\(source)' 2>&1 && echo built")?.contains("built") == true
        else {
            throw ValidationError("cannot compile the posix_spawn loop with cc")
        }
    }

    private func readStamps(_ path: String) throws -> [Int64] {
        guard let bytes = try? FileSystem.readFile(path) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { Int64($0) }
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

private func summary(_ delays: [Double]) -> String {
    let sorted = delays.sorted()
    func at(_ fraction: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))] }
    return
        "p50 \(milliseconds(at(0.5)))  p99 \(milliseconds(at(0.99)))  max \(milliseconds(sorted.last ?? 0))  (\(sorted.count) starts)"
}
