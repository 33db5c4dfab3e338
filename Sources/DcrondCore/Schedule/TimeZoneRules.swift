import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The UTC offsets of one time zone over time, read from the system tz database (TZif files under
/// `/usr/share/zoneinfo`), as a list of transitions.
///
/// Transitions come from the file's 64-bit table, then from its POSIX TZ footer
/// (`CET-1CEST,M3.5.0,M10.5.0/3`) for the years after the table, up to ``ruleHorizonYear``; after
/// that the last offset holds. Changes of abbreviation or of the DST flag that keep the offset are
/// dropped: only the offset matters for scheduling.
package struct TimeZoneRules: Sendable, Hashable {
    /// The tz database name: `Europe/Berlin`, `UTC`.
    let identifier: String
    /// Instants (Unix seconds) at which the offset changes, ascending.
    private let transitions: [Int64]
    /// `offsets[0]` applies before `transitions[0]`; `offsets[i + 1]` from `transitions[i]` on.
    private let offsets: [Int32]

    /// Footer rules are expanded up to this year.
    static let ruleHorizonYear = 2200

    package static let utc = TimeZoneRules(identifier: "UTC", transitions: [], offsets: [0])

    init(identifier: String, transitions: [Int64], offsets: [Int32]) {
        precondition(offsets.count == transitions.count + 1)
        self.identifier = identifier
        self.transitions = transitions
        self.offsets = offsets
        var hash = StableHash.fnv1a64(identifier.utf8)
        for value in transitions { hash = StableHash.mix64(hash ^ UInt64(bitPattern: value)) }
        for value in offsets { hash = StableHash.mix64(hash ^ UInt64(UInt32(bitPattern: value))) }
        rulesDigest = String(hash, radix: 16)
    }

    /// A span of time with one offset: `[start, end)` in Unix seconds (nil: unbounded).
    struct Segment: Sendable, Hashable {
        let start: Int64?
        let end: Int64?
        let offset: Int
        /// The offset before `start`, if there is a transition there.
        let previousOffset: Int?
        /// The offset from `end` on, if there is a transition there.
        let nextOffset: Int?
    }

    /// The segment containing `instant`.
    func segment(containing instant: Int64) -> Segment {
        // Number of transitions at or before the instant.
        var low = 0
        var high = transitions.count
        while low < high {
            let middle = (low + high) / 2
            if transitions[middle] <= instant { low = middle + 1 } else { high = middle }
        }
        let index = low
        return Segment(
            start: index > 0 ? transitions[index - 1] : nil,
            end: index < transitions.count ? transitions[index] : nil,
            offset: Int(offsets[index]),
            previousOffset: index > 0 ? Int(offsets[index - 1]) : nil,
            nextOffset: index < transitions.count ? Int(offsets[index + 1]) : nil
        )
    }

    /// The UTC offset in seconds at `instant`.
    func offset(at instant: Int64) -> Int { segment(containing: instant).offset }

    /// A canonical description of the rules, for fingerprints: two zones with the same name on
    /// nodes whose tz databases differ produce different descriptions. Computed once per zone
    /// loaded, not per job that names it.
    let rulesDigest: String

    // MARK: - Loading

    /// Where zone files are looked up. `TZDIR` overrides it, as for the C library.
    static var databaseDirectory: String {
        if let value = getenv("TZDIR"), value.pointee != 0 { return String(cString: value) }
        return "/usr/share/zoneinfo"
    }

    /// Loads a zone by tz database name (`Europe/Berlin`), or, as the C library reads `TZ` when
    /// no zone file has that name, from a POSIX TZ rule (`EST5EDT,M3.2.0,M11.1.0`, `<+0530>-5:30`).
    /// `UTC`, `Etc/UTC` and `Z` need no file. A near miss (`America/NewYork`) is answered with the
    /// nearest name of the database.
    package static func named(_ identifier: String) throws(TimeZoneError) -> TimeZoneRules {
        if identifier == "UTC" || identifier == "Z" { return .utc }
        guard isValidName(identifier) else {
            if let rules = posix(identifier) { return rules }
            if looksLikePosixRule(identifier) {
                throw TimeZoneError(
                    identifier: identifier,
                    reason:
                        "is not a POSIX TZ rule dcrond can read, such as EST5EDT,M3.2.0,M11.1.0 (or use a zone name such as America/New_York)"
                )
            }
            throw TimeZoneError(
                identifier: identifier,
                reason:
                    "is neither a tz database name such as Europe/Berlin nor a POSIX TZ rule such as EST5EDT,M3.2.0,M11.1.0"
            )
        }
        let path = databaseDirectory + "/" + identifier
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: 1 << 20)
        } catch {
            guard error.errno == .noSuchFileOrDirectory else {
                throw TimeZoneError(identifier: identifier, reason: "cannot be read: \(error.reason)")
            }
            if let rules = posix(identifier) { return rules }
            let reason: String
            if looksLikePosixRule(identifier) {
                reason =
                    "is a POSIX TZ rule dcrond cannot use: a DST part needs the dates of its changes, as in CET-1CEST,M3.5.0,M10.5.0/3 (or use a zone name such as Europe/Berlin)"
            } else if let suggestion = nearestName(to: identifier) {
                reason = "is not a known time zone (did you mean \"\(suggestion)\"?)"
            } else if access(databaseDirectory + "/UTC", F_OK) != 0 {
                reason = "is not a known time zone (no \(path); is the tzdata package installed?)"
            } else {
                reason = "is not a known time zone (no \(path))"
            }
            throw TimeZoneError(identifier: identifier, reason: reason)
        }
        do {
            var parser = TZifParser(bytes: bytes)
            return try parser.rules(identifier: identifier)
        } catch {
            throw TimeZoneError(identifier: identifier, reason: "\(path) is not a valid TZif file: \(error.reason)")
        }
    }

    /// The rules of a POSIX TZ string, from 1970 to ``ruleHorizonYear``; nil if it is not one. A
    /// rule with a DST part must say when DST starts and ends: the C library's fallback for
    /// `CET-1CEST` (the rules of a `posixrules` file) differs between hosts.
    static func posix(_ text: String) -> TimeZoneRules? {
        guard text.utf8.count <= 128, let rule = PosixTimeZoneRule(text) else { return nil }
        var transitions: [Int64] = []
        var offsets: [Int32] = [Int32(rule.standardOffset)]
        if let daylight = rule.daylight {
            for year in 1970...ruleHorizonYear {
                for (time, offset) in daylight.transitions(in: year, standardOffset: rule.standardOffset) {
                    if let last = transitions.last, time <= last { continue }
                    if Int32(offset) == offsets.last { continue }
                    transitions.append(time)
                    offsets.append(Int32(offset))
                }
            }
        }
        return TimeZoneRules(identifier: text, transitions: transitions, offsets: offsets)
    }

    /// Three or more letters (or `<...>`) then an offset: what a POSIX rule starts with.
    private static func looksLikePosixRule(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var index = 0
        if bytes.first == UInt8(ascii: "<") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: ">")) else { return false }
            index = close + 1
        } else {
            while index < bytes.count, (65...90).contains(bytes[index] & 0xDF) { index += 1 }
            guard index >= 3 else { return false }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
        return index < bytes.count && (48...57).contains(bytes[index])
    }

    /// The host's zone: `TZ` if set (a zone name, `:name`, a path under `zoneinfo/` or a POSIX
    /// rule, judged by ``named(_:)``), else the target of `/etc/localtime`, else `/etc/timezone`,
    /// else UTC.
    static func hostZoneName() -> String {
        if let value = getenv("TZ"), value.pointee != 0 {
            var name = String(cString: value)
            if name.hasPrefix(":") { name.removeFirst() }
            if let zone = name.suffix(after: "zoneinfo/") { name = zone }
            if name != "/etc/localtime" { return name }
        }
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/etc/localtime", &buffer, buffer.count - 1)
        if length > 0 {
            let target = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let name = target.suffix(after: "zoneinfo/"), isValidName(name) { return name }
        }
        if let bytes = try? FileSystem.readFile("/etc/timezone", limit: 4096) {
            let name = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
            if isValidName(name) { return name }
        }
        return "UTC"
    }

    /// The database's name nearest to `name`: equal but for case, `_`, `-` and spaces, or within
    /// two edits. Only for short names: the database is read for each call (an error path).
    static func nearestName(to name: String) -> String? {
        guard name.utf8.count <= 64 else { return nil }
        func folded(_ text: String) -> String {
            String(text.lowercased().filter { $0 != "_" && $0 != "-" && $0 != " " })
        }
        let wanted = folded(name)
        var best: (name: String, distance: Int)?
        for candidate in zoneNames() {
            if folded(candidate) == wanted { return candidate }
            let distance = editDistance(candidate, name)
            if distance <= 2, distance < best?.distance ?? .max { best = (candidate, distance) }
        }
        return best?.name
    }

    /// The zone names of the database: files under it whose name starts with a capital letter,
    /// except the `posix/` and `right/` copies.
    static func zoneNames() -> [String] {
        var names: [String] = []
        func walk(_ relative: String) {
            for entry in FileSystem.entries(of: databaseDirectory + (relative.isEmpty ? "" : "/" + relative)) ?? [] {
                guard let first = entry.name.utf8.first, (65...90).contains(first) else { continue }
                let path = relative.isEmpty ? entry.name : relative + "/" + entry.name
                if entry.isDirectory {
                    if relative.isEmpty && (entry.name == "posix" || entry.name == "right") { continue }
                    if names.count < 10_000 { walk(path) }
                } else {
                    names.append(path)
                }
            }
        }
        walk("")
        return names.sorted()
    }

    private static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix("/") && !name.hasPrefix(".") && !name.contains("..")
            && name.utf8.allSatisfy { byte in
                (65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte)
                    || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
            }
    }
}

/// A time zone that cannot be used.
package struct TimeZoneError: Error, Sendable, Equatable, CustomStringConvertible {
    let identifier: String
    let reason: String
    package var description: String { "\"\(identifier)\" \(reason)" }
}

struct TZifFormatError: Error {
    let reason: String
}

/// Reads RFC 8536 TZif files (version 2 and later; version 1 data is skipped).
private struct TZifParser {
    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func rules(identifier: String) throws(TZifFormatError) -> TimeZoneRules {
        let first = try header()
        guard first.version >= 2 else {
            throw TZifFormatError(reason: "version 1 files (32-bit only) are not supported")
        }
        // Skip the version 1 data block.
        position +=
            first.timeCount * 5 + first.typeCount * 6 + first.charCount + first.leapCount * 8
            + first.isStdCount + first.isUTCount
        let second = try header()
        var times: [Int64] = []
        for _ in 0..<second.timeCount { times.append(try int64()) }
        var typeIndices: [Int] = []
        for _ in 0..<second.timeCount { typeIndices.append(Int(try byte())) }
        var typeOffsets: [Int32] = []
        for _ in 0..<second.typeCount {
            typeOffsets.append(try int32())
            position += 2  // isdst, abbreviation index
        }
        guard !typeOffsets.isEmpty, typeIndices.allSatisfy({ $0 < typeOffsets.count }) else {
            throw TZifFormatError(reason: "bad local time type index")
        }
        position += second.charCount + second.leapCount * 12 + second.isStdCount + second.isUTCount
        let footer = try footerString()

        var transitions: [Int64] = []
        var offsets: [Int32] = [typeOffsets[0]]
        func add(_ time: Int64, _ offset: Int32) {
            if let last = transitions.last, time <= last { return }
            if offset == offsets.last { return }
            transitions.append(time)
            offsets.append(offset)
        }
        for (time, index) in zip(times, typeIndices) { add(time, typeOffsets[index]) }

        if !footer.isEmpty {
            guard let rule = PosixTimeZoneRule(footer) else {
                throw TZifFormatError(reason: "cannot read the footer rule \"\(footer)\"")
            }
            let lastTime = times.last ?? Int64.min
            let startYear = times.isEmpty ? 1970 : CivilTime(localSeconds: lastTime).year
            if let dst = rule.daylight {
                for year in startYear...TimeZoneRules.ruleHorizonYear {
                    for (time, offset) in dst.transitions(in: year, standardOffset: rule.standardOffset)
                    where time > lastTime {
                        add(time, Int32(offset))
                    }
                }
            } else if times.isEmpty {
                // A fixed-offset zone described by its footer alone (`<+0530>-5:30`).
                offsets = [Int32(rule.standardOffset)]
            }
            // Otherwise the table's last transition already set the footer's standard offset.
        }
        return TimeZoneRules(identifier: identifier, transitions: transitions, offsets: offsets)
    }

    struct Header {
        var version: Int
        var isUTCount, isStdCount, leapCount, timeCount, typeCount, charCount: Int
    }

    mutating func header() throws(TZifFormatError) -> Header {
        guard position + 44 <= bytes.count, bytes[position..<position + 4].elementsEqual("TZif".utf8) else {
            throw TZifFormatError(reason: "no TZif header")
        }
        let versionByte = bytes[position + 4]
        position += 20
        let version = versionByte == 0 ? 1 : Int(versionByte) - 48
        var counts: [Int] = []
        for _ in 0..<6 { counts.append(Int(try int32())) }
        return Header(
            version: version,
            isUTCount: counts[0],
            isStdCount: counts[1],
            leapCount: counts[2],
            timeCount: counts[3],
            typeCount: counts[4],
            charCount: counts[5]
        )
    }

    mutating func byte() throws(TZifFormatError) -> UInt8 {
        guard position < bytes.count else { throw TZifFormatError(reason: "truncated") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func int32() throws(TZifFormatError) -> Int32 {
        var value: UInt32 = 0
        for _ in 0..<4 { value = value << 8 | UInt32(try byte()) }
        return Int32(bitPattern: value)
    }

    mutating func int64() throws(TZifFormatError) -> Int64 {
        var value: UInt64 = 0
        for _ in 0..<8 { value = value << 8 | UInt64(try byte()) }
        return Int64(bitPattern: value)
    }

    mutating func footerString() throws(TZifFormatError) -> String {
        guard position < bytes.count, bytes[position] == 10 else { return "" }
        position += 1
        let start = position
        while position < bytes.count, bytes[position] != 10 { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }
}

/// A POSIX TZ string as found in TZif footers: `std offset [dst [offset] [,start[/time],end[/time]]]`.
/// Offsets here are in seconds east of UTC (POSIX writes them west-positive).
struct PosixTimeZoneRule {
    let standardOffset: Int
    let daylight: Daylight?

    struct Daylight {
        let offset: Int
        let start: DateRule
        let startTime: Int  // seconds after local midnight, in standard time
        let end: DateRule
        let endTime: Int  // seconds after local midnight, in daylight time

        /// The two transitions of `year` as (instant, offset from then on), in time order.
        func transitions(in year: Int, standardOffset: Int) -> [(Int64, Int)] {
            let startLocal = start.days(in: year) * 86_400 + Int64(startTime)
            let endLocal = end.days(in: year) * 86_400 + Int64(endTime)
            let toDaylight = (startLocal - Int64(standardOffset), offset)
            let toStandard = (endLocal - Int64(offset), standardOffset)
            return toDaylight.0 < toStandard.0 ? [toDaylight, toStandard] : [toStandard, toDaylight]
        }
    }

    enum DateRule {
        case julianNoLeap(Int)  // Jn: 1...365, February 29 never counted
        case zeroBasedJulian(Int)  // n: 0...365
        case monthWeekDay(month: Int, week: Int, weekday: Int)  // Mm.w.d, week 5 = last

        /// Days since 1970-01-01 of the rule's date in `year`.
        func days(in year: Int) -> Int64 {
            switch self {
            case .julianNoLeap(let n):
                let jan1 = Calendar.days(year: year, month: 1, day: 1)
                let leapShift = Calendar.isLeapYear(year) && n >= 60 ? 1 : 0
                return jan1 + Int64(n - 1 + leapShift)
            case .zeroBasedJulian(let n):
                return Calendar.days(year: year, month: 1, day: 1) + Int64(n)
            case .monthWeekDay(let month, let week, let weekday):
                let first = Calendar.days(year: year, month: month, day: 1)
                var day = 1 + (weekday - Calendar.weekday(days: first) + 7) % 7 + (week - 1) * 7
                let length = Calendar.daysInMonth(year: year, month: month)
                while day > length { day -= 7 }
                return first + Int64(day - 1)
            }
        }
    }

    init?(_ text: String) {
        var scanner = Scanner(Array(text.utf8))
        guard scanner.skipName(), let standard = scanner.offset() else { return nil }
        standardOffset = -standard
        if scanner.atEnd {
            daylight = nil
            return
        }
        guard scanner.skipName() else { return nil }
        var daylightOffset = standardOffset + 3600
        if !scanner.peek(",") {
            guard let value = scanner.offset() else { return nil }
            daylightOffset = -value
        }
        guard scanner.take(","), let start = scanner.dateRule() else { return nil }
        var startTime = 7200
        if scanner.take("/") {
            guard let value = scanner.offset() else { return nil }
            startTime = value
        }
        guard scanner.take(","), let end = scanner.dateRule() else { return nil }
        var endTime = 7200
        if scanner.take("/") {
            guard let value = scanner.offset() else { return nil }
            endTime = value
        }
        guard scanner.atEnd else { return nil }
        daylight = Daylight(offset: daylightOffset, start: start, startTime: startTime, end: end, endTime: endTime)
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index == bytes.count }
        func peek(_ character: Character) -> Bool { index < bytes.count && bytes[index] == character.asciiValue! }
        mutating func take(_ character: Character) -> Bool {
            guard peek(character) else { return false }
            index += 1
            return true
        }

        /// `<+1030>` or letters.
        mutating func skipName() -> Bool {
            if take("<") {
                while index < bytes.count, bytes[index] != UInt8(ascii: ">") { index += 1 }
                return take(">")
            }
            let start = index
            while index < bytes.count, (65...90).contains(bytes[index] & 0xDF) { index += 1 }
            return index - start >= 3
        }

        /// At most four digits: no field of a rule is longer, and a rule from TZ or a file's
        /// `timezone` is operator input (a fuzzer found `UTC6666666666666666` overflowing).
        mutating func number() -> Int? {
            let start = index
            var value = 0
            while index < bytes.count, (48...57).contains(bytes[index]) {
                guard index - start < 4 else { return nil }
                value = value * 10 + Int(bytes[index] - 48)
                index += 1
            }
            return index > start ? value : nil
        }

        /// `[+-]hh[:mm[:ss]]` in seconds, sign as written.
        mutating func offset() -> Int? {
            var sign = 1
            if take("-") { sign = -1 } else { _ = take("+") }
            // RFC 8536 allows transition times of -167 to 167 hours.
            guard let hours = number(), hours <= 167 else { return nil }
            var seconds = hours * 3600
            if take(":") {
                guard let minutes = number(), minutes <= 59 else { return nil }
                seconds += minutes * 60
                if take(":") {
                    guard let secs = number(), secs <= 59 else { return nil }
                    seconds += secs
                }
            }
            return sign * seconds
        }

        mutating func dateRule() -> DateRule? {
            if take("J") { return number().flatMap { (1...365).contains($0) ? .julianNoLeap($0) : nil } }
            if take("M") {
                guard let month = number(), take("."), let week = number(), take("."), let weekday = number(),
                    (1...12).contains(month), (1...5).contains(week), (0...6).contains(weekday)
                else { return nil }
                return .monthWeekDay(month: month, week: week, weekday: weekday)
            }
            return number().flatMap { (0...365).contains($0) ? .zeroBasedJulian($0) : nil }
        }
    }
}

extension String {
    /// The text after the first occurrence of `marker`, if it occurs.
    func suffix(after marker: String) -> String? {
        let text = Array(utf8)
        let pattern = Array(marker.utf8)
        guard text.count >= pattern.count else { return nil }
        for start in 0...(text.count - pattern.count) where text[start..<start + pattern.count].elementsEqual(pattern) {
            return String(decoding: text[(start + pattern.count)...], as: UTF8.self)
        }
        return nil
    }

    package func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
