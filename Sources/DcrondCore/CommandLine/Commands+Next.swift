extension Commands {
    /// `dcrond next`: the `count` instants after `after` (default: now) of `expression` in
    /// `timeZone`, or of the job named `job` in the table of `config`.
    package static func next(
        expression: String?,
        timeZone: String?,
        after: String?,
        count: Int,
        job: String?,
        config: String?
    ) throws {
        let start: Int64
        if let after {
            guard let parsed = parseInstant(after) else {
                throw CommandFailure(
                    status: 2,
                    messages: [
                        "--after \"\(after)\" is not an ISO-8601 instant with an offset, such as 2025-03-30T01:00:00+01:00 or 2025-03-30T00:00:00Z"
                    ]
                )
            }
            start = parsed
        } else {
            start = currentUnixSeconds()
        }
        guard (1...nextMaximumCount).contains(count) else {
            throw CommandFailure(status: 2, messages: ["--count must be from 1 to \(nextMaximumCount)"])
        }

        let schedule: Schedule
        let zone: TimeZoneRules
        let policy: DSTPolicy
        if let config {
            guard expression == nil, timeZone == nil else {
                throw CommandFailure(
                    status: 2,
                    messages: ["give either an expression or --config with --job, not both"]
                )
            }
            guard let job else { throw CommandFailure(status: 2, messages: ["--config needs --job NAME"]) }
            let table = try loadConfiguration(config, trust: .unchecked).table
            guard let definition = table.job(named: job) else {
                throw CommandFailure(status: 2, messages: ["\(table.path): no job named \"\(job)\""])
            }
            (schedule, zone, policy) = (definition.schedule, definition.timeZone, definition.dstPolicy)
        } else {
            guard let expression else {
                throw CommandFailure(status: 2, messages: ["give a cron expression, or --config FILE --job NAME"])
            }
            do {
                schedule = try Schedule(parsing: expression, jobName: job)
            } catch {
                throw CommandFailure(status: 2, messages: error.problems.map { "\"\(expression)\": \($0)" })
            }
            do {
                zone = try TimeZoneRules.named(timeZone ?? TimeZoneRules.hostZoneName())
            } catch {
                throw CommandFailure(
                    status: 2,
                    messages: [
                        timeZone == nil ? "the environment's TZ: time zone \(error)" : "--time-zone: time zone \(error)"
                    ]
                )
            }
            policy = schedule.defaultDSTPolicy
        }
        // One at a time, as computed: the first lines appear at once whatever the count.
        var last = start
        for _ in 0..<count {
            guard let instant = schedule.next(after: last, in: zone, policy: policy) else { break }
            print(formatInstant(instant, offset: zone.offset(at: instant)))
            last = instant
        }
    }
}
