import ArgumentParser
import DcrondCore
import DcrondTestSupport

#if canImport(Glibc)
import Glibc
#endif

// The probes of the start-latency benchmarks (`spawn`, `latency`): a child that stamps its first
// instruction, and the floor to compare with, a C loop of posix_spawn.

/// A static C program that appends its CLOCK_REALTIME at entry, in nanoseconds, to argv[1].
func buildProbe(at path: String) throws {
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
func buildSpawnLoop(at path: String) throws {
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

func readStamps(_ path: String) throws -> [Int64] {
    guard let bytes = try? FileSystem.readFile(path) else { return [] }
    return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { Int64($0) }
}

func summary(_ delays: [Double]) -> String {
    let sorted = delays.sorted()
    func at(_ fraction: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))] }
    return
        "p50 \(milliseconds(at(0.5)))  p99 \(milliseconds(at(0.99)))  max \(milliseconds(sorted.last ?? 0))  (\(sorted.count) starts)"
}
