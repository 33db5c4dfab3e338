import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// Compares dcrond's next instants with croniter's (PyPI), over random expressions and start
/// instants in UTC. Needs python3 with croniter; CI installs it and sets DCROND_REQUIRE_CRONITER=1,
/// which turns a missing oracle into a failure instead of a skip.
@Suite("Schedules agree with croniter", .enabled(if: CroniterOracle.enabled))
struct CroniterDifferentialTests {
    @Test("10,000 random expressions give croniter's next five instants")
    func agreesWithCroniter() async throws {
        let lines = try await CroniterOracle.run(seed: 20_261_121, count: 10_000)
        #expect(lines.count == 10_000)
        // Thousands of computations: on a thread of their own, not on the cooperative pool that
        // the other tests running in parallel wait on.
        let (compared, mismatches) = try await onOwnThread { () -> (Int, [String]) in
            var compared = 0
            var mismatches: [String] = []
            for line in lines {
                let columns = line.split(separator: "\t")
                guard columns.count == 3, let start = Int64(columns[1]) else {
                    mismatches.append("bad oracle line: \(line)")
                    continue
                }
                let expression = String(columns[0])
                let expected = columns[2].split(separator: ",").compactMap { Int64($0) }
                let actual: [Int64]
                do {
                    let schedule = try Schedule(parsing: expression)
                    actual = schedule.instants(
                        after: start,
                        count: expected.count,
                        in: .utc,
                        policy: schedule.defaultDSTPolicy
                    )
                } catch {
                    mismatches.append("\(expression): rejected (\(error)) but croniter accepts it")
                    continue
                }
                compared += 1
                if actual != expected {
                    mismatches.append(
                        "\(expression) after \(formatInstant(start, offset: 0)): dcrond \(actual.map { formatInstant($0, offset: 0) }) croniter \(expected.map { formatInstant($0, offset: 0) })"
                    )
                }
            }
            return (compared, mismatches)
        }
        #expect(compared == 10_000)
        #expect(
            mismatches.isEmpty,
            "\(mismatches.count) mismatches, first: \(mismatches.prefix(10).joined(separator: "\n"))"
        )
    }
}

enum CroniterOracle {
    /// A script in Tests/Oracles (this file is Tests/DcrondIntegrationTests/Schedule/...).
    static func path(of script: String) -> String {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/Oracles/" + script
    }

    static var required: Bool { getenv("DCROND_REQUIRE_CRONITER").map { String(cString: $0) == "1" } == true }

    static var available: Bool { system("python3 -c 'import croniter' >/dev/null 2>&1") == 0 }

    static var enabled: Bool { required || available }

    static func run(seed: Int, count: Int) async throws -> [Substring] {
        try await runScript("croniter_oracle.py", arguments: [String(seed), String(count)])
    }

    /// Runs a script of Tests/Oracles with python3 and returns its output lines.
    static func runScript(_ script: String, arguments: [String]) async throws -> [Substring] {
        guard available else {
            throw OracleError("python3 with croniter is needed (pip install croniter==7.0.0)")
        }
        let command = (["python3", path(of: script)] + arguments).map { "'\($0)'" }.joined(separator: " ")
        guard let output = await shellOutput(command) else { throw OracleError("\(script) failed") }
        return output.split(separator: "\n")
    }

    struct OracleError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
