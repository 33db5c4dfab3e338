import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// What the real binary prints and does with bad input and a hostile host.
@Suite("Hostile input through the command line")
struct HostileInputCommandTests {
    static let dcrond = buildProductsDirectory() + "/dcrond"

    /// A folder with `dcrond.json` and `jobs.json`, removed afterwards.
    final class Folder {
        let path: String
        init(
            daemon: String,
            jobs: String = #"{"jobs": [{"name": "j", "schedule": "@daily", "command": "true"}]}"#
        ) throws {
            path = try makeTemporaryDirectory()
            try writeText(path + "/dcrond.json", daemon)
            try writeText(path + "/jobs.json", jobs)
        }
        var config: String { path + "/dcrond.json" }
        deinit {
            for name in ["dcrond.json", "jobs.json", "redis.password"] { unlink(path + "/" + name) }
            rmdir(path)
        }
    }

    @Test(
        "no output of any command shows the password of an address that is not quite right",
        arguments: [
            "rediss://u:hunter2@h", "Redis://u:hunter2@h", "redis//u:hunter2@h", "unix://u:hunter2@h",
            "http://u:hunter2@h",
            "redis:hunter2@h", "redis://u:hunter2@h:99999", "redis://u:hunter2@h/x", "redis+sentinel://u:hunter2@h",
            "unix:///run/r.sock?password=hunter2", "redis://u:hunter2@[::1", "redis://:hunter2@", " redis://:hunter2@h",
            "redis://:hunter2@127.0.0.1:1",
        ]
    )
    func passwordsNeverPrinted(address: String) async throws {
        let folder = try Folder(
            daemon:
                #"{"cluster": "c", "node": "n", "timezone": "UTC", "redis": "\#(address)", "heartbeat": "100ms", "nodeTimeout": "300ms"}"#
        )
        var outputs: [String] = []
        for arguments in [
            ["check"], ["check", "--connect"], ["status"], ["status", "--json"], ["next", "--job", "j"], ["drain"],
            ["run"],
        ] {
            var command = [Self.dcrond] + arguments + ["--config", folder.config]
            if arguments.first == "run" {
                // An address that parses runs the daemon: stop it after a moment.
                command = ["/usr/bin/timeout", "-s", "TERM", "2"] + command
            }
            let result = try await runProcess(command)
            outputs.append(result.standardOutput + result.standardError)
        }
        for (index, output) in outputs.enumerated() {
            #expect(!output.contains("hunter2"), "command #\(index): \(output)")
        }
        #expect(outputs.contains { $0.contains("***") || $0.contains("redis") })
    }

    @Test("an invalid TZ is the environment's problem, not the file's; a POSIX TZ works")
    func environmentZone() async throws {
        let folder = try Folder(daemon: #"{"cluster": "c", "node": "n"}"#)
        let bogus = try await runProcess(
            [Self.dcrond, "check", "--config", folder.config],
            environment: ["TZ=Bogus/Zone", "PATH=/usr/bin:/bin"]
        )
        #expect(bogus.status == 1)
        #expect(
            bogus.errorLines == [
                "dcrond: error: environment: TZ: \"Bogus/Zone\" is not a known time zone (no /usr/share/zoneinfo/Bogus/Zone); set TZ to a tz database name such as Europe/Berlin, or \"timezone\" in \(folder.config)"
            ]
        )
        let nearMiss = try await runProcess(
            [Self.dcrond, "check", "--config", folder.config],
            environment: ["TZ=America/NewYork"]
        )
        #expect(nearMiss.errorLines.first?.contains("(did you mean \"America/New_York\"?)") == true)
        let posix = try await runProcess(
            [Self.dcrond, "next", "0 12 * * *", "--after", "2025-07-01T00:00:00Z", "--count", "1"],
            environment: ["TZ=EST5EDT,M3.2.0,M11.1.0"]
        )
        #expect(posix.outputLines == ["2025-07-01T12:00:00-04:00"])
        let partial = try await runProcess([Self.dcrond, "next", "0 12 * * *"], environment: ["TZ=CET-1CEST"])
        #expect(partial.status == 2)
        #expect(
            partial.errorLines.first?.hasPrefix(
                "dcrond: error: the environment's TZ: time zone \"CET-1CEST\" is a POSIX TZ rule dcrond cannot use"
            ) == true
        )
        // A "timezone" in the file wins over TZ, as documented.
        let keyed = try Folder(daemon: #"{"cluster": "c", "node": "n", "timezone": "UTC"}"#)
        let fine = try await runProcess(
            [Self.dcrond, "check", "--config", keyed.config],
            environment: ["TZ=Bogus/Zone"]
        )
        #expect(fine.status == 0)
    }

    @Test("next --count is bounded, and the output streams")
    func nextCount() async throws {
        let huge = try await runProcess([Self.dcrond, "next", "* * * * *", "--count", "9223372036854775807"])
        #expect(huge.status == 2)
        #expect(huge.errorLines == ["dcrond: error: --count must be from 1 to 100000"])
        let most = try await runProcess([
            Self.dcrond, "next", "* * * * * *", "--count", "100000", "--time-zone", "UTC", "--after",
            "2025-01-01T00:00:00Z",
        ])
        #expect(most.status == 0)
        #expect(most.outputLines.count == 100_000)
        #expect(most.outputLines.last == "2025-01-02T03:46:40+00:00")
    }

    @Test("check warns of what this host lacks; check --connect fails on it")
    func hostWarnings() async throws {
        let folder = try Folder(
            daemon:
                #"{"cluster": "c", "node": "n", "timezone": "UTC", "redis": "redis://127.0.0.1:1", "redisPasswordFile": "redis.password"}"#,
            jobs:
                #"{"jobs": [{"name": "j", "schedule": "@daily", "command": "true", "workingDirectory": "/nonexistent/dcrond-test"}]}"#
        )
        let result = try await runProcess([Self.dcrond, "check", "--config", folder.config])
        #expect(result.status == 0)
        #expect(
            Array(result.outputLines.dropFirst()) == [
                "warning: \(folder.config): redisPasswordFile: cannot read \(folder.path)/redis.password: No such file or directory: every connection to Redis would fail",
                "warning: \(folder.path)/jobs.json: job \"j\": workingDirectory: /nonexistent/dcrond-test: No such file or directory on this host: every run would fail",
            ]
        )
        let connect = try await runProcess([Self.dcrond, "check", "--connect", "--config", folder.config])
        #expect(connect.status == 1)
        #expect(connect.errorLines.contains { $0.hasPrefix("dcrond: error: cannot reach Redis") })
    }

    @Test(
        "the daemon blanks its environment (a job cannot read it through /proc/$PPID/environ); jobs get their umask, not the daemon's"
    )
    func daemonEnvironmentAndUmask() async throws {
        let output = try makeTemporaryDirectory()
        defer {
            for name in ["environ", "umask-default", "umask-0027"] { unlink(output + "/" + name) }
            rmdir(output)
        }
        let folder = try Folder(
            daemon: #"{"cluster": "c", "node": "n", "timezone": "UTC"}"#,
            jobs: #"""
                {"jobs": [
                  {"name": "environ", "schedule": "@every 1s", "command": "tr '\\0' '\\n' < /proc/$PPID/environ > \#(output)/environ.tmp; mv \#(output)/environ.tmp \#(output)/environ"},
                  {"name": "umask-default", "schedule": "@every 1s", "command": "umask > \#(output)/umask-default"},
                  {"name": "umask-0027", "schedule": "@every 1s", "command": "umask > \#(output)/umask-0027", "umask": "0027"}
                ]}
                """#
        )
        // The daemon itself runs with umask 0: jobs must not inherit it.
        let pid = try spawn(
            ["/bin/sh", "-c", "umask 0; exec \"$0\" run --config \"$1\"", Self.dcrond, folder.config],
            standardOutput: "/dev/null",
            standardError: "/dev/null",
            environment: ["PATH=/usr/bin:/bin", "DCROND_TEST_SECRET=hunter2", "TZ=UTC"]
        )
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        func read(_ name: String) -> String {
            (try? FileSystem.readFile(output + "/" + name)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        for _ in 0..<50 where read("environ").isEmpty || read("umask-default").isEmpty || read("umask-0027").isEmpty {
            try await Task.sleep(for: .milliseconds(100))
        }
        let environ = read("environ")
        #expect(!environ.isEmpty)
        #expect(!environ.contains("hunter2"))
        #expect(!environ.contains("PATH="))
        #expect(read("umask-default") == "0022\n")
        #expect(read("umask-0027") == "0027\n")
    }
}
