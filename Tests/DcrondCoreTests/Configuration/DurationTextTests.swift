import Testing

@testable import DcrondCore

@Suite("Durations")
struct DurationTextTests {
    @Test(
        "accepted forms",
        arguments: [
            ("500ms", Duration.milliseconds(500)), ("30s", .seconds(30)), ("5m", .seconds(300)),
            ("1h30m", .seconds(5400)),
            ("1.5h", .seconds(5400)), ("2d", .seconds(172_800)), ("0s", .zero), ("1m30s250ms", .milliseconds(90_250)),
            ("0.5m", .seconds(30)), ("1d2h3m4s5ms", .milliseconds(93_784_005)),
        ]
    )
    func accepted(text: String, expected: Duration) throws {
        #expect(try parseDuration(text) == expected)
    }

    static let examples = " (examples: 500ms, 30s, 5m, 1h30m, 1.5h, 2d)"

    @Test(
        "rejected forms say why",
        arguments: [
            ("", ""), ("5", ": 5 needs a unit: ms, s, m, h or d"), ("5 s", ": no spaces"), ("-5s", ": no sign"),
            ("5sec", ": unknown unit \"sec\"; the units are ms, s, m, h and d"), ("s", ""),
            ("1h-30m", ": unexpected \"-30m\""), ("1.2.3s", ": unexpected \".3s\""),
            // Forms a lenient parser takes, and a reader cannot be sure of.
            ("1.s", ": a decimal needs a digit after its point, as in 1.5s"),
            (".5m", ": a decimal needs a digit before its point, as in 0.5m"),
            ("1s1s", ": s is given twice"), ("30s1m", ": units go from the largest to the smallest, as in 1h30m"),
            ("500us", ": us is finer than dcrond keeps; the smallest unit is ms"),
            ("5µs", ": µs is finer than dcrond keeps; the smallest unit is ms"),
        ]
    )
    func rejected(text: String, why: String) {
        let error = #expect(throws: DurationError.self) { try parseDuration(text) }
        #expect(error?.message == "\"\(text)\" is not a duration\(why)\(Self.examples)")
    }

    @Test("a long value is shortened in the message and refused without scanning it")
    func longValue() {
        let text = String(repeating: "9", count: 10_000_000) + "s"
        let error = #expect(throws: DurationError.self) { try parseDuration(text) }
        #expect(error?.message.utf8.count ?? .max < 200)
        #expect(error?.message.contains("(10000001 bytes)") == true)
    }

    @Test("formatting reads back the same duration")
    func roundTrip() throws {
        for text in ["1d2h3m4s5ms", "10s", "1h", "0s", "999ms"] {
            #expect(formatDuration(try parseDuration(text)) == text)
        }
    }
}
