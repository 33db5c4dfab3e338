import Testing

@testable import DcrondCore

@Suite("catch-up plan: every instant of a gap run or skipped, in time bounded by the deadline")
struct CatchUpPlanTests {
    /// 2026-12-01T00:00:00Z.
    let midnight: Int64 = 1_796_083_200

    func job(
        _ schedule: String,
        catchUp: CatchUpPolicy = .all,
        deadline: Duration = .seconds(3600),
        zone: TimeZoneRules = .utc,
        dst: DSTPolicy? = nil
    ) throws -> JobDefinition {
        JobDefinition(
            name: "j",
            schedule: try Schedule(parsing: schedule),
            command: "true",
            timeZone: zone,
            catchUp: catchUp,
            startingDeadline: deadline,
            dstPolicy: dst
        )
    }

    /// Every instant of `job` in (after, now], walked one by one: what the plan must account for.
    func everyInstant(_ job: JobDefinition, after: Int64, now: Int64) -> [Int64] {
        var result: [Int64] = []
        var cursor = after
        while let next = job.schedule.next(after: cursor, in: job.timeZone, policy: job.dstPolicy), next <= now {
            result.append(next)
            cursor = next
        }
        return result
    }

    @Test("a short gap: catchUp all runs every instant, in order")
    func shortGapAll() throws {
        let plan = CatchUpPlan(job: try job("* * * * * *"), after: midnight, now: midnight + 10, limit: 100)
        #expect(plan.selection == CatchUpSelection(run: Array(midnight + 1...midnight + 10)))
        #expect(plan.unknown.isEmpty && plan.pastDeadlineSpan == nil && plan.byPolicySpan == nil)
    }

    @Test("the loop's dispatch: the instant due now runs under every policy, the missed ones by the policy")
    func currentInstant() throws {
        for (policy, run) in [
            (CatchUpPolicy.none, [midnight + 5]), (.latest, [midnight + 5]),
            (.all, [midnight + 3, midnight + 4, midnight + 5]),
        ] {
            let plan = CatchUpPlan(
                job: try job("* * * * * *", catchUp: policy),
                after: midnight + 2,
                now: midnight + 5,
                current: true,
                limit: 100
            )
            #expect(plan.selection.run == run, "\(policy)")
            #expect(plan.selection.all == [midnight + 3, midnight + 4, midnight + 5], "\(policy)")
        }
        // Held up for longer than a second or so, the newest is missed too: none runs nothing.
        let held = CatchUpPlan(
            job: try job("*/10 * * * * *", catchUp: .none),
            after: midnight - 1,
            now: midnight + 3,
            current: true,
            limit: 100
        )
        #expect(held.selection == CatchUpSelection(byPolicy: [midnight]), "3 s late is missed, not current")
    }

    @Test(
        "two days down, a job every minute with catchUp latest: the newest instant runs; every older one is skipped and logged"
    )
    func longGapLatest() throws {
        let job = try job("0 * * * * *", catchUp: .latest)
        let now = midnight + 2 * 86_400
        let plan = CatchUpPlan(job: job, after: midnight, now: now, limit: 100)
        #expect(plan.selection.run == [now], "the newest instant within the deadline runs")
        #expect(plan.selection.byPolicy == Array(stride(from: now - 3600, to: now, by: 60)), "the rest of the hour")
        let old = everyInstant(job, after: midnight, now: now - 3601)
        #expect(plan.selection.pastDeadline == Array(old.prefix(CatchUpPlan.listLimit)))
        #expect(plan.pastDeadlineSpan == CatchUpPlan.Span(first: old[CatchUpPlan.listLimit], before: now - 3600))
        #expect(plan.byPolicySpan == nil)
    }

    @Test(
        "a clock step forward of an hour, a job every second with catchUp all: the newest 100 and the current one run, not the oldest"
    )
    func clockStepForward() throws {
        let job = try job("* * * * * *", catchUp: .all, deadline: .seconds(7200))
        let planned = midnight + 1
        let now = planned + 3600
        let plan = CatchUpPlan(job: job, after: planned - 1, now: now, current: true, limit: 100)
        #expect(plan.selection.run == Array(now - 100...now))
        #expect(plan.selection.byPolicy == Array(planned..<now - 100))
        #expect(plan.selection.all == everyInstant(job, after: planned - 1, now: now), "every instant, once")
    }

    @Test(
        "an instant the loop dispatched ahead while another node owned the job is due, not missed, under every policy"
    )
    func dispatchedAhead() throws {
        for policy in CatchUpPolicy.allCases {
            let plan = CatchUpPlan(
                job: try job("* * * * * *", catchUp: policy),
                after: midnight + 2,
                before: midnight + 6,
                now: midnight + 4,
                aheadThrough: midnight + 5,
                limit: 100
            )
            #expect(plan.ahead == [midnight + 5], "\(policy)")
            #expect(plan.selection.all == [midnight + 3, midnight + 4], "\(policy): the missed ones as ever")
        }
        // Claimed already, queued already, past the loop's plan, or nothing dispatched ahead: none.
        let every = try job("* * * * * *")
        #expect(
            CatchUpPlan(job: every, after: midnight + 5, now: midnight + 4, aheadThrough: midnight + 5, limit: 9).ahead
                == []
        )
        #expect(
            CatchUpPlan(
                job: every,
                after: midnight,
                now: midnight + 4,
                pending: [midnight + 5],
                aheadThrough: midnight + 5,
                limit: 9
            ).ahead == []
        )
        #expect(
            CatchUpPlan(
                job: every,
                after: midnight,
                before: midnight + 5,
                now: midnight + 4,
                aheadThrough: midnight + 5,
                limit: 9
            )
            .ahead == []
        )
        #expect(CatchUpPlan(job: every, after: midnight, now: midnight + 4, limit: 9).ahead == [])
        // A job with no instant in the window has none either.
        #expect(
            CatchUpPlan(
                job: try job("0 * * * * *"),
                after: midnight,
                now: midnight + 4,
                aheadThrough: midnight + 5,
                limit: 9
            )
            .ahead == []
        )
    }

    @Test("a clock step backward: nothing is due")
    func clockStepBackward() throws {
        let plan = CatchUpPlan(
            job: try job("* * * * * *"),
            after: midnight,
            now: midnight - 3600,
            current: true,
            limit: 100
        )
        #expect(plan == CatchUpPlan(job: try job("* * * * * *"), after: midnight, now: midnight, limit: 100))
        #expect(plan.selection.all.isEmpty)
    }

    @Test(
        "a gap denser than the walk's bound: the newest run, the instants jumped over are one span skipped by the policy"
    )
    func denseGapJumps() throws {
        let job = try job("* * * * * *", catchUp: .all, deadline: .seconds(86_400))
        let now = midnight + 86_400
        let plan = CatchUpPlan(job: job, after: midnight, now: now, limit: 100)
        #expect(plan.selection.run == Array(now - 99...now))
        let span = try #require(plan.byPolicySpan)
        #expect(span.first == midnight + 1 + Int64(CatchUpPlan.walkLimit), "the walk goes one by one up to its bound")
        #expect(span.before > span.first && span.before <= now - 99)
        // Every instant is listed or inside the span, and none twice.
        let listed = plan.selection.all
        #expect(Set(listed).count == listed.count)
        #expect(listed.allSatisfy { $0 < span.first || $0 >= span.before })
        #expect(listed.count == CatchUpPlan.walkLimit + Int(now - span.before + 1))
        #expect(listed.count < 2 * CatchUpPlan.walkLimit, "the walk stays bounded: \(listed.count)")
    }

    @Test(
        "instants at or before the history's floor are unknown; queued ones and those from the next planned one on are left out"
    )
    func floorPendingAndUpper() throws {
        let plan = CatchUpPlan(
            job: try job("* * * * * *"),
            after: midnight,
            before: midnight + 9,
            now: midnight + 20,
            floor: midnight + 3,
            pending: [midnight + 5],
            limit: 100
        )
        #expect(plan.unknown == [midnight + 1, midnight + 2, midnight + 3])
        #expect(plan.selection.run == [midnight + 4, midnight + 6, midnight + 7, midnight + 8])
    }

    @Test("the starting deadline: older instants are skipped even under all")
    func deadline() throws {
        let plan = CatchUpPlan(
            job: try job("* * * * * *", deadline: .seconds(5)),
            after: midnight,
            now: midnight + 10,
            limit: 100
        )
        #expect(plan.selection.pastDeadline == Array(midnight + 1...midnight + 4))
        #expect(plan.selection.run == Array(midnight + 5...midnight + 10))
    }

    @Test(
        "DST in Berlin: the 02:30 that spring skips runs once at the transition (run) or not (skip); autumn's repeated 02:30 once or twice"
    )
    func daylightSaving() throws {
        let berlin = try TimeZoneRules.named("Europe/Berlin")
        // 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z. 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00Z.
        let springNight: Int64 = 1_774_742_400  // 2026-03-29T00:00:00Z
        let autumnNight: Int64 = 1_792_886_400  // 2026-10-25T00:00:00Z
        func halfPastTwo(_ gap: DSTPolicy.Gap, _ overlap: DSTPolicy.Overlap) throws -> JobDefinition {
            try job(
                "0 30 2 * * *",
                deadline: .seconds(86_400),
                zone: berlin,
                dst: DSTPolicy(gap: gap, overlap: overlap)
            )
        }
        /// Caught up from noon before the night to noon after it.
        func caughtUp(_ job: JobDefinition, around night: Int64) -> CatchUpSelection {
            CatchUpPlan(job: job, after: night - 43_200, now: night + 43_200, limit: 100).selection
        }
        let runGap = try halfPastTwo(.run, .once)
        #expect(caughtUp(runGap, around: springNight).run == [springNight + 3600])
        #expect(caughtUp(try halfPastTwo(.skip, .once), around: springNight).all.isEmpty)
        // The loop's dispatch of the planned transition instant itself: it runs, on time.
        let transition = springNight + 3600
        let dispatched = CatchUpPlan(
            job: runGap,
            after: transition - 1,
            planned: transition,
            now: transition,
            current: true,
            limit: 100
        )
        #expect(dispatched.selection.run == [transition])
        #expect(caughtUp(runGap, around: autumnNight).run == [autumnNight + 1800])
        #expect(
            caughtUp(try halfPastTwo(.run, .twice), around: autumnNight).run == [
                autumnNight + 1800, autumnNight + 5400,
            ]
        )
    }
}
