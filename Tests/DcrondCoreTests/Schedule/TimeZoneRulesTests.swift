import Testing

@testable import DcrondCore

@Suite("Time zone rules and instants")
struct TimeZoneRulesTests {
    @Test("offsets on both sides of a transition")
    func offsets() throws {
        let berlin = try TimeZoneRules.named("Europe/Berlin")
        let spring = try #require(parseInstant("2025-03-30T01:00:00Z"))
        #expect(berlin.offset(at: spring - 1) == 3600)
        #expect(berlin.offset(at: spring) == 7200)
        let segment = berlin.segment(containing: spring)
        #expect(segment.start == spring && segment.previousOffset == 3600 && segment.nextOffset == 3600)
        #expect(try TimeZoneRules.named("UTC").offset(at: spring) == 0)
        #expect(try TimeZoneRules.named("Etc/UTC").offset(at: spring) == 0)
        #expect(try TimeZoneRules.named("Asia/Kolkata").offset(at: spring) == 19_800)
    }

    @Test("bad zone names are refused before any file is opened")
    func badNames() {
        for name in ["../etc/passwd", "/etc/localtime", "Europe/../../x", "", "Europe/Berlin;rm"] {
            let error = #expect(throws: TimeZoneError.self) { try TimeZoneRules.named(name) }
            #expect(
                error?.reason
                    == "is neither a tz database name such as Europe/Berlin nor a POSIX TZ rule such as EST5EDT,M3.2.0,M11.1.0"
            )
        }
    }

    @Test("a near-miss name is answered with the database's name")
    func nearMiss() {
        for (name, suggestion) in [
            ("America/NewYork", "America/New_York"), ("europe/berlin", "Europe/Berlin"),
            ("Europe/Berln", "Europe/Berlin"), ("Asia/Kolkatta", "Asia/Kolkata"),
        ] {
            let error = #expect(throws: TimeZoneError.self) { try TimeZoneRules.named(name) }
            #expect(error?.reason == "is not a known time zone (did you mean \"\(suggestion)\"?)")
        }
        let far = #expect(throws: TimeZoneError.self) { try TimeZoneRules.named("Mars/Olympus") }
        #expect(far?.reason == "is not a known time zone (no /usr/share/zoneinfo/Mars/Olympus)")
    }

    @Test("a POSIX TZ rule works as the C library reads it, or is refused")
    func posixStrings() throws {
        // New York's rules since 2007, written out: the same offsets as the zone file.
        let rule = try TimeZoneRules.named("EST5EDT,M3.2.0,M11.1.0")
        let newYork = try TimeZoneRules.named("America/New_York")
        for instant: Int64 in [
            1_710_054_000, 1_710_053_999, 1_730_613_600, 1_730_613_599, 1_750_000_000, 1_900_000_000,
        ] {
            #expect(rule.offset(at: instant) == newYork.offset(at: instant))
        }
        #expect(try TimeZoneRules.named("JST-9").offset(at: 0) == 32_400)
        #expect(try TimeZoneRules.named("<+0530>-5:30").offset(at: 1_750_000_000) == 19_800)
        // A DST part without its dates depends on the host's posixrules file: refused.
        let error = #expect(throws: TimeZoneError.self) { try TimeZoneRules.named("CET-1CEST") }
        #expect(
            error?.reason
                == "is a POSIX TZ rule dcrond cannot use: a DST part needs the dates of its changes, as in CET-1CEST,M3.5.0,M10.5.0/3 (or use a zone name such as Europe/Berlin)"
        )
        // Found by the fuzzer: an offset of 16 digits overflowed.
        for huge in ["UTC6666666666666666", "UTC168", "UTC5:60", "EST5EDT,J999,J1", "EST5EDT,M3.2.0/99999,M11.1.0"] {
            #expect(throws: TimeZoneError.self) { try TimeZoneRules.named(huge) }
        }
        let garbled = #expect(throws: TimeZoneError.self) { try TimeZoneRules.named("EST5EDT,M3.2.0") }
        #expect(
            garbled?.reason
                == "is not a POSIX TZ rule dcrond can read, such as EST5EDT,M3.2.0,M11.1.0 (or use a zone name such as America/New_York)"
        )
    }

    @Test("POSIX TZ rules as found in zone file footers")
    func posixRules() throws {
        let berlin = try #require(PosixTimeZoneRule("CET-1CEST,M3.5.0,M10.5.0/3"))
        #expect(berlin.standardOffset == 3600 && berlin.daylight?.offset == 7200)
        let transitions = try #require(berlin.daylight).transitions(in: 2025, standardOffset: 3600)
        #expect(transitions.map(\.0) == [parseInstant("2025-03-30T01:00:00Z"), parseInstant("2025-10-26T01:00:00Z")])
        let lordHowe = try #require(PosixTimeZoneRule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"))
        #expect(lordHowe.standardOffset == 37_800 && lordHowe.daylight?.offset == 39_600)
        let fixed = try #require(PosixTimeZoneRule("<-03>3"))
        #expect(fixed.standardOffset == -10_800 && fixed.daylight == nil)
        #expect(PosixTimeZoneRule("CET-1CEST,M13.5.0,M10.5.0") == nil)
    }

    @Test("ISO-8601 instants in and out")
    func instants() {
        #expect(parseInstant("2025-10-26T02:30:00+02:00") == 1_761_438_600)
        #expect(parseInstant("2025-10-26T00:30:00Z") == 1_761_438_600)
        #expect(parseInstant("2025-10-26T00:30Z") == 1_761_438_600)
        #expect(parseInstant("2025-10-26T05:30:00.75+0500") == 1_761_438_600)
        #expect(parseInstant("2025-10-26T02:30:00") == nil, "an instant needs an offset")
        #expect(parseInstant("2025-02-29T00:00:00Z") == nil)
        #expect(parseInstant("2025-10-26T24:00:00Z") == nil)
        #expect(formatInstant(1_761_438_600, offset: 7200) == "2025-10-26T02:30:00+02:00")
        #expect(formatInstant(1_761_438_600, offset: -12_600) == "2025-10-25T21:00:00-03:30")
        #expect(formatInstant(-1, offset: 0) == "1969-12-31T23:59:59+00:00")
    }

    @Test("civil dates round-trip over four centuries")
    func civilRoundTrip() {
        for days in stride(from: Int64(-146_097), through: 146_097 * 2, by: 37) {
            let (year, month, day) = Calendar.civil(fromDays: days)
            #expect(Calendar.days(year: year, month: month, day: day) == days)
        }
        #expect(Calendar.weekday(days: 0) == 4, "1970-01-01 was a Thursday")
        #expect(Calendar.daysInMonth(year: 2100, month: 2) == 28 && Calendar.daysInMonth(year: 2000, month: 2) == 29)
    }
}
