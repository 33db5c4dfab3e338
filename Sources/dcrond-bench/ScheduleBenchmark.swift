import ArgumentParser
import DcrondCore
import DcrondTestSupport

/// Next-instant computations per second, and the time to plan a 10,000-job table.
struct ScheduleBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Next-instant computations per second for typical expressions, and the time for a 10,000-job table."
    )

    @Option(help: "Next-instant computations per expression.")
    var iterations = 1_000_000

    @Option(help: "Jobs in the table.")
    var jobs = 10_000

    static let typical: [(String, String)] = [
        ("*/5 * * * *", "UTC"),
        ("0 30 2 * * *", "Europe/Berlin"),
        ("0 9 * * MON-FRI", "America/New_York"),
        ("*/15 * * * * *", "UTC"),
        ("0 0 L * *", "Asia/Kolkata"),
        ("H H * * *", "Europe/Berlin"),
        ("0 0 1,15 * 1", "UTC"),
        ("@every 30s", "UTC"),
    ]

    func run() async throws {
        let clock = ContinuousClock()
        let start = try parseInstantOrThrow("2026-01-01T00:00:00Z")
        print(
            "dcrond-bench schedule: \(iterations) next-instant computations per expression, each from the previous result"
        )
        var totalComputations = 0
        var totalTime = Duration.zero
        for (expression, zoneName) in Self.typical {
            let schedule = try Schedule(parsing: expression, jobName: "bench-job")
            let zone = try TimeZoneRules.named(zoneName)
            let policy = schedule.defaultDSTPolicy
            var instant = start
            var checksum: Int64 = 0
            let began = clock.now
            for _ in 0..<iterations {
                // A year's span wraps back, so sparse expressions do not run off into the far future.
                instant = schedule.next(after: instant, in: zone, policy: policy) ?? start
                if instant > start + 366 * 86_400 { instant = start }
                checksum &+= instant
            }
            let elapsed = clock.now - began
            totalComputations += iterations
            totalTime += elapsed
            print(
                "  \(pad(expression, 18)) \(pad(zoneName, 18)) \(rate(iterations, elapsed))  (checksum \(checksum % 1000))"
            )
        }
        print("  all typical expressions: \(rate(totalComputations, totalTime))")

        // A table of `jobs` jobs mixing the typical expressions, H spreading them, and six zones.
        let zones = try [
            "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Sao_Paulo",
        ].map(TimeZoneRules.named)
        let templates = [
            "H * * * *", "H H * * *", "H/15 * * * *", "0 H H * * *", "H H * * MON-FRI", "H H L * *", "*/5 * * * *",
            "@every 30s", "0 H 1,15 * *",
        ]
        let parseStart = clock.now
        let table = try (0..<jobs).map { index in
            (
                try Schedule(parsing: templates[index % templates.count], jobName: "job-\(index)"),
                zones[index % zones.count]
            )
        }
        let parseTime = clock.now - parseStart
        var planTimes: [Duration] = []
        for round in 0..<5 {
            let now = start + Int64(round) * 3_600_017
            let began = clock.now
            var earliest = Int64.max
            for (schedule, zone) in table {
                if let next = schedule.next(after: now, in: zone, policy: schedule.defaultDSTPolicy) {
                    earliest = min(earliest, next)
                }
            }
            planTimes.append(clock.now - began)
            precondition(earliest < .max)
        }
        planTimes.sort()
        print(
            "  \(jobs)-job table: parse \(milliseconds(parseTime)); next instant of every job: best \(milliseconds(planTimes[0])), median \(milliseconds(planTimes[2]))"
        )

        if let peer = await shellOutput(
            """
            python3 -c "
            import time
            from datetime import datetime, timezone
            from croniter import croniter
            it = croniter('*/5 * * * *', datetime(2026, 1, 1, tzinfo=timezone.utc))
            n = 20000
            t = time.perf_counter()
            for _ in range(n): it.get_next(float)
            print('%.0f' % (n / (time.perf_counter() - t)))
            " 2>/dev/null
            """
        ) {
            print("  peer croniter 7.0.0 (Python), */5 * * * * in UTC: \(peer.trimmingWhitespace())/s")
        }
    }

    private func parseInstantOrThrow(_ text: String) throws -> Int64 {
        guard let instant = parseInstant(text) else { throw ValidationError("bad instant \(text)") }
        return instant
    }
}

private func rate(_ count: Int, _ elapsed: Duration) -> String {
    let perSecond = Double(count) / elapsed.seconds
    return String(Int(perSecond.rounded())) + "/s"
}
