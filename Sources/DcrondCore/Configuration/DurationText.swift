/// A duration that cannot be read, with the reason.
package struct DurationError: Error, Sendable, Equatable {
    let message: String
}

/// Parses a duration: one or more parts, each a whole or decimal number and a unit, units from
/// the largest to the smallest and each at most once: `500ms`, `30s`, `5m`, `1h30m`, `1.5h`, `2d`.
/// Units: `d` (24 h), `h`, `m`, `s`, `ms`; a decimal needs digits on both sides of its point. No
/// sign, no spaces. The result is rounded to whole milliseconds.
package func parseDuration(_ text: String) throws(DurationError) -> Duration {
    let shown = shortened(text)
    func fail(_ why: String? = nil) -> DurationError {
        DurationError(
            message:
                "\"\(shown)\" is not a duration\(why.map { ": \($0)" } ?? "") (examples: 500ms, 30s, 5m, 1h30m, 1.5h, 2d)"
        )
    }
    let bytes = Array(text.utf8)
    guard !bytes.isEmpty else { throw fail() }
    guard bytes.count <= 64 else { throw fail("too long") }
    if bytes.contains(UInt8(ascii: " ")) { throw fail("no spaces") }
    if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { throw fail("no sign") }
    let units: [(name: String, milliseconds: Double)] = [
        ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1),
    ]
    var index = 0
    var totalMilliseconds: Double = 0
    var smallestSoFar = -1
    func isDigit(_ byte: UInt8) -> Bool { (48...57).contains(byte) }
    while index < bytes.count {
        let numberStart = index
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        guard index > numberStart else {
            throw fail(bytes[index] == UInt8(ascii: ".") ? "a decimal needs a digit before its point, as in 0.5m" : nil)
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            guard index > fractionStart else { throw fail("a decimal needs a digit after its point, as in 1.5s") }
        }
        guard let number = Double(String(decoding: bytes[numberStart..<index], as: UTF8.self)) else { throw fail() }
        let unitStart = index
        // Letters, and the bytes of a UTF-8 `µ`, so that `µs` is named in the answer.
        while index < bytes.count,
            (97...122).contains(bytes[index]) || (65...90).contains(bytes[index]) || bytes[index] >= 0x80
        { index += 1 }
        let unit = String(decoding: bytes[unitStart..<index], as: UTF8.self)
        if index < bytes.count, !isDigit(bytes[index]) {
            throw fail("unexpected \"\(shortened(String(decoding: bytes[index...], as: UTF8.self), limit: 20))\"")
        }
        guard let position = units.firstIndex(where: { $0.name == unit }) else {
            if unit.isEmpty {
                throw fail(
                    "\(String(decoding: bytes[numberStart..<index], as: UTF8.self)) needs a unit: ms, s, m, h or d"
                )
            }
            if ["us", "µs", "ns"].contains(unit) {
                throw fail("\(unit) is finer than dcrond keeps; the smallest unit is ms")
            }
            throw fail("unknown unit \"\(shortened(unit))\"; the units are ms, s, m, h and d")
        }
        guard position > smallestSoFar else {
            throw fail(
                position == smallestSoFar
                    ? "\(unit) is given twice" : "units go from the largest to the smallest, as in 1h30m"
            )
        }
        smallestSoFar = position
        totalMilliseconds += number * units[position].milliseconds
    }
    guard totalMilliseconds < 1e13 else { throw DurationError(message: "\"\(shown)\" is too long") }
    return .milliseconds(Int64(totalMilliseconds.rounded()))
}

/// `text` itself when short, else its start, an ellipsis and its length: values quoted in messages
/// stay readable whatever was given.
func shortened(_ text: String, limit: Int = 80) -> String {
    guard text.utf8.count > limit else { return text }
    var prefix = ""
    var bytes = 0
    for character in text {
        bytes += character.utf8.count
        if bytes > limit - 20 { break }
        prefix.append(character)
    }
    return prefix + "… (\(text.utf8.count) bytes)"
}

/// Writes a duration the way it is read: `1h30m`, `500ms`, `0s`.
package func formatDuration(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    var milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
    if milliseconds == 0 { return "0s" }
    var text = ""
    for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
    where milliseconds >= size {
        text += "\(milliseconds / size)\(unit)"
        milliseconds %= size
    }
    return text
}

extension Duration {
    /// Whole milliseconds, rounded down: what Redis's `PX`/`PEXPIRE` and log fields take.
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
