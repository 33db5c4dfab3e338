/// What a new jobs table does to the plan of next instants, computed from snapshots on the
/// reload's own thread, so that the scheduling loop only swaps it in: at 100,000 jobs building
/// it takes a few hundred milliseconds, which the loop would otherwise stand still for.
///
/// - A job whose definition did not change keeps its planned instant (`kept`).
/// - A job added, re-enabled or rescheduled (schedule or zone) is **fresh**: it starts from `now`,
///   with no replay of the time before; another changed job is planned again from `now` too.
/// - ``added`` and ``removed`` are the jobs enabled in one table and not in the other: ownership
///   changes only for them (it depends on the name alone), so the loop updates it in O(changed).
struct ReloadPlan: Sendable {
    var next: PlannedInstants
    var fresh: [String] = []
    var added: [String] = []
    var removed: [String] = []
    let now: Int64

    init(old: JobTable, new: JobTable, kept: [String: Int64], now: Int64) {
        self.now = now
        next = PlannedInstants()
        for job in new.jobs where job.enabled {
            let previous = old.job(named: job.name)
            if previous?.enabled != true { added.append(job.name) }
            if let previous, previous == job, let instant = kept[job.name] {
                next[job.name] = instant
                continue
            }
            if let instant = job.schedule.next(after: now, in: job.timeZone, policy: job.dstPolicy) {
                next[job.name] = instant
            }
            if previous == nil || previous?.enabled == false || previous?.schedule != job.schedule
                || previous?.timeZone != job.timeZone
            {
                fresh.append(job.name)
            }
        }
        for job in old.jobs where job.enabled && new.job(named: job.name)?.enabled != true { removed.append(job.name) }
    }
}
