/// Calendar arithmetic on the proleptic Gregorian calendar, in whole seconds, without Foundation.
///
/// "Local seconds" are seconds since 1970-01-01T00:00:00 of a wall clock: the civil date and time
/// written as if it were UTC. Converting them to an instant needs a zone's offset.
struct CivilTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    var year: Int
    var month: Int  // 1...12
    var day: Int  // 1...31
    var hour: Int  // 0...23
    var minute: Int  // 0...59
    var second: Int  // 0...59

    init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (
            year, month, day, hour, minute, second
        )
    }

    /// The civil time of `localSeconds`.
    init(localSeconds: Int64) {
        let days = floorDivide(localSeconds, 86_400)
        let secondOfDay = Int(localSeconds - days * 86_400)
        (year, month, day) = Calendar.civil(fromDays: days)
        hour = secondOfDay / 3600
        minute = secondOfDay / 60 % 60
        second = secondOfDay % 60
    }

    var localSeconds: Int64 {
        Calendar.days(year: year, month: month, day: day) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    static func < (lhs: CivilTime, rhs: CivilTime) -> Bool { lhs.localSeconds < rhs.localSeconds }

    var description: String {
        "\(pad(year, 4))-\(pad(month))-\(pad(day))T\(pad(hour)):\(pad(minute)):\(pad(second))"
    }
}

enum Calendar {
    /// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
    static func days(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
    static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0)), Int(month), Int(day))
    }

    /// 0 = Sunday ... 6 = Saturday.
    static func weekday(days: Int64) -> Int {
        Int(floorModulo(days + 4, 7))  // 1970-01-01 was a Thursday
    }

    static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

func floorModulo(_ a: Int64, _ b: Int64) -> Int64 {
    a - floorDivide(a, b) * b
}

private func pad(_ value: Int, _ width: Int = 2) -> String {
    let text = String(value)
    return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
}

/// Formats an instant as ISO-8601 with the given UTC offset: `2025-10-26T02:30:00+02:00`.
func formatInstant(_ unixSeconds: Int64, offset: Int) -> String {
    let civil = CivilTime(localSeconds: unixSeconds + Int64(offset))
    let sign = offset < 0 ? "-" : "+"
    let magnitude = abs(offset)
    var zone = "\(sign)\(pad(magnitude / 3600)):\(pad(magnitude / 60 % 60))"
    if magnitude % 60 != 0 { zone += ":\(pad(magnitude % 60))" }
    return civil.description + zone
}

/// Parses ISO-8601 `YYYY-MM-DDTHH:MM[:SS[.fraction]](Z|±HH:MM|±HHMM)` into Unix seconds (the
/// fraction is dropped: instants are whole seconds). Returns nil for anything else.
package func parseInstant(_ text: String) -> Int64? {
    let bytes = Array(text.utf8)
    var index = 0
    func number(_ digits: Int) -> Int? {
        guard index + digits <= bytes.count else { return nil }
        var value = 0
        for byte in bytes[index..<index + digits] {
            guard (48...57).contains(byte) else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        index += digits
        return value
    }
    func expect(_ character: Character) -> Bool {
        guard index < bytes.count, bytes[index] == character.asciiValue! else { return false }
        index += 1
        return true
    }
    guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
        index < bytes.count, bytes[index] == UInt8(ascii: "T") || bytes[index] == UInt8(ascii: " ")
    else { return nil }
    index += 1
    guard let hour = number(2), expect(":"), let minute = number(2) else { return nil }
    var second = 0
    if expect(":") {
        guard let value = number(2) else { return nil }
        second = value
        if expect(".") || expect(",") {
            let start = index
            while index < bytes.count, (48...57).contains(bytes[index]) { index += 1 }
            guard index > start else { return nil }
        }
    }
    guard (1...12).contains(month), (1...Calendar.daysInMonth(year: year, month: month)).contains(day),
        hour < 24, minute < 60, second < 60
    else { return nil }
    var offset = 0
    if expect("Z") || expect("z") {
        offset = 0
    } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
        let negative = bytes[index] == UInt8(ascii: "-")
        index += 1
        guard let hours = number(2) else { return nil }
        _ = expect(":")
        guard let minutes = number(2), hours < 24, minutes < 60 else { return nil }
        offset = (hours * 3600 + minutes * 60) * (negative ? -1 : 1)
    } else {
        return nil
    }
    guard index == bytes.count else { return nil }
    return CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second).localSeconds
        - Int64(offset)
}
