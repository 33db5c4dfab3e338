import Testing

@testable import DcrondCore

/// DST rules, by default those of ISC/Vixie cron: a fixed-time job whose time is skipped runs
/// once at the transition, and once (the first time) when its time repeats; a job whose minute or
/// hour starts with * follows the wall clock. Per-job overrides flip either half.
@Suite("Daylight saving time")
struct DaylightSavingTests {
    @Test("Europe/Berlin: spring forward runs skipped fixed times once at 03:00")
    func berlinSpring() throws {
        #expect(
            try nextInstants("30 2 * * *", zone: "Europe/Berlin", after: "2025-03-29T12:00:00Z", count: 3) == [
                "2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00", "2025-04-01T02:30:00+02:00",
            ]
        )
        // Several skipped times collapse into one run; the run at 03:00 itself is the same one.
        #expect(
            try nextInstants("0 0,30 2,3 * * *", zone: "Europe/Berlin", after: "2025-03-30T00:00:00Z", count: 3) == [
                "2025-03-30T03:00:00+02:00", "2025-03-30T03:30:00+02:00", "2025-03-31T02:00:00+02:00",
            ]
        )
        #expect(
            try nextInstants("30 2 * * *", zone: "Europe/Berlin", after: "2025-03-29T12:00:00Z", count: 1, gap: .skip)
                == [
                    "2025-03-31T02:30:00+02:00"
                ]
        )
        // Wall-clock jobs do not run for the times that do not exist...
        #expect(
            try nextInstants("*/30 * * * *", zone: "Europe/Berlin", after: "2025-03-30T01:00:00+01:00", count: 3) == [
                "2025-03-30T01:30:00+01:00", "2025-03-30T03:00:00+02:00", "2025-03-30T03:30:00+02:00",
            ]
        )
        #expect(
            try nextInstants("*/30 2 * * *", zone: "Europe/Berlin", after: "2025-03-30T00:00:00+01:00", count: 1) == [
                "2025-03-31T02:00:00+02:00"
            ]
        )
        // ...unless told to: then once, at the transition.
        #expect(
            try nextInstants(
                "*/30 2 * * *",
                zone: "Europe/Berlin",
                after: "2025-03-30T00:00:00+01:00",
                count: 2,
                gap: .run
            ) == [
                "2025-03-30T03:00:00+02:00", "2025-03-31T02:00:00+02:00",
            ]
        )
    }

    @Test("Europe/Berlin: fall back runs fixed times once, wall-clock jobs in both passes")
    func berlinAutumn() throws {
        #expect(
            try nextInstants("30 2 * * *", zone: "Europe/Berlin", after: "2025-10-25T12:00:00Z", count: 2) == [
                "2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00",
            ]
        )
        #expect(
            try nextInstants(
                "30 2 * * *",
                zone: "Europe/Berlin",
                after: "2025-10-25T12:00:00Z",
                count: 3,
                overlap: .twice
            ) == [
                "2025-10-26T02:30:00+02:00", "2025-10-26T02:30:00+01:00", "2025-10-27T02:30:00+01:00",
            ]
        )
        #expect(
            try nextInstants("0,30 * * * *", zone: "Europe/Berlin", after: "2025-10-26T01:45:00+02:00", count: 5) == [
                "2025-10-26T02:00:00+02:00", "2025-10-26T02:30:00+02:00", "2025-10-26T02:00:00+01:00",
                "2025-10-26T02:30:00+01:00", "2025-10-26T03:00:00+01:00",
            ]
        )
        #expect(
            try nextInstants(
                "0,30 * * * *",
                zone: "Europe/Berlin",
                after: "2025-10-26T01:45:00+02:00",
                count: 3,
                overlap: .once
            ) == [
                "2025-10-26T02:00:00+02:00", "2025-10-26T02:30:00+02:00", "2025-10-26T03:00:00+01:00",
            ]
        )
        // Starting inside the repeated hour's second pass: its fixed time already ran.
        #expect(
            try nextInstants("45 2 * * *", zone: "Europe/Berlin", after: "2025-10-26T02:10:00+01:00", count: 1) == [
                "2025-10-27T02:45:00+01:00"
            ]
        )
    }

    @Test("America/New_York: 01:30 on the fall-back day runs only at 01:30-04:00")
    func newYork() throws {
        #expect(
            try nextInstants("30 1 * * *", zone: "America/New_York", after: "2025-11-01T12:00:00Z", count: 3) == [
                "2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00", "2025-11-04T01:30:00-05:00",
            ]
        )
        #expect(
            try nextInstants("*/30 1 * * *", zone: "America/New_York", after: "2025-11-02T04:00:00Z", count: 5) == [
                "2025-11-02T01:00:00-04:00", "2025-11-02T01:30:00-04:00", "2025-11-02T01:00:00-05:00",
                "2025-11-02T01:30:00-05:00", "2025-11-03T01:00:00-05:00",
            ]
        )
        #expect(
            try nextInstants("30 2 * * *", zone: "America/New_York", after: "2025-03-08T12:00:00Z", count: 2) == [
                "2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00",
            ]
        )
    }

    @Test("Australia/Lord_Howe: a 30-minute shift")
    func lordHowe() throws {
        // 2025-10-05 02:00 +10:30 becomes 02:30 +11:00.
        #expect(
            try nextInstants("15 2 * * *", zone: "Australia/Lord_Howe", after: "2025-10-04T00:00:00Z", count: 2) == [
                "2025-10-05T02:30:00+11:00", "2025-10-06T02:15:00+11:00",
            ]
        )
        #expect(
            try nextInstants("*/15 2 * * *", zone: "Australia/Lord_Howe", after: "2025-10-05T01:50:00+10:30", count: 3)
                == [
                    "2025-10-05T02:30:00+11:00", "2025-10-05T02:45:00+11:00", "2025-10-06T02:00:00+11:00",
                ]
        )
        // 2025-04-06 02:00 +11:00 becomes 01:30 +10:30: 01:30-02:00 happens twice.
        #expect(
            try nextInstants("45 1 * * *", zone: "Australia/Lord_Howe", after: "2025-04-05T12:00:00+11:00", count: 2)
                == [
                    "2025-04-06T01:45:00+11:00", "2025-04-07T01:45:00+10:30",
                ]
        )
        #expect(
            try nextInstants(
                "45 1 * * *",
                zone: "Australia/Lord_Howe",
                after: "2025-04-05T12:00:00+11:00",
                count: 2,
                overlap: .twice
            ) == [
                "2025-04-06T01:45:00+11:00", "2025-04-06T01:45:00+10:30",
            ]
        )
    }

    @Test("America/Sao_Paulo 2018-11-04: midnight does not exist")
    func saoPaulo() throws {
        #expect(
            try nextInstants("0 0 * * *", zone: "America/Sao_Paulo", after: "2018-11-02T12:00:00Z", count: 3) == [
                "2018-11-03T00:00:00-03:00", "2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00",
            ]
        )
        #expect(
            try nextInstants("@daily", zone: "America/Sao_Paulo", after: "2018-11-03T12:00:00-03:00", count: 1) == [
                "2018-11-04T01:00:00-02:00"
            ]
        )
        // Hourly follows the wall clock: 00:00 is skipped, 01:00 is an ordinary run.
        #expect(
            try nextInstants("0 * * * *", zone: "America/Sao_Paulo", after: "2018-11-03T22:30:00-03:00", count: 3) == [
                "2018-11-03T23:00:00-03:00", "2018-11-04T01:00:00-02:00", "2018-11-04T02:00:00-02:00",
            ]
        )
        // 2019-02-17 00:00 -02:00 falls back to 2019-02-16 23:00 -03:00.
        #expect(
            try nextInstants("30 23 * * *", zone: "America/Sao_Paulo", after: "2019-02-16T12:00:00-02:00", count: 2)
                == [
                    "2019-02-16T23:30:00-02:00", "2019-02-17T23:30:00-03:00",
                ]
        )
    }

    @Test("Pacific/Chatham: +12:45 and +13:45, transitions at 02:45 and 03:45")
    func chatham() throws {
        #expect(
            try nextInstants("0 3 * * *", zone: "Pacific/Chatham", after: "2025-09-27T12:00:00+12:45", count: 2) == [
                "2025-09-28T03:45:00+13:45", "2025-09-29T03:00:00+13:45",
            ]
        )
        #expect(
            try nextInstants("0 3 * * *", zone: "Pacific/Chatham", after: "2025-04-05T12:00:00+13:45", count: 2) == [
                "2025-04-06T03:00:00+13:45", "2025-04-07T03:00:00+12:45",
            ]
        )
    }

    @Test("Asia/Kolkata: a half-hour offset without DST")
    func kolkata() throws {
        #expect(
            try nextInstants("30 5 * * *", zone: "Asia/Kolkata", after: "2025-06-01T00:00:00Z", count: 2) == [
                "2025-06-02T05:30:00+05:30", "2025-06-03T05:30:00+05:30",
            ]
        )
        #expect(
            try nextInstants("0 0 L * *", zone: "Asia/Kolkata", after: "2025-02-27T18:30:00Z", count: 1) == [
                "2025-03-31T00:00:00+05:30"
            ]
        )
    }

    @Test("transitions far beyond the zone file's table come from its POSIX rule")
    func footerRules() throws {
        // 2150-03-29 is the last Sunday of March (checked with Python's zoneinfo).
        #expect(
            try nextInstants("30 2 * * *", zone: "Europe/Berlin", after: "2150-03-28T12:00:00Z", count: 2) == [
                "2150-03-29T03:00:00+02:00", "2150-03-30T02:30:00+02:00",
            ]
        )
        #expect(
            try nextInstants("30 1 * * *", zone: "America/New_York", after: "2090-11-04T12:00:00Z", count: 2) == [
                "2090-11-05T01:30:00-04:00", "2090-11-06T01:30:00-05:00",
            ]
        )
    }
}
