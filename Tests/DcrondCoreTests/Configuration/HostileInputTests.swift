import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// Input that passed `check` and then went wrong at run time, or made the check itself unbounded.
@Suite("Hostile and malformed input")
struct HostileInputTests {
    static func job(_ fields: String) -> String {
        #"{"jobs": [{"name": "j", "schedule": "* * * * *", "command": "echo before", "# + fields + "}]}"
    }

    @Test(
        "NUL bytes are refused in every field the system would cut at them",
        arguments: [
            (
                #""user": "root\u0000x""#,
                "DIR/jobs.json: job \"j\": user: contains a NUL byte (\\u0000): the system would cut the value there"
            ),
            (
                #""workingDirectory": "/tmp\u0000/x""#,
                "DIR/jobs.json: job \"j\": workingDirectory: contains a NUL byte (\\u0000): the system would cut the value there"
            ),
            (
                #""description": "a\u0000b""#,
                "DIR/jobs.json: job \"j\": description: contains a NUL byte (\\u0000): the system would cut the value there"
            ),
        ]
    )
    func nulInJobFields(fields: String, expected: String) throws {
        let folder = try ConfigurationFolder(jobs: Self.job(fields))
        #expect(folder.problems() == [expected])
    }

    @Test("a NUL in the command itself is refused, not cut")
    func nulInCommand() throws {
        let folder = try ConfigurationFolder(
            jobs: #"{"jobs": [{"name": "j", "schedule": "* * * * *", "command": "echo before\u0000; rm -rf /tmp/x"}]}"#
        )
        #expect(
            folder.problems() == [
                "DIR/jobs.json: job \"j\": command: contains a NUL byte (\\u0000): the system would cut the value there"
            ]
        )
    }

    @Test(
        "control characters are refused in paths and names",
        arguments: [
            (
                #""workingDirectory": "/tmp\n/x""#,
                "DIR/jobs.json: job \"j\": workingDirectory: contains the control character U+000A (newline), which no path has"
            ),
            (
                #""user": "ro\u001bot""#,
                "DIR/jobs.json: job \"j\": user: contains the control character U+001B, which no name has"
            ),
            (
                #""group": "wh\teel""#,
                "DIR/jobs.json: job \"j\": group: contains the control character U+0009 (tab), which no name has"
            ),
        ]
    )
    func controlCharacters(fields: String, expected: String) throws {
        let folder = try ConfigurationFolder(jobs: Self.job(fields))
        #expect(folder.problems() == [expected])
    }

    @Test(
        "NUL and control characters in the daemon file's address and paths",
        arguments: [
            (
                #"{"cluster": "c", "redis": "redis://h\u0000:1"}"#,
                "DIR/dcrond.json: redis: contains a NUL byte (\\u0000): the system would cut the value there"
            ),
            (
                #"{"cluster": "c", "redis": "redis://h:1\n"}"#,
                "DIR/dcrond.json: redis: invalid Redis address \"redis://h:1\\u{a}\": contains a control character (U+000A)"
            ),
            (
                #"{"cluster": "c", "redis": "redis://h 1"}"#,
                "DIR/dcrond.json: redis: invalid Redis address \"redis://h 1\": contains a space"
            ),
            (
                #"{"cluster": "c", "jobs": "jobs.json\u0000.bak"}"#,
                "DIR/dcrond.json: jobs: contains a NUL byte (\\u0000): the system would cut the value there"
            ),
            (
                #"{"cluster": "c", "redis": "redis://h", "redisPasswordFile": "/p\u0007"}"#,
                "DIR/dcrond.json: redisPasswordFile: contains the control character U+0007, which no path has"
            ),
        ]
    )
    func daemonFields(daemon: String, expected: String) throws {
        let folder = try ConfigurationFolder(daemon: daemon, jobs: #"{"jobs": []}"#)
        #expect(folder.problems() == [expected])
    }

    @Test("a command or environment over execve's limits is refused at check, with the limit")
    func argumentLimits() throws {
        let long = String(repeating: "x", count: 140_000)
        let command = try ConfigurationFolder(
            jobs: #"{"jobs": [{"name": "j", "schedule": "* * * * *", "command": "echo \#(long)"}]}"#
        )
        #expect(
            command.problems() == [
                "DIR/jobs.json: job \"j\": command: is 140005 bytes; the system runs commands of at most 131071 bytes (Argument list too long). Put it in a script and run that"
            ]
        )
        let variable = try ConfigurationFolder(jobs: Self.job(#""environment": {"BIG": "\#(long)"}"#))
        #expect(
            variable.problems() == [
                "DIR/jobs.json: job \"j\": environment.BIG: is 140004 bytes; the system passes variables of at most 131071 bytes (Argument list too long)"
            ]
        )
        // Many variables, each allowed, together over the total.
        let total = ArgumentLimits.totalLimit
        let count = total / 100_000 + 1
        let variables = (0..<count).map { #""V\#($0)": "\#(String(repeating: "y", count: 100_000))""# }.joined(
            separator: ", "
        )
        let many = try ConfigurationFolder(jobs: Self.job(#""environment": {\#(variables)}"#))
        let problems = many.problems()
        #expect(problems.count == 1)
        #expect(
            problems.first?.hasSuffix("the system passes at most \(total) to a program (Argument list too long)")
                == true
        )
        // Right at the edge of one string: accepted.
        let edge = try ConfigurationFolder(
            jobs:
                #"{"jobs": [{"name": "j", "schedule": "* * * * *", "command": "\#(String(repeating: "x", count: 131_071))"}]}"#
        )
        #expect(edge.problems() == [])
        #expect(ArgumentLimits.problem(command: "true", environment: [:], totalLimit: 4096) != nil)
    }

    @Test("the job's umask: octal, default 022")
    func umask() throws {
        let folder = try ConfigurationFolder(
            jobs:
                #"{"jobs": [{"name": "a", "schedule": "@daily", "command": "x"}, {"name": "b", "schedule": "@daily", "command": "x", "umask": "0077"}]}"#
        )
        let table = try folder.load().table
        #expect(table.job(named: "a")?.umask == 0o022)
        #expect(table.job(named: "b")?.umask == 0o077)
        for bad in ["\"999\"", "\"22a\"", "\"01777\"", "\"\"", "18"] {
            let invalid = try ConfigurationFolder(jobs: Self.job(#""umask": \#(bad)"#))
            let problems = invalid.problems()
            #expect(
                problems.count == 1 && problems[0].hasPrefix("DIR/jobs.json: job \"j\": umask: "),
                "\(bad): \(problems)"
            )
        }
    }

    @Test("problems of the daemon file do not hide those of the jobs file")
    func bothFiles() throws {
        let folder = try ConfigurationFolder(
            daemon: #"{"cluster": "c", "hearbeat": "1s", "jobs": "jobs.json"}"#,
            jobs: #"{"jobs": [{"name": "j", "schedule": "0 0 32 * *", "command": "x"}]}"#
        )
        #expect(
            folder.problems() == [
                "DIR/dcrond.json: hearbeat: unknown key (did you mean \"heartbeat\"?)",
                "DIR/jobs.json: job \"j\": schedule: field 3 (day of month): \"32\" is out of range 1-31",
            ]
        )
        // The daemon's zone is broken: jobs are still checked (with UTC for those without one).
        let zone = try ConfigurationFolder(
            daemon: #"{"cluster": "c", "timezone": "Nowhere/Zone"}"#,
            jobs: #"{"jobs": [{"name": "j", "schedule": "* * * * *"}]}"#
        )
        #expect(
            zone.problems() == [
                "DIR/dcrond.json: timezone: \"Nowhere/Zone\" is not a known time zone (no /usr/share/zoneinfo/Nowhere/Zone)",
                "DIR/jobs.json: job \"j\": command: required",
            ]
        )
    }

    @Test("a 1,000,000-element array reports 100 problems and a count of the rest")
    func manyProblems() throws {
        let elements = Array(repeating: "1", count: 1_000_000).joined(separator: ",")
        let folder = try ConfigurationFolder(jobs: #"{"jobs": [\#(elements)]}"#)
        let error = #expect(throws: ConfigurationErrors.self) { try folder.load() }
        #expect(error?.problems.count == 100)
        #expect(error?.count == 1_000_000)
        #expect(error?.lines.last == "… and 999900 more problems")
        #expect((error?.description.utf8.count ?? .max) < 10_000)
    }

    @Test("a 10 MB unknown key is reported shortened, without a suggestion")
    func hugeKey() throws {
        let key = String(repeating: "k", count: 10_000_000)
        let folder = try ConfigurationFolder(jobs: Self.job(#""\#(key)": 1"#))
        let problems = folder.problems()
        #expect(
            problems == [
                "DIR/jobs.json: job \"j\": \(String(repeating: "k", count: 60))… (10000000 bytes): unknown key"
            ]
        )
    }
}
