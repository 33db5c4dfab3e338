import DcrondTestSupport
import Testing

@testable import DcrondCore

/// Compares the UTC offsets dcrond reads from the tz database with Python's zoneinfo, which reads
/// the same files with independent code, at random instants from 1900 to 2200: past the files'
/// tables, offsets come from their POSIX rules, which both sides expand on their own.
@Suite("Time zones agree with Python's zoneinfo", .enabled(if: CroniterOracle.enabled))
struct ZoneinfoDifferentialTests {
    static let zones = [
        "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo", "Pacific/Chatham",
        "Asia/Kolkata", "Europe/Dublin", "Pacific/Apia", "Africa/Casablanca", "America/Santiago",
        "Antarctica/Troll", "Asia/Tehran", "America/St_Johns", "Pacific/Kiritimati", "Etc/GMT+5", "UTC",
    ]

    @Test("offsets at 2,000 instants per zone")
    func offsetsAgree() async throws {
        let lines = try await CroniterOracle.runScript("zoneinfo_oracle.py", arguments: ["7", "2000"] + Self.zones)
        #expect(lines.count == 2000 * Self.zones.count)
        let mismatches = try await onOwnThread { () throws -> [String] in
            var rules: [String: TimeZoneRules] = [:]
            var mismatches: [String] = []
            for line in lines {
                let columns = line.split(separator: "\t").map(String.init)
                guard columns.count == 3, let instant = Int64(columns[1]), let expected = Int(columns[2]) else {
                    mismatches.append("bad oracle line: \(line)")
                    continue
                }
                let zone = try rules[columns[0]] ?? TimeZoneRules.named(columns[0])
                rules[columns[0]] = zone
                let actual = zone.offset(at: instant)
                if actual != expected {
                    mismatches.append(
                        "\(columns[0]) at \(formatInstant(instant, offset: 0)): dcrond \(actual), zoneinfo \(expected)"
                    )
                }
            }
            return mismatches
        }
        #expect(
            mismatches.isEmpty,
            "\(mismatches.count) mismatches, first: \(mismatches.prefix(10).joined(separator: "\n"))"
        )
    }
}
