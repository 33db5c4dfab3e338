/// What `dcrond explain` says about one instant of a job: which node owns it and why, whether it
/// was claimed, and if it did not run, the rule that stopped it. Pure: everything it needs is read
/// beforehand (``JobExplanation/Facts``), so each rule is unit-tested without Redis or a clock.
struct JobExplanation: Sendable {
    /// What is known about the job in the cluster, as read by the command.
    struct Facts: Sendable {
        var job: JobDefinition
        var now: Int64
        /// The job's history, newest first.
        var records: [RunRecord] = []
        /// The job's last claimed instant, and `claimedBy`: `<node> <instant> <token>`.
        var lastClaimed: Int64?
        var claimedBy: String?
        /// `(Unix ms, who)` while paused.
        var paused: (since: Int64, who: String)?
        var nodes: [ClusterStatus.Node] = []
        var virtualNodes = 160
        var nodeTimeout = Duration.seconds(3)
        var missedRunGrace = DaemonConfiguration.defaultMissedRunGrace

        init(job: JobDefinition, now: Int64) {
            self.job = job
            self.now = now
        }
    }

    /// What happened to the instant, or what will.
    enum Verdict: Sendable, Equatable {
        /// It has a run record (succeeded or failed).
        case ran(RunRecord)
        /// Claimed, with no record yet: running now, or its node stopped before writing it.
        case claimed(node: String?)
        /// Did not run, or will not: the rule and the reason in words.
        case stopped(SkipRule, String)
        /// Not run, past its grace, and the alarm reported it.
        case missed(SkipRule, String)
        /// Past, not claimed, still within the missed-run grace: it may start yet.
        case pending(String)
        /// In the future: it will run on this node as things stand.
        case upcoming(owner: String)
    }

    let instant: Int64
    let verdict: Verdict
    /// The DST adjustment of this instant, if any (from the job's `dstGap`/`dstOverlap`).
    let dst: String?
    /// The owner among the active nodes now, and why.
    let owner: String?
    let ownerReason: String

    var rule: SkipRule? {
        switch verdict {
        case .stopped(let rule, _), .missed(let rule, _): rule
        default: nil
        }
    }

    /// The latest instant of the schedule at or before `now`, if any within 400 days.
    static func latestDue(_ job: JobDefinition, now: Int64) -> Int64? {
        for window: Int64 in [120, 7_200, 172_800, 3_000_000, 34_560_000] {
            var cursor = now - window
            var latest: Int64?
            while let next = job.schedule.next(after: cursor, in: job.timeZone, policy: job.dstPolicy), next <= now {
                latest = next
                cursor = next
            }
            if let latest { return latest }
        }
        return nil
    }

    /// The schedule's instants in (`after`, `until`] under the job's DST policy, each with its
    /// adjustment, and the wall-clock times the policy leaves out (`runs` false).
    static func dstAnnotated(
        _ job: JobDefinition,
        after: Int64,
        count: Int
    ) -> [(instant: Int64, runs: Bool, note: String?)] {
        let policy = job.dstPolicy
        let planned = job.schedule.instants(after: after, count: count, in: job.timeZone, policy: policy)
        guard let last = planned.last else { return [] }
        func variant(gap: DSTPolicy.Gap, overlap: DSTPolicy.Overlap) -> Set<Int64> {
            var result = Set<Int64>()
            var cursor = after
            while let next = job.schedule.next(
                after: cursor,
                in: job.timeZone,
                policy: DSTPolicy(gap: gap, overlap: overlap)
            ), next <= last {
                result.insert(next)
                cursor = next
            }
            return result
        }
        let plannedSet = Set(planned)
        let withoutGapRuns = variant(gap: .skip, overlap: policy.overlap)
        let withGapRuns = variant(gap: .run, overlap: policy.overlap)
        let once = variant(gap: policy.gap, overlap: .once)
        let twice = variant(gap: policy.gap, overlap: .twice)
        var entries: [(instant: Int64, runs: Bool, note: String?)] = planned.map { instant in
            if !withoutGapRuns.contains(instant) {
                return (
                    instant, true,
                    "its wall-clock time does not exist (DST starts): run at the transition (dstGap: run)"
                )
            }
            if !once.contains(instant) {
                return (instant, true, "its wall-clock time repeats (DST ends): runs at both (dstOverlap: twice)")
            }
            return (instant, true, nil)
        }
        for instant in withGapRuns.subtracting(plannedSet) {
            entries.append((instant, false, "its wall-clock time does not exist (DST starts): not run (dstGap: skip)"))
        }
        for instant in twice.subtracting(plannedSet) {
            entries.append(
                (instant, false, "its wall-clock time repeats (DST ends): runs at the first only (dstOverlap: once)")
            )
        }
        return entries.sorted { $0.instant < $1.instant }
    }

    /// Explains `instant` from `facts`.
    init(_ instant: Int64, _ facts: Facts) {
        self.instant = instant
        let job = facts.job
        let placement = ClusterStatus.placement(of: facts.nodes, virtualNodes: facts.virtualNodes)
        owner = placement.owner(of: job.name)
        if let reason = placement.reason(forJob: job.name) {
            ownerReason = reason
        } else {
            ownerReason =
                facts.nodes.isEmpty
                ? "no node is in the pool"
                : "every node of the pool is draining (\(facts.nodes.map(\.id).joined(separator: ", ")))"
        }
        let annotated = Self.dstAnnotated(job, after: instant - 1, count: 1)
        let here = annotated.first { $0.instant == instant }
        dst = here?.note
        verdict = Self.verdict(instant, facts, planned: here, owner: owner)
    }

    private static func verdict(
        _ instant: Int64,
        _ facts: Facts,
        planned: (instant: Int64, runs: Bool, note: String?)?,
        owner: String?
    ) -> Verdict {
        let job = facts.job
        // The history first: it says what happened, whatever the file says now.
        // A manual run's instant is when it was asked for: it says nothing of the schedule's.
        if let record = facts.records.first(where: { record in
            record.trigger != .manual && record.scheduledAt <= instant
                && instant <= (record.through ?? record.scheduledAt)
        }) {
            switch record.outcome {
            case .succeeded, .failed, .notClaimed: return .ran(record)
            case .skipped(let reason):
                return .stopped(record.rule ?? .refused, "skipped on node \(record.node): \(reason)")
            case .missed(let reason):
                return .missed(record.rule ?? .ownerDidNotClaim, "reported missed by node \(record.node): \(reason)")
            }
        }
        if !job.enabled {
            return .stopped(.disabled, "the job has \"enabled\": false in the jobs file: no instant of it is planned")
        }
        guard let planned else {
            return .stopped(
                .dst,
                "not an instant of the schedule \"\(job.schedule.text)\" in \(job.timeZone.identifier)"
            )
        }
        if !planned.runs { return .stopped(.dst, planned.note ?? "left out by the job's DST policy") }
        if instant > facts.now {
            if let paused = facts.paused {
                return .stopped(
                    .paused,
                    "the job is paused (by \(paused.who)): it will be skipped unless unpaused first"
                )
            }
            guard let owner else {
                return .stopped(
                    facts.nodes.isEmpty ? .noActiveNode : .draining,
                    "no node is active: it will be missed unless one is by then"
                )
            }
            return .upcoming(owner: owner)
        }
        if let last = facts.lastClaimed, last >= instant {
            let parts = facts.claimedBy?.split(separator: " ") ?? []
            if parts.count >= 2, parts[1] == "\(instant)" { return .claimed(node: String(parts[0])) }
            return .claimed(node: nil)
        }
        if let paused = facts.paused, paused.since <= instant * 1000 {
            return .stopped(.paused, "the job is paused (by \(paused.who)) and no node has recorded the skip yet")
        }
        if instant + Int64(facts.missedRunGrace.components.seconds) > facts.now {
            return .pending(
                "not claimed yet; the missed-run alarm waits \(formatDuration(facts.missedRunGrace)) after the instant"
            )
        }
        // Not claimed, not recorded: the record may have aged out of the history too.
        guard let owner else {
            return .missed(
                facts.nodes.isEmpty ? .noActiveNode : .draining,
                facts.nodes.isEmpty
                    ? "never claimed: no node is in the pool" : "never claimed: every node of the pool is draining"
            )
        }
        if let node = facts.nodes.first(where: { $0.id == owner }), let age = node.heartbeatAgeMilliseconds,
            age > facts.nodeTimeout.wholeMilliseconds
        {
            return .missed(
                .fenced,
                "never claimed: its owner, node \(owner), last heartbeat \(age) ms ago (fenced, partitioned or stopped)"
            )
        }
        return .missed(
            .ownerDidNotClaim,
            "never claimed by its owner, node \(owner) (it may have owned it only later, or the record is older than the history's \(RunHistory.length) records)"
        )
    }

    /// One line for people.
    var summary: String {
        switch verdict {
        case .ran(let record):
            var text =
                "ran on node \(record.node) (run \(record.runID), \(record.trigger.rawValue)): \(record.outcome.word), \(record.resultText)"
            if let late = record.startLatenessMilliseconds { text += ", started \(late) ms after its instant" }
            return text
        case .claimed(let node):
            return
                "claimed\(node.map { " by node \($0)" } ?? ""), no record yet: running now, or its node stopped before recording it"
        case .stopped(let rule, let reason): return "did not run [\(rule.rawValue)]: \(reason)"
        case .missed(let rule, let reason): return "MISSED [\(rule.rawValue)]: \(reason)"
        case .pending(let reason): return "pending: \(reason)"
        case .upcoming(let owner): return "will run on node \(owner), its owner now"
        }
    }

    var json: JSONValue {
        let kind: String
        switch verdict {
        case .ran: kind = "ran"
        case .claimed: kind = "claimed"
        case .stopped: kind = "stopped"
        case .missed: kind = "missed"
        case .pending: kind = "pending"
        case .upcoming: kind = "upcoming"
        }
        var record: JSONValue = .null
        if case .ran(let value) = verdict { record = value.json }
        return .object([
            "instant": .integer(instant), "verdict": .string(kind), "rule": rule.map { .string($0.rawValue) } ?? .null,
            "summary": .string(summary), "dst": dst.map { .string($0) } ?? .null,
            "owner": owner.map { .string($0) } ?? .null, "ownerReason": .string(ownerReason), "record": record,
        ])
    }
}
