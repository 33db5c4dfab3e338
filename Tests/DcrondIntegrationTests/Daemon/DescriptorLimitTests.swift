import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's descriptor limit is its hard limit; its jobs get back the one it started with.
@Suite("Descriptor limit")
struct DescriptorLimitTests {
    /// (soft, hard) of "Max open files" in /proc/PID/limits.
    static func limits(_ pid: pid_t) -> (soft: Int, hard: Int)? {
        guard let bytes = try? FileSystem.readFile("/proc/\(pid)/limits") else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("Max open files")
        {
            let numbers = line.split(separator: " ").compactMap { Int($0) }
            if numbers.count >= 2 { return (numbers[0], numbers[1]) }
        }
        return nil
    }

    @Test("started with a soft limit of 512, the daemon raises it to the hard limit; a job still sees 512")
    func raised() async throws {
        let directory = try makeTemporaryDirectory()
        defer {
            for name in ["dcrond.json", "jobs.json", "limit"] { unlink(directory + "/" + name) }
            rmdir(directory)
        }
        try writeText(directory + "/dcrond.json", #"{"cluster": "c", "node": "n", "timezone": "UTC"}"#)
        try writeText(
            directory + "/jobs.json",
            #"{"jobs": [{"name": "limit", "schedule": "@every 1s", "command": "ulimit -Sn > \#(directory)/limit.tmp; mv \#(directory)/limit.tmp \#(directory)/limit"}]}"#
        )
        let hard = try #require(Self.limits(getpid())).hard
        try #require(hard > 512, "the hard limit here (\(hard)) leaves nothing to raise")
        let pid = try spawn(
            [
                "/bin/sh", "-c", "ulimit -Sn 512 && exec \"$0\" run --config \"$1\"",
                buildProductsDirectory() + "/dcrond", directory + "/dcrond.json",
            ],
            standardOutput: "/dev/null",
            standardError: "/dev/null",
            environment: ["PATH=/usr/bin:/bin"]
        )
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        func jobLimit() -> String {
            (try? FileSystem.readFile(directory + "/limit")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        _ = try await waitFor(seconds: 5) { !jobLimit().isEmpty }
        let daemon = try #require(Self.limits(pid))
        #expect(daemon.soft == hard && daemon.hard == hard)
        #expect(jobLimit() == "512\n")
    }
}
