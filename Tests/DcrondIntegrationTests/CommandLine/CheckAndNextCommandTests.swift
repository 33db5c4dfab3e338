import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// The `dcrond check` and `dcrond next` contracts, run as the real binary.
@Suite("dcrond check and next")
struct CheckAndNextCommandTests {
    static let dcrond = buildProductsDirectory() + "/dcrond"
    static var repository: String {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)
        return parts.joined(separator: "/")
    }

    @Test("next prints instants with the zone's offset at each instant")
    func nextExpression() async throws {
        let result = try await runProcess([
            Self.dcrond, "next", "0 30 2 * * *", "--time-zone", "Europe/Berlin",
            "--after", "2025-03-29T12:00:00Z", "--count", "3",
        ])
        #expect(result.status == 0)
        #expect(
            result.outputLines == [
                "2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00", "2025-04-01T02:30:00+02:00",
            ]
        )
        #expect(result.standardError.isEmpty)
        // Default count is 5; the default zone is the host's (TZ here).
        let defaults = try await runProcess(
            [Self.dcrond, "next", "0 0 * * *", "--after", "2025-10-25T12:00:00+02:00"],
            environment: ["TZ=Europe/Berlin", "PATH=/usr/bin:/bin"]
        )
        #expect(
            defaults.outputLines == [
                "2025-10-26T00:00:00+02:00", "2025-10-27T00:00:00+01:00", "2025-10-28T00:00:00+01:00",
                "2025-10-29T00:00:00+01:00", "2025-10-30T00:00:00+01:00",
            ]
        )
    }

    @Test("next with --job hashes H; an invalid expression exits 2 with the error on stderr")
    func nextErrors() async throws {
        let hashed = try await runProcess([
            Self.dcrond, "next", "H H * * *", "--job", "nightly-backup", "--time-zone", "UTC",
            "--after", "2025-01-01T00:00:00Z", "--count", "1",
        ])
        #expect(hashed.outputLines == ["2025-01-01T18:55:00+00:00"])
        let invalid = try await runProcess([Self.dcrond, "next", "0 0 32 * *"])
        #expect(invalid.status == 2)
        #expect(invalid.standardOutput.isEmpty)
        #expect(
            invalid.errorLines == ["dcrond: error: \"0 0 32 * *\": field 3 (day of month): \"32\" is out of range 1-31"]
        )
        let noJob = try await runProcess([Self.dcrond, "next", "H * * * *"])
        #expect(noJob.status == 2)
        let badAfter = try await runProcess([Self.dcrond, "next", "* * * * *", "--after", "tomorrow"])
        #expect(badAfter.status == 2)
        #expect(badAfter.errorLines.first?.contains("--after \"tomorrow\" is not an ISO-8601 instant") == true)
        let badZone = try await runProcess([Self.dcrond, "next", "* * * * *", "--time-zone", "Mars/Olympus"])
        #expect(badZone.status == 2)
    }

    @Test("next --config --job uses the job's schedule, zone and DST policy")
    func nextJob() async throws {
        let result = try await runProcess([
            Self.dcrond, "next", "--config", Self.repository + "/config/dcrond.json",
            "--job", "nightly-backup", "--after", "2025-03-29T12:00:00Z", "--count", "2",
        ])
        #expect(result.status == 0)
        #expect(result.outputLines == ["2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00"])
        let unknown = try await runProcess([
            Self.dcrond, "next", "--config", Self.repository + "/config/dcrond.json", "--job", "nope",
        ])
        #expect(unknown.status == 2)
        #expect(unknown.errorLines == ["dcrond: error: \(Self.repository)/config/jobs.json: no job named \"nope\""])
    }

    @Test("check prints ok with the job count and fingerprint, or every problem with exit status 1")
    func check() async throws {
        // A copy of the example: `check` checks who owns the files, and the checkout's folders are
        // whatever the clone made them.
        let directory = try makeTemporaryDirectory()
        for name in ["dcrond.json", "jobs.json"] {
            try writeText(
                directory + "/" + name,
                String(decoding: try FileSystem.readFile(Self.repository + "/config/" + name), as: UTF8.self)
            )
        }
        let good = try await runProcess([Self.dcrond, "check", "--config", directory + "/dcrond.json"])
        #expect(good.status == 0)
        let loaded = try ConfigurationLoader.load(
            configPath: Self.repository + "/config/dcrond.json",
            trust: .unchecked
        )
        #expect(good.outputLines == ["ok: 8 jobs, fingerprint \(loaded.table.fingerprint)"])

        defer {
            unlink(directory + "/dcrond.json")
            unlink(directory + "/jobs.json")
            rmdir(directory)
        }
        try writeText(directory + "/dcrond.json", #"{"cluster": "c", "timezone": "UTC"}"#)
        try writeText(
            directory + "/jobs.json",
            #"{"jobs": [{"name": "a", "schedule": "0 0 32 * *", "command": "x"}, {"name": "a", "schedule": "@reboot", "command": "y"}]}"#
        )
        let bad = try await runProcess([Self.dcrond, "check", "--config", directory + "/dcrond.json"])
        #expect(bad.status == 1)
        #expect(bad.standardOutput.isEmpty)
        #expect(
            bad.errorLines == [
                "dcrond: error: \(directory)/jobs.json: job \"a\": schedule: field 3 (day of month): \"32\" is out of range 1-31",
                "dcrond: error: \(directory)/jobs.json: job \"a\": name: duplicate: job #1 has the same name (job #2 repeats it)",
                "dcrond: error: \(directory)/jobs.json: job \"a\": schedule: @reboot is not supported: a cluster has no single boot to run at; start the command from a systemd unit instead",
            ]
        )
        let missing = try await runProcess([Self.dcrond, "check", "--config", directory + "/none.json"])
        #expect(missing.status == 1)
        #expect(missing.errorLines == ["dcrond: error: \(directory)/none.json: cannot read: No such file or directory"])
    }

    @Test("a duration option that does not parse says why, in words, not as a Swift value")
    func badDuration() async throws {
        for command in [["trigger", "some-job"], ["reload"]] {
            let result = try await runProcess([Self.dcrond] + command + ["--timeout", "abc"])
            #expect(result.status == 64)
            #expect(
                result.standardError.contains(#"--timeout: "abc" is not a duration (examples: 500ms"#)
                    && !result.standardError.contains("DurationError"),
                "\(result.standardError)"
            )
        }
    }

    @Test("--version prints the version")
    func version() async throws {
        let result = try await runProcess([Self.dcrond, "--version"])
        #expect(result.status == 0)
        #expect(result.outputLines == [DcrondVersion.current])
    }
}
