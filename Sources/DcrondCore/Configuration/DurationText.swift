/// A duration that cannot be read, with the reason.
package struct DurationError: Error, Sendable, Equatable {
    package let message: String
}

/// Parses durations written as a sequence of numbers with units, as in Go: `500ms`, `30s`, `5m`,
/// `1h30m`, `1.5h`, `2d`. Units: `ms`, `s`, `m`, `h`, `d` (24 h). No sign, no spaces.
package func parseDuration(_ text: String) throws(DurationError) -> Duration {
    func fail() -> DurationError {
        DurationError(message: "\"\(text)\" is not a duration (examples: 500ms, 30s, 5m, 1h30m, 2d)")
    }
    let bytes = Array(text.utf8)
    guard !bytes.isEmpty else { throw fail() }
    var index = 0
    var totalMilliseconds: Double = 0
    while index < bytes.count {
        let numberStart = index
        while index < bytes.count, (48...57).contains(bytes[index]) || bytes[index] == UInt8(ascii: ".") { index += 1 }
        guard index > numberStart, let number = Double(String(decoding: bytes[numberStart..<index], as: UTF8.self)) else { throw fail() }
        let unitStart = index
        while index < bytes.count, (97...122).contains(bytes[index]) { index += 1 }
        let unit = String(decoding: bytes[unitStart..<index], as: UTF8.self)
        let scale: Double
        switch unit {
        case "ms": scale = 1
        case "s": scale = 1000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        default: throw fail()
        }
        totalMilliseconds += number * scale
    }
    guard totalMilliseconds < 1e13 else { throw DurationError(message: "\"\(text)\" is too long") }
    return .milliseconds(Int64(totalMilliseconds.rounded()))
}

/// Writes a duration the way it is read: `1h30m`, `500ms`, `0s`.
package func formatDuration(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    var milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
    if milliseconds == 0 { return "0s" }
    var text = ""
    for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] where milliseconds >= size {
        text += "\(milliseconds / size)\(unit)"
        milliseconds %= size
    }
    return text
}

extension Duration {
    /// Whole milliseconds, rounded down: what Redis's `PX`/`PEXPIRE` and log fields take.
    package var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
