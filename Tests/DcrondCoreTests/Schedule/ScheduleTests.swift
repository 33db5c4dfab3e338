import Testing

@testable import DcrondCore

/// The next `count` instants of `expression` after `after`, formatted with the zone's offset.
func nextInstants(
    _ expression: String,
    zone: String = "UTC",
    after: String,
    count: Int = 5,
    job: String? = nil,
    gap: DSTPolicy.Gap? = nil,
    overlap: DSTPolicy.Overlap? = nil
) throws -> [String] {
    let schedule = try Schedule(parsing: expression, jobName: job)
    let rules = try TimeZoneRules.named(zone)
    var policy = schedule.defaultDSTPolicy
    if let gap { policy.gap = gap }
    if let overlap { policy.overlap = overlap }
    let start = try #require(parseInstant(after), "bad instant \(after)")
    return schedule.instants(after: start, count: count, in: rules, policy: policy)
        .map { formatInstant($0, offset: rules.offset(at: $0)) }
}

@Suite("Cron expressions")
struct ScheduleTests {
    @Test("field syntax: values, lists, ranges, steps, names, wrap-around")
    func syntax() throws {
        #expect(
            try nextInstants("0 22-2 * * *", after: "2025-01-01T12:00:00Z", count: 6) == [
                "2025-01-01T22:00:00+00:00", "2025-01-01T23:00:00+00:00", "2025-01-02T00:00:00+00:00",
                "2025-01-02T01:00:00+00:00", "2025-01-02T02:00:00+00:00", "2025-01-02T22:00:00+00:00",
            ]
        )
        #expect(
            try nextInstants("0 22-2/2 * * *", after: "2025-01-01T12:00:00Z", count: 4) == [
                "2025-01-01T22:00:00+00:00", "2025-01-02T00:00:00+00:00", "2025-01-02T02:00:00+00:00",
                "2025-01-02T22:00:00+00:00",
            ]
        )
        #expect(
            try nextInstants("0 0 * * FRI-MON", after: "2025-01-01T00:00:00Z", count: 5) == [
                "2025-01-03T00:00:00+00:00", "2025-01-04T00:00:00+00:00", "2025-01-05T00:00:00+00:00",
                "2025-01-06T00:00:00+00:00", "2025-01-10T00:00:00+00:00",
            ]
        )
        // 0 and 7 are both Sunday; names in any case.
        #expect(
            try nextInstants("0 0 * * 7", after: "2025-01-01T00:00:00Z", count: 2)
                == nextInstants("0 0 * * sun", after: "2025-01-01T00:00:00Z", count: 2)
        )
        #expect(try nextInstants("0 0 * * 0", after: "2025-01-01T00:00:00Z", count: 1) == ["2025-01-05T00:00:00+00:00"])
        #expect(
            try nextInstants("0 0 * * 5-7", after: "2025-01-01T00:00:00Z", count: 4) == [
                "2025-01-03T00:00:00+00:00", "2025-01-04T00:00:00+00:00", "2025-01-05T00:00:00+00:00",
                "2025-01-10T00:00:00+00:00",
            ]
        )
        #expect(
            try nextInstants("0 0 1 nov-Feb *", after: "2025-01-15T00:00:00Z", count: 4) == [
                "2025-02-01T00:00:00+00:00", "2025-11-01T00:00:00+00:00", "2025-12-01T00:00:00+00:00",
                "2026-01-01T00:00:00+00:00",
            ]
        )
        // `5/15` is `5-59/15`; six fields put seconds first.
        #expect(
            try nextInstants("5/15 * * * *", after: "2025-01-01T00:00:00Z", count: 4) == [
                "2025-01-01T00:05:00+00:00", "2025-01-01T00:20:00+00:00", "2025-01-01T00:35:00+00:00",
                "2025-01-01T00:50:00+00:00",
            ]
        )
        #expect(
            try nextInstants("*/20 * * * * *", after: "2025-01-01T00:00:00Z", count: 3) == [
                "2025-01-01T00:00:20+00:00", "2025-01-01T00:00:40+00:00", "2025-01-01T00:01:00+00:00",
            ]
        )
        // Degenerate ranges are one value (croniter 7 reads them as *).
        #expect(
            try nextInstants("0 0 9-9 * *", after: "2025-01-01T00:00:00Z", count: 2) == [
                "2025-01-09T00:00:00+00:00", "2025-02-09T00:00:00+00:00",
            ]
        )
        #expect(
            try nextInstants("0 0 9-9/3 * *", after: "2025-01-01T00:00:00Z", count: 2) == [
                "2025-01-09T00:00:00+00:00", "2025-02-09T00:00:00+00:00",
            ]
        )
    }

    @Test("instants are strictly after the start, and sub-second starts are handled")
    func strictlyAfter() throws {
        #expect(
            try nextInstants("* * * * * *", after: "2025-01-01T00:00:00Z", count: 1) == ["2025-01-01T00:00:01+00:00"]
        )
        #expect(
            try nextInstants("* * * * * *", after: "2025-01-01T00:00:00.900Z", count: 1) == [
                "2025-01-01T00:00:01+00:00"
            ]
        )
        #expect(try nextInstants("0 * * * *", after: "2025-01-01T01:00:00Z", count: 1) == ["2025-01-01T02:00:00+00:00"])
    }

    @Test("Vixie's day rule: either day field when both are restricted; a field starting with * does not count")
    func vixieDayRule() throws {
        // Both restricted: the 1st and 15th, and every Monday.
        #expect(
            try nextInstants("0 0 1,15 * 1", after: "2025-01-01T00:00:00Z", count: 5) == [
                "2025-01-06T00:00:00+00:00", "2025-01-13T00:00:00+00:00", "2025-01-15T00:00:00+00:00",
                "2025-01-20T00:00:00+00:00", "2025-01-27T00:00:00+00:00",
            ]
        )
        // `*/2` starts with *: both must match, so odd days that are Mondays.
        #expect(
            try nextInstants("0 0 */2 * 1", after: "2025-01-01T00:00:00Z", count: 3) == [
                "2025-01-13T00:00:00+00:00", "2025-01-27T00:00:00+00:00", "2025-02-03T00:00:00+00:00",
            ]
        )
        // Restricted fields that happen to cover every day still use "either" (croniter differs).
        #expect(
            try nextInstants("0 0 10,* * 1", after: "2025-01-01T00:00:00Z", count: 2) == [
                "2025-01-02T00:00:00+00:00", "2025-01-03T00:00:00+00:00",
            ]
        )
        #expect(
            try nextInstants("0 0 1-31 * 1", after: "2025-01-01T00:00:00Z", count: 2) == [
                "2025-01-02T00:00:00+00:00", "2025-01-03T00:00:00+00:00",
            ]
        )
        // `?` is `*`.
        #expect(try nextInstants("0 0 ? * 1", after: "2025-01-01T00:00:00Z", count: 1) == ["2025-01-06T00:00:00+00:00"])
        // Specials take part in the rule too: the last day, or any Monday.
        #expect(
            try nextInstants("0 0 L * 1", after: "2025-01-25T00:00:00Z", count: 3) == [
                "2025-01-27T00:00:00+00:00", "2025-01-31T00:00:00+00:00", "2025-02-03T00:00:00+00:00",
            ]
        )
    }

    @Test("L, L-n, LW, nW, nL and n#k")
    func specials() throws {
        #expect(
            try nextInstants("0 0 L * *", after: "2025-01-01T00:00:00Z", count: 4) == [
                "2025-01-31T00:00:00+00:00", "2025-02-28T00:00:00+00:00", "2025-03-31T00:00:00+00:00",
                "2025-04-30T00:00:00+00:00",
            ]
        )
        #expect(
            try nextInstants("0 0 L-3 * *", after: "2025-01-01T00:00:00Z", count: 2) == [
                "2025-01-28T00:00:00+00:00", "2025-02-25T00:00:00+00:00",
            ]
        )
        // May 2025 ends on a Saturday: the last weekday is Friday the 30th.
        #expect(
            try nextInstants("0 0 LW * *", after: "2025-05-01T00:00:00Z", count: 2) == [
                "2025-05-30T00:00:00+00:00", "2025-06-30T00:00:00+00:00",
            ]
        )
        // 2025-03-01 is a Saturday: 1W does not leave the month, so Monday the 3rd.
        #expect(
            try nextInstants("0 0 1W * *", after: "2025-02-15T00:00:00Z", count: 2) == [
                "2025-03-03T00:00:00+00:00", "2025-04-01T00:00:00+00:00",
            ]
        )
        // 2025-08-31 is a Sunday: Friday the 29th. 15W on a Saturday (2025-02-15): Friday the 14th.
        #expect(
            try nextInstants("0 0 31W * *", after: "2025-08-01T00:00:00Z", count: 1) == ["2025-08-29T00:00:00+00:00"]
        )
        #expect(
            try nextInstants("0 0 15W * *", after: "2025-02-01T00:00:00Z", count: 1) == ["2025-02-14T00:00:00+00:00"]
        )
        // 31W in a 30-day month counts from its last day (2025-11-30 is a Sunday: Friday the 28th).
        #expect(
            try nextInstants("0 0 31W 11 *", after: "2025-01-01T00:00:00Z", count: 1) == ["2025-11-28T00:00:00+00:00"]
        )
        #expect(
            try nextInstants("0 0 * * 5L", after: "2025-01-01T00:00:00Z", count: 3) == [
                "2025-01-31T00:00:00+00:00", "2025-02-28T00:00:00+00:00", "2025-03-28T00:00:00+00:00",
            ]
        )
        #expect(
            try nextInstants("0 0 * * FRI#2", after: "2025-01-01T00:00:00Z", count: 2) == [
                "2025-01-10T00:00:00+00:00", "2025-02-14T00:00:00+00:00",
            ]
        )
        // A fifth Friday exists only in some months.
        #expect(
            try nextInstants("0 0 * * 5#5", after: "2025-01-01T00:00:00Z", count: 3) == [
                "2025-01-31T00:00:00+00:00", "2025-05-30T00:00:00+00:00", "2025-08-29T00:00:00+00:00",
            ]
        )
    }

    @Test("leap days, month ends and year ends")
    func calendarEdges() throws {
        #expect(
            try nextInstants("0 0 29 2 *", after: "2025-01-01T00:00:00Z", count: 2) == [
                "2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00",
            ]
        )
        // 2100 is not a leap year.
        #expect(
            try nextInstants("0 0 29 2 *", after: "2096-03-01T00:00:00Z", count: 1) == ["2104-02-29T00:00:00+00:00"]
        )
        #expect(
            try nextInstants("0 12 L 2 *", after: "2027-03-01T00:00:00Z", count: 2) == [
                "2028-02-29T12:00:00+00:00", "2029-02-28T12:00:00+00:00",
            ]
        )
        #expect(
            try nextInstants("0 0 31 * *", after: "2025-01-31T00:00:00Z", count: 3) == [
                "2025-03-31T00:00:00+00:00", "2025-05-31T00:00:00+00:00", "2025-07-31T00:00:00+00:00",
            ]
        )
        #expect(
            try nextInstants("59 59 23 31 12 *", after: "2025-12-31T23:59:58Z", count: 2) == [
                "2025-12-31T23:59:59+00:00", "2026-12-31T23:59:59+00:00",
            ]
        )
        #expect(
            try nextInstants("@yearly", after: "2025-12-31T23:59:59Z", count: 2) == [
                "2026-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00",
            ]
        )
        #expect(
            try nextInstants("* * * * * *", after: "2024-12-31T23:59:59Z", count: 1) == ["2025-01-01T00:00:00+00:00"]
        )
    }

    @Test("macros and @every anchored to the Unix epoch")
    func macros() throws {
        #expect(try Schedule(parsing: "@daily").kind == Schedule(parsing: "0 0 * * *").kind)
        #expect(try Schedule(parsing: "@midnight").kind == Schedule(parsing: "0 0 0 * * *").kind)
        #expect(try Schedule(parsing: "@annually").kind == Schedule(parsing: "@yearly").kind)
        #expect(try Schedule(parsing: "@monthly").kind == Schedule(parsing: "0 0 1 * *").kind)
        #expect(try Schedule(parsing: "@weekly").kind == Schedule(parsing: "0 0 * * 0").kind)
        #expect(try Schedule(parsing: "@hourly").kind == Schedule(parsing: "0 * * * *").kind)
        #expect(
            try nextInstants("@every 90s", after: "1970-01-01T00:16:40Z", count: 3) == [
                "1970-01-01T00:18:00+00:00", "1970-01-01T00:19:30+00:00", "1970-01-01T00:21:00+00:00",
            ]
        )
        // The same instants whatever the zone or start: multiples of the interval since the epoch.
        #expect(
            try nextInstants("@every 1h30m", zone: "Asia/Kolkata", after: "2025-01-01T00:00:00Z", count: 2) == [
                "2025-01-01T07:00:00+05:30", "2025-01-01T08:30:00+05:30",
            ]
        )
        #expect(try !Schedule(parsing: "@hourly").isFixedTime)
        #expect(try !Schedule(parsing: "@every 1m").isFixedTime)
        #expect(try Schedule(parsing: "@daily").isFixedTime)
        #expect(try !Schedule(parsing: "*/5 3 * * *").isFixedTime)
        #expect(try !Schedule(parsing: "5 * * * *").isFixedTime)
        #expect(try Schedule(parsing: "* 5 3 * * *").isFixedTime, "the seconds field does not count")
    }

    @Test("a step longer than H's range keeps the hashed start inside it (found by the fuzzer)")
    func hashedStepLongerThanRange() throws {
        for index in 0..<200 {
            let job = "job-\(index)"
            let days = try Schedule(parsing: "0 0 H/31 * *", jobName: job)
            let narrow = try Schedule(parsing: "H(0-5)/30 * * * *", jobName: job)
            for instant in days.instants(after: 1_735_689_600, count: 3, in: .utc, policy: days.defaultDSTPolicy) {
                #expect((1...28).contains(CivilTime(localSeconds: instant).day))
            }
            for instant in narrow.instants(after: 1_735_689_600, count: 3, in: .utc, policy: narrow.defaultDSTPolicy) {
                let minute = CivilTime(localSeconds: instant).minute
                #expect((0...5).contains(minute))
            }
        }
    }

    @Test("H hashes the job name with a fixed hash, the same in every process and version")
    func hashedValues() throws {
        // Published vectors (docs/schedules.md): change them only with a migration note.
        #expect(
            try nextInstants("H H * * *", after: "2025-01-01T00:00:00Z", count: 1, job: "nightly-backup") == [
                "2025-01-01T18:55:00+00:00"
            ]
        )
        #expect(
            try nextInstants("H/15 * * * *", after: "2025-01-01T00:00:00Z", count: 4, job: "cache-warmup") == [
                "2025-01-01T00:14:00+00:00", "2025-01-01T00:29:00+00:00", "2025-01-01T00:44:00+00:00",
                "2025-01-01T00:59:00+00:00",
            ]
        )
        #expect(
            try nextInstants("0 H(0-5) * * *", after: "2025-01-01T00:00:00Z", count: 1, job: "report") == [
                "2025-01-02T00:00:00+00:00"
            ]
        )
        #expect(
            try nextInstants("0 H(0-5) * * *", after: "2025-01-01T00:00:00Z", count: 1, job: "month-end-report") == [
                "2025-01-01T04:00:00+00:00"
            ]
        )
        // Another name lands elsewhere; the same name in a 6-field expression keeps its minute.
        #expect(
            try nextInstants("H H * * *", after: "2025-01-01T00:00:00Z", count: 1, job: "other-job") != [
                "2025-01-01T18:55:00+00:00"
            ]
        )
        #expect(
            try nextInstants("0 H H * * *", after: "2025-01-01T00:00:00Z", count: 1, job: "nightly-backup") == [
                "2025-01-01T18:55:00+00:00"
            ]
        )
    }

    @Test(
        "invalid expressions give exact messages",
        arguments: [
            ("", "the schedule is empty"),
            ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), got 4"),
            ("0 0 32 * *", "field 3 (day of month): \"32\" is out of range 1-31"),
            ("0 0 0 32 * *", "field 4 (day of month): \"32\" is out of range 1-31"),
            (
                "60 24 * * *",
                "field 1 (minute): \"60\" is out of range 0-59; field 2 (hour): \"24\" is out of range 0-23"
            ),
            ("*/0 * * * *", "field 1 (minute): \"*/0\" has a step below 1"),
            ("*/61 * * * *", "field 1 (minute): \"*/61\" has a step larger than the field's 60 values"),
            ("*/x * * * *", "field 1 (minute): \"*/x\" has a step that is not a number"),
            ("1,,2 * * * *", "field 1 (minute): empty list item in \"1,,2\""),
            ("5-3-1 * * * *", "field 1 (minute): \"5-3-1\" is not a value, a range a-b, or a step"),
            ("0 0 * * FOO", "field 5 (day of week): \"FOO\" is not a day name (SUN-SAT) or a number 0-7"),
            ("0 0 * Foo *", "field 4 (month): \"Foo\" is not a month name (JAN-DEC) or a number 1-12"),
            ("0 0 * 1-FOO *", "field 4 (month): \"1-FOO\": \"FOO\" is not a month name (JAN-DEC) or a number 1-12"),
            ("0 0 L-31 * *", "field 3 (day of month): \"L-31\" has an offset outside 0-30"),
            ("0 0 LX * *", "field 3 (day of month): \"LX\" is not L, L-n or LW"),
            ("0 0 32W * *", "field 3 (day of month): \"32W\" names day 32, outside 1-31"),
            ("0 0 * * 5#6", "field 5 (day of week): \"5#6\" needs an occurrence from 1 to 5 after #"),
            ("0 0 * * L", "field 5 (day of week): \"L\" needs a weekday before L, as in 5L (the last Friday)"),
            ("? * * * *", "field 1 (minute): \"?\" is only allowed in the day fields"),
            ("L * * * *", "field 1 (minute): \"L\" is not a number 0-59"),
            ("H * * * *", "field 1 (minute): \"H\" uses H, which needs a job name to hash (dcrond next --job NAME)"),
            (
                "0 0 30 2 *",
                "can never fire: no date in a whole 400-year calendar cycle matches its day and month fields"
            ),
            (
                "0 0 31 4,6,9,11 *",
                "can never fire: no date in a whole 400-year calendar cycle matches its day and month fields"
            ),
            (
                "@reboot",
                "@reboot is not supported: a cluster has no single boot to run at; start the command from a systemd unit instead"
            ),
            (
                "@fortnightly",
                "unknown macro @fortnightly (known: @yearly @annually @monthly @weekly @daily @midnight @hourly @every)"
            ),
            ("@daily now", "@daily takes no arguments"),
            ("@every", "@every needs one duration, as in \"@every 5m\""),
            ("@every 0s", "@every 0s: the interval must be a whole number of seconds, at least 1s"),
            ("@every 1500ms", "@every 1500ms: the interval must be a whole number of seconds, at least 1s"),
            ("@every soon", "@every: \"soon\" is not a duration (examples: 500ms, 30s, 5m, 1h30m, 1.5h, 2d)"),
        ]
    )
    func invalid(expression: String, message: String) {
        let error = #expect(throws: ScheduleError.self) { try Schedule(parsing: expression) }
        #expect(error?.description == message)
    }

    @Test("rare but possible expressions are accepted and found within the 400-year bound")
    func rareExpressions() throws {
        // February 29th that is also a Friday the 5th... of February: once in decades.
        #expect(
            try nextInstants("0 0 29 2 ?", after: "2025-01-01T00:00:00Z", count: 1) == ["2028-02-29T00:00:00+00:00"]
        )
        #expect(
            try nextInstants("0 0 ? 2 FRI#5", after: "2025-01-01T00:00:00Z", count: 2) == [
                "2036-02-29T00:00:00+00:00", "2064-02-29T00:00:00+00:00",
            ]
        )
    }
}
