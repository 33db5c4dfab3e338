/// The instants one job missed in a gap, and which of them run: the catch-up planner, pure, so
/// that its policies, deadlines, DST instants and clock steps are tested with no Redis and no clock.
///
/// The gap is everything after `start` (the last claimed instant, or the moment a reload started
/// the job afresh) up to `now`, before `upper` (the next instant the loop has planned). Every
/// instant of it ends up in exactly one place: ``selection`` (run, or skipped by the deadline or
/// the policy), ``unknown``, or one of the two spans walked over without listing.
///
/// Walking costs what the job's `startingDeadline` allows, not what the gap is long: instants
/// older than the deadline never run, so at most ``listLimit`` of them are listed and the rest are
/// one span (``pastDeadlineSpan``). Within the deadline at most ``walkLimit`` are walked one by
/// one; a denser gap jumps to the newest instants, which are the ones a policy may run, and the
/// instants jumped over are skipped by the policy (``byPolicySpan``).
struct CatchUpPlan: Sendable, Equatable {
    /// Instants walked over without being listed one by one: the first of them, and a bound they
    /// are all before.
    struct Span: Sendable, Equatable {
        var first: Int64
        var before: Int64
    }

    /// At or before the history's floor (Redis went back in time then): whether they ran is unknown,
    /// so they are skipped, since running one that did run would run it twice.
    var unknown: [Int64] = []
    /// What the job's policy and deadline make of the listed instants.
    var selection = CatchUpSelection()
    /// Older than the starting deadline, past the ``listLimit`` listed ones.
    var pastDeadlineSpan: Span?
    /// Within the deadline, jumped over in a gap denser than ``walkLimit``: left out by the policy
    /// (`latest` and `none` run none of them, `all` runs only the newest `limit`).
    var byPolicySpan: Span?
    /// After `now`, up to `aheadThrough`: instants the loop dispatched ahead of time (``Daemon``'s
    /// `startLead`) while this node did not own the job. They are not missed but due, and run
    /// whatever the policy (their claims decide, as at any dispatch).
    var ahead: [Int64] = []

    static let listLimit = 1000
    static let walkLimit = 10_000

    /// - Parameters:
    ///   - planned: an instant the loop planned, walked first: `start` is then just before it. (An
    ///     instant at a DST transition is not the next one after the second before it.)
    ///   - current: whether the newest instant, if under 2 s old, is the one due now (the loop's
    ///     dispatch) rather than a missed one (a catch-up).
    ///   - pending: instants already queued in the job's lane, left out.
    ///   - aheadThrough: how far past `now` the loop has dispatched (see ``ahead``).
    ///   - limit: how many `all` runs.
    init(
        job: JobDefinition,
        after start: Int64,
        planned: Int64? = nil,
        before upper: Int64 = .max,
        now: Int64,
        floor: Int64 = 0,
        current allowsCurrent: Bool = false,
        pending: Set<Int64> = [],
        aheadThrough: Int64 = .min,
        limit: Int
    ) {
        let deadline = Int64(job.startingDeadline.components.seconds)
        // An instant `i` is past the deadline when now - i > deadline.
        let windowStart = now - deadline
        func next(after instant: Int64) -> Int64? {
            let following: Int64?
            if let first = planned, first > instant {
                following = first
            } else {
                following = job.schedule.next(after: instant, in: job.timeZone, policy: job.dstPolicy)
            }
            guard let following, following < upper, following <= now else { return nil }
            return following
        }
        var cursor = start
        var listed: [Int64] = []
        // Older than the deadline: listed up to the bound, then one span.
        while let instant = next(after: cursor), instant < windowStart {
            if listed.count + unknown.count >= Self.listLimit {
                pastDeadlineSpan = Span(first: instant, before: windowStart)
                cursor = windowStart - 1
                break
            }
            cursor = instant
            if pending.contains(instant) { continue }
            if instant <= floor { unknown.append(instant) } else { listed.append(instant) }
        }
        // Within the deadline: one by one, unless the gap is denser than the walk's bound.
        var walked = 0
        var jumpTried = false
        let walkStart = max(cursor, windowStart - 1)
        while let instant = next(after: cursor) {
            walked += 1
            if walked > Self.walkLimit, !jumpTried {
                jumpTried = true
                // Jump to where, at the density seen so far, about twice the instants a policy may
                // run are left: those are walked one by one again.
                let seen = max(1, cursor - walkStart)
                let keep = max(1, seen * Int64(2 * (limit + 1)) / Int64(Self.walkLimit))
                let target = max(cursor, now - keep)
                if let resumed = next(after: target), resumed > instant {
                    byPolicySpan = Span(first: instant, before: resumed)
                    cursor = target
                    continue
                }
            }
            cursor = instant
            if pending.contains(instant) { continue }
            if instant <= floor { unknown.append(instant) } else { listed.append(instant) }
        }
        var aheadCursor = max(start, now)
        while aheadThrough > now,
            let instant = job.schedule.next(after: aheadCursor, in: job.timeZone, policy: job.dstPolicy),
            instant <= aheadThrough, instant < upper
        {
            if !pending.contains(instant) { ahead.append(instant) }
            aheadCursor = instant
        }
        var current: Int64?
        if allowsCurrent, let newest = listed.last, now - newest < 2 {
            current = newest
            listed.removeLast()
        }
        selection = CatchUpSelection.select(
            missed: listed,
            current: current,
            policy: job.catchUp,
            startingDeadline: job.startingDeadline,
            now: now,
            limit: limit
        )
    }
}
