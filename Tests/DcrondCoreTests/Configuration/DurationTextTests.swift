@testable import DcrondCore
import Testing

@Suite("Durations")
struct DurationTextTests {
    @Test("accepted forms", arguments: [
        ("500ms", Duration.milliseconds(500)), ("30s", .seconds(30)), ("5m", .seconds(300)), ("1h30m", .seconds(5400)),
        ("1.5h", .seconds(5400)), ("2d", .seconds(172_800)), ("0s", .zero), ("1m30s250ms", .milliseconds(90_250)),
    ])
    func accepted(text: String, expected: Duration) throws {
        #expect(try parseDuration(text) == expected)
    }

    @Test("rejected forms", arguments: ["", "5", "5 s", "-5s", "5sec", "s", "1h-30m", "1.2.3s"])
    func rejected(text: String) {
        let error = #expect(throws: DurationError.self) { try parseDuration(text) }
        #expect(error?.message == "\"\(text)\" is not a duration (examples: 500ms, 30s, 5m, 1h30m, 2d)")
    }

    @Test("formatting reads back the same duration")
    func roundTrip() throws {
        for text in ["1d2h3m4s5ms", "10s", "1h", "0s", "999ms"] {
            #expect(formatDuration(try parseDuration(text)) == text)
        }
    }
}
