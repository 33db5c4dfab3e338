/// When a job runs: a cron expression in a time zone, or a fixed interval.
///
/// Every node computes exactly the same instants from the same text, job name and tz database:
/// nothing here depends on the host, the process or the moment of parsing.
package struct Schedule: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case cron(CronExpression)
        /// `@every 5m`: every multiple of the interval since the Unix epoch, in seconds.
        case every(seconds: Int64)
    }

    let kind: Kind
    /// The expression as written (trimmed).
    let text: String

    /// A schedule's text parsed once for every job that has it: what ``init(parsing:jobName:)``
    /// does, in two steps, so that a table whose jobs share a few texts parses each once (at
    /// 100,000 jobs, parsing was a sixth of the start's CPU). `H` is hashed per job in the second.
    struct Template: Sendable {
        fileprivate enum Form: Sendable {
            /// `checked`: whether "can never fire" was ruled out for every job already (no `H` in
            /// the day or month fields).
            case cron(CronExpression, [CronExpression.HashedItem], checked: Bool)
            case every(seconds: Int64)
        }

        let text: String
        fileprivate let form: Form

        /// Parses `text`: five or six fields, an `@` macro, or `@every <duration>`. `named`:
        /// whether a job name will be given to hash `H` (without one, `H` is an error). Throws every
        /// problem found.
        init(parsing text: String, named: Bool) throws(ScheduleError) {
            let trimmed = text.trimmingWhitespace()
            self.text = trimmed
            if trimmed.hasPrefix("@") {
                let words = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
                let macro = words[0].lowercased()
                if macro == "@every" {
                    guard words.count == 2 else {
                        throw ScheduleError(problems: ["@every needs one duration, as in \"@every 5m\""])
                    }
                    let duration: Duration
                    do {
                        duration = try parseDuration(String(words[1]))
                    } catch {
                        throw ScheduleError(problems: ["@every: \(error.message)"])
                    }
                    let (seconds, attoseconds) = duration.components
                    guard attoseconds == 0, seconds >= 1 else {
                        throw ScheduleError(problems: [
                            "@every \(words[1]): the interval must be a whole number of seconds, at least 1s"
                        ])
                    }
                    form = .every(seconds: seconds)
                    return
                }
                guard words.count == 1 else { throw ScheduleError(problems: ["\(words[0]) takes no arguments"]) }
                let expansion: String
                switch macro {
                case "@yearly", "@annually": expansion = "0 0 0 1 1 *"
                case "@monthly": expansion = "0 0 0 1 * *"
                case "@weekly": expansion = "0 0 0 * * 0"
                case "@daily", "@midnight": expansion = "0 0 0 * * *"
                case "@hourly": expansion = "0 0 * * * *"
                case "@reboot":
                    throw ScheduleError(problems: [
                        "@reboot is not supported: a cluster has no single boot to run at; start the command from a systemd unit instead"
                    ])
                default:
                    throw ScheduleError(problems: [
                        "unknown macro \(words[0]) (known: @yearly @annually @monthly @weekly @daily @midnight @hourly @every)"
                    ])
                }
                let (base, hashed) = try CronExpression.template(fields: expansion.split(separator: " "), named: named)
                form = .cron(base, hashed, checked: true)  // a macro fires every year
                return
            }
            let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 5 || fields.count == 6 else {
                throw ScheduleError(problems: [
                    fields.isEmpty
                        ? "the schedule is empty"
                        : "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), got \(fields.count)"
                ])
            }
            let (base, hashed) = try CronExpression.template(fields: fields, named: named)
            let hashesDays = hashed.contains { [.dayOfMonth, .month, .dayOfWeek].contains($0.kind) }
            if !hashesDays { try Self.checkFires(base.resolving(hashed, jobName: "")) }
            form = .cron(base, hashed, checked: !hashesDays)
        }

        /// The schedule of the job named `jobName` (nil: no job, so no `H`).
        func schedule(jobName: String?) throws(ScheduleError) -> Schedule {
            switch form {
            case .every(let seconds):
                return Schedule(kind: .every(seconds: seconds), text: text)
            case .cron(let base, let hashed, let checked):
                assert(hashed.isEmpty || jobName != nil, "a template parsed for a job needs the job's name")
                let expression = base.resolving(hashed, jobName: jobName)
                if !checked { try Self.checkFires(expression) }
                return Schedule(kind: .cron(expression), text: text)
            }
        }

        private static func checkFires(_ expression: CronExpression) throws(ScheduleError) {
            guard expression.firstMatch(fromLocal: CivilTime(year: 2000, month: 1, day: 1).localSeconds) != nil else {
                throw ScheduleError(problems: [
                    "can never fire: no date in a whole 400-year calendar cycle matches its day and month fields"
                ])
            }
        }
    }

    private init(kind: Kind, text: String) {
        self.kind = kind
        self.text = text
    }

    /// Parses `text`: five or six fields, an `@` macro, or `@every <duration>`. `jobName` is
    /// hashed for `H`. Throws every problem found.
    package init(parsing text: String, jobName: String? = nil) throws(ScheduleError) {
        self = try Template(parsing: text, named: jobName != nil).schedule(jobName: jobName)
    }

    package var description: String { text }

    /// Fixed-time schedules run at set wall-clock times; the others (minute or hour field starting
    /// with `*`, `@hourly`, `@every`) follow the wall clock. This decides the default DST policy.
    var isFixedTime: Bool {
        switch kind {
        case .cron(let expression): expression.isFixedTime
        case .every: false
        }
    }

    /// ISC/Vixie cron's behaviour, the only one that neither loses nor repeats runs of fixed-time jobs.
    package var defaultDSTPolicy: DSTPolicy {
        isFixedTime ? DSTPolicy(gap: .run, overlap: .once) : DSTPolicy(gap: .skip, overlap: .twice)
    }

    /// The first instant (Unix seconds) strictly after `instant` at which the job runs, or nil if
    /// there is none within 400 years.
    ///
    /// Wall-clock times that a DST change skips or repeats follow `policy`: in a gap, `.run` runs
    /// once at the transition instant (several skipped times collapse into that one run) and
    /// `.skip` does not run; in an overlap, `.once` runs at the first occurrence only and `.twice`
    /// at both.
    package func next(after instant: Int64, in zone: TimeZoneRules, policy: DSTPolicy) -> Int64? {
        switch kind {
        case .every(let interval):
            return (floorDivide(instant, interval) + 1) * interval
        case .cron(let expression):
            return Self.next(expression, after: instant, in: zone, policy: policy)
        }
    }

    /// Walks the zone's constant-offset segments from `instant` on. Inside one segment wall-clock
    /// order is time order, so the first civil match there is the answer; at a segment's end, a
    /// spring-forward gap may produce a run at the transition, and after a fall-back the repeated
    /// wall-clock times are skipped under `.once`.
    private static func next(
        _ expression: CronExpression,
        after instant: Int64,
        in zone: TimeZoneRules,
        policy: DSTPolicy
    ) -> Int64? {
        var from = instant + 1
        let horizon = instant + 400 * 366 * 86_400
        while from < horizon {
            let segment = zone.segment(containing: from)
            let offset = Int64(segment.offset)
            var civilStart = from + offset
            if policy.overlap == .once, let start = segment.start, let previous = segment.previousOffset,
                Int64(previous) > offset
            {
                // After a fall-back, wall-clock times up to the old offset's end already happened.
                civilStart = max(civilStart, start + Int64(previous))
            }
            let civilEnd = segment.end.map { $0 + offset } ?? .max
            if civilStart < civilEnd, let match = expression.firstMatch(fromLocal: civilStart, before: civilEnd) {
                return match - offset
            }
            guard let end = segment.end, let nextOffset = segment.nextOffset else { return nil }
            if Int64(nextOffset) > offset, policy.gap == .run,
                expression.firstMatch(fromLocal: end + offset, before: end + Int64(nextOffset)) != nil
            {
                return end  // a skipped wall-clock time runs at the transition
            }
            from = end
        }
        return nil
    }

    /// The next `count` instants after `instant`.
    package func instants(after instant: Int64, count: Int, in zone: TimeZoneRules, policy: DSTPolicy) -> [Int64] {
        var result: [Int64] = []
        var last = instant
        while result.count < count, let next = next(after: last, in: zone, policy: policy) {
            result.append(next)
            last = next
        }
        return result
    }
}

/// What a schedule does with wall-clock times that a DST change skips or repeats.
package struct DSTPolicy: Sendable, Hashable {
    enum Gap: String, Sendable, Hashable { case run, skip }
    enum Overlap: String, Sendable, Hashable { case once, twice }
    var gap: Gap
    var overlap: Overlap

    init(gap: Gap, overlap: Overlap) {
        self.gap = gap
        self.overlap = overlap
    }
}

/// Why an expression cannot be used: every problem, each a sentence such as
/// `field 3 (day of month): "32" is out of range 1-31`.
package struct ScheduleError: Error, Sendable, Equatable, CustomStringConvertible {
    let problems: [String]
    package var description: String { problems.joined(separator: "; ") }
}
