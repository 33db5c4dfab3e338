import Logging

/// One claim: "node N starts instant T of job J", named by a token unique to the attempt to run it.
package struct ClaimRequest: Sendable, Hashable {
    let job: String
    /// Unix seconds.
    let instant: Int64
    /// `<node> <run ID>`: the same token sent again (after a reply was lost) is answered as won.
    let token: String

    package init(job: String, instant: Int64, token: String) {
        self.job = job
        self.instant = instant
        self.token = token
    }
}

package enum ClaimResult: Sendable, Hashable {
    /// This claim holds the instant. `previous` is the job's last claimed instant before it (for
    /// ``ClaimStore/release(_:previous:)``).
    case won(previous: Int64?)
    /// The instant, or a later one, was claimed by someone else (or by this node under another token).
    case lost
    /// Redis went back in time moments ago and the other nodes may not have put their claims back
    /// yet: ask again shortly.
    case wait
    /// Won on the master, but fewer replicas than asked acknowledged it within the timeout: a
    /// failover now could lose it, so the run must not start yet. The same request sent again
    /// waits for the acknowledgements again.
    case unacknowledged(previous: Int64?, replicas: Int)
    /// The job is paused (`dcrond pause`): the instant is taken as handled, so that no node runs
    /// or catches it up, and recorded as skipped. `by`: the pause as stored, `<Unix ms> <who>`.
    case paused(by: String)
}

/// What became of a claim given back with ``ClaimStore/release(_:previous:)``.
enum ClaimRelease: Sendable, Hashable {
    /// The job's last claimed instant went back to the one before: the next owner runs the instant.
    case givenBack
    /// The claim was no longer the job's last (a later instant was claimed since, or the claim was
    /// put back by a repair under another token), so it could not go back: nobody runs the instant,
    /// and it is the releasing node's to report. `last`: the job's last claimed instant now.
    case superseded(last: Int64?)
}

/// The verdict of the missed-run check on one instant.
package enum MissedCheck: Sendable, Hashable {
    /// Claimed (run or skipped by its owner), or already reported.
    case accounted
    /// Nobody claimed it, and the job is not paused: now reported as missed by this node.
    case missed(lastClaimed: Int64?)
    /// Nobody claimed it while the job was paused: now recorded as skipped by this node.
    case paused(by: String)
    /// Won by a process of node `claimer` that stopped (crashed, was killed) before starting its
    /// run: now reported as missed by this node.
    case notStarted(claimer: String)
    /// Won by a process of node `claimer` that is alive and has not started the run yet (a burst,
    /// a wait for replicas or for its overlap lease): to be checked again later.
    case starting(claimer: String)
}

/// A claim attempt that Redis did not decide (no reply, a connection lost, a server error), with
/// the claim history's generation the store had seen when it sent it. Shown as its cause.
struct ClaimAttemptError: Error, CustomStringConvertible {
    let cause: any Error
    let generationSeen: Int64

    init(cause: any Error, generationSeen: Int64) {
        self.cause = cause
        self.generationSeen = generationSeen
    }

    var description: String { "\(cause)" }
}

/// A won claim whose claimer's process stopped before starting the run, found by a sweep of
/// `starting` (``ClaimStore/sweepNotStarted(through:)``).
struct NotStartedClaim: Sendable, Hashable {
    let job: String
    let instant: Int64
    let claimer: String
}

/// `claimReplicas` and `claimReplicaTimeout`: how many replicas must hold a claim (and an overlap
/// lease) before its run starts. With N ≥ 1, a failover to any of those replicas keeps every claim
/// that led to a start.
package struct ReplicaAcknowledgement: Sendable, Hashable {
    var replicas: Int
    var timeout: Duration

    package init(replicas: Int, timeout: Duration) {
        self.replicas = replicas
        self.timeout = timeout
    }
}

/// The job's claims as read for catch-up.
struct ClaimedInstants: Sendable, Hashable {
    /// The last claimed instant of each job asked for, nil if none is known.
    let last: [Int64?]
    /// Per job: its claim was written in the current history generation (claimed, or put back by a
    /// node that remembered it, since Redis last went back in time), so it can be trusted below the floor.
    let fresh: [Bool]
    /// Unix seconds before which the history is unknown (Redis went back in time then); 0 if never.
    let floor: Int64
    /// Every live node has put its claims back since the floor (or the wait is over): instants
    /// before the floor may be caught up (for fresh jobs) only once this is true.
    var settled = true
}

/// Where a node claims an instant of a job right before starting it. The claim is the final
/// arbiter of "at most once": two nodes that briefly disagree about ownership cannot both win it.
///
/// A claim is a compare-and-set on the job's **last claimed instant**: claiming instant T wins only
/// if no instant T or later was claimed for the job, and records T. So each instant is won at most
/// once, whatever the clocks, the order of the nodes or the retries; a node claims the instants of
/// one job in order. The same claim sent again with the same token (its reply was lost) is
/// answered `won` if it was this node's.
protocol ClaimStore: Sendable {
    /// Claims every request in one round trip; returns the results in order.
    func claim(_ requests: [ClaimRequest]) async throws -> [ClaimResult]
    /// Gives back a won claim that will not start (shutdown): the job's last claimed instant goes
    /// back to `previous` if the claim is still the last one, so the next owner can run it. Either
    /// way the claim leaves `starting`: a superseded claim is the caller's to report as missed.
    func release(_ request: ClaimRequest, previous: Int64?) async throws -> ClaimRelease
    /// The last claimed instants of `jobs`, and the floor of the known history.
    func lastClaimed(_ jobs: [String]) async throws -> ClaimedInstants
    /// Says that the runs of these won claims started (or failed to start, or were skipped, each
    /// logged and recorded): their claims leave `starting`, where the missed-run check finds the
    /// won claims of processes that stopped before starting them.
    func markStarted(_ requests: [ClaimRequest]) async throws
    /// Keeps a finished (or skipped) run in the job's bounded history.
    func record(_ run: RunRecord) async throws
    /// The same for several runs, in one round trip where the store can: per run, nil when it
    /// was kept, else why not (a server error for that run's keys does not fail the others).
    func record(_ runs: [RunRecord]) async throws -> [RedisServerError?]
    /// For the missed-run alarm: which of `instants` no node claimed, skipped or reported yet;
    /// those are marked reported in the same step, so that each is reported once by one node
    /// whatever the others do. Paused jobs' instants come back as ``MissedCheck/paused``.
    func reportMissed(_ instants: [(job: String, instant: Int64)]) async throws -> [MissedCheck]
    /// For the missed-run alarm when the checker that would have asked ``reportMissed(_:)`` is gone
    /// too: the won claims of instants up to `through` (Unix seconds) still in `starting` whose
    /// claimer's process is gone. Each is taken out of `starting` and marked reported in the same
    /// step, so that one node reports it, once, whichever asks first (a sweep or the checker).
    func sweepNotStarted(through: Int64) async throws -> [NotStartedClaim]
    /// Compares the claim history Redis reported (at a heartbeat) with what this node has seen,
    /// and repairs it if Redis went back in time.
    func checkHistory(generation: Int64, sequence: Int64) async
    /// The claim history this node has seen (sent with lease requests, which Redis refuses when it
    /// is behind it).
    func seenHistory() async -> ClaimHistory
}

extension ClaimStore {
    func claim(_ request: ClaimRequest) async throws -> ClaimResult {
        try await claim([request])[0]
    }

    func record(_ runs: [RunRecord]) async throws -> [RedisServerError?] {
        for run in runs { try await record(run) }
        return runs.map { _ in nil }
    }
}

/// The claim history a node has seen: Redis keeps `generation` and `sequence` in
/// `dcron:{c}:history`; every won claim advances the sequence, every repair after Redis went back
/// in time bumps the generation. Nodes remember the newest pair they saw, so Redis holding an older
/// one (a restart from a snapshot, a lagging replica promoted, a restart with no data) is noticed.
struct ClaimHistory: Sendable, Hashable {
    /// -1: nothing seen yet (a node that just started adopts what Redis has).
    var generation: Int64 = -1
    var sequence: Int64 = 0

    init(generation: Int64 = -1, sequence: Int64 = 0) {
        self.generation = generation
        self.sequence = sequence
    }

    /// Whether Redis reporting `generation`/`sequence` has lost history this node saw, or was
    /// repaired after such a loss by another node: either way this node must put back what it knows.
    func isDiscontinuous(generation stored: Int64, sequence storedSequence: Int64) -> Bool {
        guard generation >= 0 else { return false }
        return stored != generation || storedSequence < sequence
    }

    /// Takes a consistent newer report.
    mutating func observe(generation stored: Int64, sequence storedSequence: Int64) {
        if generation < 0 || stored == generation {
            generation = stored
            sequence = max(sequence, storedSequence)
        }
    }

    /// The longest that claims and catch-up older than a repair wait for every live node to confirm
    /// it has put its claims back: a node that cannot confirm by then has dropped out of the pool.
    static func settleLimit(heartbeat: Duration, nodeTimeout: Duration) -> Duration {
        nodeTimeout + heartbeat * 2 + .seconds(1)
    }
}

/// Claims in Redis (keys in ``ClusterKeys``): `claims` (hash job → last claimed instant),
/// `claimGeneration` (hash job → history generation in which that claim was written),
/// `claimedBy` (hash job → `<node> <instant> <run ID>`), `won:<node>` (hash job → `<instant> <token>`
/// of the node's last won claim, so a retried claim is recognised), `history` (hash: generation,
/// sequence, floor), run histories in `runs:<job>` (list, newest first, 100 kept) and `lastSuccess`.
///
/// Every claim and every read for catch-up carries the history this node has seen; a script that
/// finds Redis behind it refuses to act (`{-1, generation, sequence}`). The node then puts back the
/// last instant it won of every job it remembers, bumps the generation (so every other node
/// notices too and does the same), and sets the history's floor to now: catch-up never reaches
/// back before the floor, since stale values would run instants twice.
package actor RedisClaimStore: ClaimStore {
    let redis: RedisClient
    let keys: ClusterKeys
    let node: String
    private let logger: Logger
    private var history = ClaimHistory()
    /// The last instant this node won of each job, whoever owns the job now, with the claim's
    /// token: what it puts back. The token lets a retry of that claim (its run has not started:
    /// its reply was lost, or replicas had not acknowledged it) still be answered as won.
    private var won: [String: (instant: Int64, token: String)] = [:]
    private var repairTask: Task<Void, any Error>?
    private let settleLimit: Duration
    /// The nodes this node last saw in the pool (a repair waits for them: Redis may have lost them).
    private let knownMembers: @Sendable () -> [String]
    private(set) var repairs = 0
    /// Won claims that fewer replicas than asked acknowledged in time (each attempt counts).
    private(set) var unacknowledgedClaims = 0
    private let acknowledgement: ReplicaAcknowledgement?
    /// Tells this process's claims apart from those of an earlier one with the same node id (the
    /// node's `instance` in its info key).
    let instance: String

    /// `heartbeat`, `nodeTimeout`: the pool's, which bound how long claims older than a repair wait
    /// for the other nodes (``ClaimHistory/settleLimit(heartbeat:nodeTimeout:)``).
    package init(
        redis: RedisClient,
        cluster: String,
        node: String,
        heartbeat: Duration = .seconds(1),
        nodeTimeout: Duration = .seconds(3),
        knownMembers: @escaping @Sendable () -> [String] = { [] },
        acknowledgement: ReplicaAcknowledgement? = nil,
        instance: String = NodeDescription.newInstance(),
        logger: Logger = Logger(label: "dcrond.claims")
    ) {
        self.instance = instance
        self.acknowledgement = acknowledgement.flatMap { $0.replicas > 0 ? $0 : nil }
        self.redis = redis
        self.keys = ClusterKeys(cluster: cluster)
        self.node = node
        self.settleLimit = ClaimHistory.settleLimit(heartbeat: heartbeat, nodeTimeout: nodeTimeout)
        self.knownMembers = knownMembers
        self.logger = logger
    }

    func seenHistory() -> ClaimHistory { history }

    /// Lua: whether every live member (`members` scored by expiry) and every node the repairing
    /// nodes knew (`awaiting`: the members may have been lost with the data) has confirmed
    /// generation `gen` (`confirmed`: node → generation it put its claims back for), or the wait is over.
    static let settledFunction = """
        local function settled(gen, floor, membersKey, confirmedKey, awaitingKey, limitMs)
            local t = redis.call('TIME')
            local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            if nowMs >= floor * 1000 + limitMs then return true end
            for _, id in ipairs(redis.call('ZRANGEBYSCORE', membersKey, nowMs, '+inf')) do
                if tonumber(redis.call('HGET', confirmedKey, id) or '-1') ~= gen then return false end
            end
            for _, id in ipairs(redis.call('SMEMBERS', awaitingKey)) do
                if tonumber(redis.call('HGET', confirmedKey, id) or '-1') ~= gen then return false end
            end
            return true
        end
        """

    /// KEYS: claims, claimedBy, won:<node>, history, claimGeneration, members, confirmed, awaiting, paused,
    /// starting. ARGV: node, generation seen, sequence seen, settle limit (ms), this process's instance,
    /// then job, instant, token per claim. A won claim is also entered in `starting` until its run starts.
    /// Returns {1, generation, sequence, {result...}} with a result per claim (-2 lost; -3 won before,
    /// by this token; -5 wait; {who} the job is paused; -1 won with no previous instant; else won, the previous instant), or
    /// {-1, generation, sequence} when Redis is behind the caller. An instant at or before the
    /// history's floor waits until every live node has put its claims back (or the limit passed):
    /// before that, it may be one that another node ran and has not put back yet.
    static let claimScript = RedisScript(
        settledFunction + "\n" + """
            local h = redis.call('HMGET', KEYS[4], 'generation', 'sequence', 'floor')
            local gen, seq, floor = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0')
            local rgen, rseq = tonumber(ARGV[2]), tonumber(ARGV[3])
            if rgen >= 0 and (gen ~= rgen or seq < rseq) then return {-1, gen, seq} end
            local isSettled = floor == 0
            if floor > 0 then
                redis.call('HSET', KEYS[7], ARGV[1], gen)
                isSettled = settled(gen, floor, KEYS[6], KEYS[7], KEYS[8], tonumber(ARGV[4]))
            end
            local results = {}
            local advanced = false
            for i = 6, #ARGV, 3 do
                local job, instant, token = ARGV[i], ARGV[i + 1], ARGV[i + 2]
                local stored = redis.call('HGET', KEYS[1], job)
                local last = tonumber(stored or '-1')
                local pausedBy = redis.call('HGET', KEYS[9], job)
                if tonumber(instant) <= floor and not isSettled then
                    results[#results + 1] = -5
                elseif tonumber(instant) > last and pausedBy then
                    -- Handled while paused: never run, never caught up after the pause.
                    redis.call('HSET', KEYS[1], job, instant)
                    redis.call('HSET', KEYS[2], job, ARGV[1] .. ' ' .. instant .. ' paused')
                    redis.call('HSET', KEYS[5], job, gen)
                    seq = seq + 1
                    advanced = true
                    results[#results + 1] = {pausedBy}
                elseif tonumber(instant) > last then
                    redis.call('HSET', KEYS[1], job, instant)
                    redis.call('HSET', KEYS[2], job, ARGV[1] .. ' ' .. instant .. ' ' .. token)
                    redis.call('HSET', KEYS[3], job, instant .. ' ' .. token)
                    redis.call('HSET', KEYS[5], job, gen)
                    redis.call('HSET', KEYS[10], job .. ' ' .. instant, ARGV[1] .. ' ' .. ARGV[5])
                    seq = seq + 1
                    advanced = true
                    results[#results + 1] = last
                elseif redis.call('HGET', KEYS[3], job) == instant .. ' ' .. token then
                    -- Ours (a retry): confirmed in this generation if it is still the last claim. The
                    -- rewrite makes this connection's WAIT cover the claim, wherever it was first written.
                    if tonumber(instant) == last then redis.call('HSET', KEYS[5], job, gen) end
                    redis.call('HSET', KEYS[3], job, instant .. ' ' .. token)
                    results[#results + 1] = -3
                else
                    results[#results + 1] = -2
                end
            end
            if advanced then redis.call('HSET', KEYS[4], 'generation', gen, 'sequence', seq) end
            return {1, gen, seq, results}
            """
    )

    /// KEYS: claims, history, claimGeneration, members, confirmed, awaiting. ARGV: node, generation seen,
    /// sequence seen, settle limit (ms), jobs... Returns {1, generation, sequence, floor, {last...},
    /// {generation of each claim...}, settled (0/1)} or {-1, generation, sequence}.
    static let lastClaimedScript = RedisScript(
        settledFunction + "\n" + """
            local h = redis.call('HMGET', KEYS[2], 'generation', 'sequence', 'floor')
            local gen, seq, floor = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0')
            local rgen, rseq = tonumber(ARGV[2]), tonumber(ARGV[3])
            if rgen >= 0 and (gen ~= rgen or seq < rseq) then return {-1, gen, seq} end
            local isSettled = 1
            if floor > 0 then
                redis.call('HSET', KEYS[5], ARGV[1], gen)
                if not settled(gen, floor, KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[4])) then isSettled = 0 end
            end
            local jobs = {}
            for i = 5, #ARGV do jobs[#jobs + 1] = ARGV[i] end
            return {1, gen, seq, floor, redis.call('HMGET', KEYS[1], unpack(jobs)), redis.call('HMGET', KEYS[3], unpack(jobs)), isSettled}
            """
    )

    /// KEYS: history. ARGV: generation seen, sequence seen. The history check alone: {1, generation,
    /// sequence} or {-1, generation, sequence}.
    static let probeScript = RedisScript(
        """
        local h = redis.call('HMGET', KEYS[1], 'generation', 'sequence')
        local gen, seq = tonumber(h[1] or '0'), tonumber(h[2] or '0')
        local rgen, rseq = tonumber(ARGV[1]), tonumber(ARGV[2])
        if rgen >= 0 and (gen ~= rgen or seq < rseq) then return {-1, gen, seq} end
        return {1, gen, seq}
        """
    )

    /// KEYS: history, confirmed. ARGV: node, generation. A node that starts with no memory has
    /// nothing to put back: it confirms the generation it adopted.
    static let confirmScript = RedisScript(
        """
        if tonumber(redis.call('HGET', KEYS[1], 'generation') or '0') == tonumber(ARGV[2]) then
            redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
        end
        return 1
        """
    )

    /// KEYS: claims, claimedBy, history, claimGeneration, confirmed, awaiting, won:<node>. ARGV: node, generation
    /// seen, sequence seen, now, the count of nodes this node knew in the pool, their ids, then job,
    /// instant, token triples to put back (a claim equal to the one put back is confirmed; the
    /// token goes back to won:<node>, KEYS[7], so a retry of that claim is still answered as won). The known nodes
    /// join `awaiting` (reset by a bump): claims older than the repair wait for them too. When another node already repaired (a newer generation than the
    /// caller saw), adopts it; otherwise bumps the generation and sets the floor to now.
    /// Returns {generation, sequence, bumped (0/1), restored count}.
    static let repairScript = RedisScript(
        """
        local h = redis.call('HMGET', KEYS[3], 'generation', 'sequence', 'floor')
        local gen, seq, floor = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0')
        local rgen, rseq, now = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local bumped = 0
        if gen <= rgen then
            gen = math.max(gen, rgen) + 1
            seq = math.max(seq, rseq) + 1
            floor = math.max(floor, now)
            bumped = 1
            redis.call('DEL', KEYS[6])
        end
        local known = tonumber(ARGV[5])
        for i = 6, 5 + known do redis.call('SADD', KEYS[6], ARGV[i]) end
        local restored = 0
        for i = 6 + known, #ARGV, 3 do
            local job, instant, token = ARGV[i], ARGV[i + 1], ARGV[i + 2]
            local stored = tonumber(redis.call('HGET', KEYS[1], job) or '-1')
            if tonumber(instant) > stored then
                redis.call('HSET', KEYS[1], job, instant)
                redis.call('HSET', KEYS[2], job, ARGV[1] .. ' ' .. instant .. ' restored')
                if token ~= '' then redis.call('HSET', KEYS[7], job, instant .. ' ' .. token) end
                restored = restored + 1
            end
            if tonumber(instant) >= stored then redis.call('HSET', KEYS[4], job, gen) end
        end
        redis.call('HSET', KEYS[3], 'generation', gen, 'sequence', seq, 'floor', floor)
        redis.call('HSET', KEYS[5], ARGV[1], gen)
        return {gen, seq, bumped, restored}
        """
    )

    /// KEYS: claims, claimedBy, starting. ARGV: job, instant, token, node, previous instant (or '').
    /// Returns 1 when given back, else {0, the job's last claimed instant (or -1)}.
    static let releaseScript = RedisScript(
        """
        redis.call('HDEL', KEYS[3], ARGV[1] .. ' ' .. ARGV[2])
        if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[4] .. ' ' .. ARGV[2] .. ' ' .. ARGV[3] then
            return {0, tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')}
        end
        if ARGV[5] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[5]) end
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[4] .. ' ' .. ARGV[2] .. ' released')
        return 1
        """
    )

    /// Throws ``ClaimAttemptError``: the claim history seen when the claims were sent goes with
    /// the error, so a retry answered `lost` can tell whether Redis went back in time since.
    package func claim(_ requests: [ClaimRequest]) async throws -> [ClaimResult] {
        let generation = history.generation
        do {
            return try await sendClaims(requests)
        } catch {
            throw ClaimAttemptError(cause: error, generationSeen: generation)
        }
    }

    private func sendClaims(_ requests: [ClaimRequest]) async throws -> [ClaimResult] {
        guard !requests.isEmpty else { return [] }
        let (parts, acknowledged) = try await guardedByHistory(acknowledging: true) { seen in
            var arguments: [any RedisArgument] = [
                node, seen.generation, seen.sequence, settleLimit.wholeMilliseconds, instance,
            ]
            for request in requests {
                arguments.append(request.job)
                arguments.append(request.instant)
                arguments.append(request.token)
            }
            return .evaluate(
                Self.claimScript,
                keys: [
                    keys.claims, keys.claimedBy, keys.won(node), keys.history, keys.claimGeneration,
                    keys.members, keys.confirmed, keys.awaiting, keys.paused, keys.starting,
                ],
                arguments: arguments
            )
        }
        guard parts.count == 4, let results = parts[3].array, results.count == requests.count else {
            throw RedisServerError(message: "unexpected claim reply: \(parts)")
        }
        let outcomes: [ClaimResult] = zip(requests, results).map { request, result in
            if let paused = result.array { return .paused(by: paused.first?.string ?? "?") }
            let code = result.integer ?? -2
            if code == -2 { return .lost }
            if code == -5 { return .wait }
            // Remembered even when unacknowledged: a repair must put back what the master holds.
            if request.instant >= won[request.job]?.instant ?? .min {
                won[request.job] = (request.instant, request.token)
            }
            if let acknowledgement, acknowledged < acknowledgement.replicas {
                return .unacknowledged(previous: code >= 0 ? code : nil, replicas: acknowledged)
            }
            return .won(previous: code >= 0 ? code : nil)
        }
        unacknowledgedClaims += outcomes.count { if case .unacknowledged = $0 { true } else { false } }
        return outcomes
    }

    func release(_ request: ClaimRequest, previous: Int64?) async throws -> ClaimRelease {
        let reply = try await send(
            .evaluate(
                Self.releaseScript,
                keys: [keys.claims, keys.claimedBy, keys.starting],
                arguments: [
                    request.job, request.instant, request.token, node, previous.map(String.init) ?? "",
                ]
            )
        )
        guard reply.integer == 1 else {
            guard let parts = reply.array, parts.count == 2, let last = parts[1].integer else {
                throw RedisServerError(message: "unexpected release reply: \(reply)")
            }
            return .superseded(last: last >= 0 ? last : nil)
        }
        if won[request.job]?.instant == request.instant { won[request.job] = previous.map { ($0, "") } }
        return .givenBack
    }

    func lastClaimed(_ jobs: [String]) async throws -> ClaimedInstants {
        guard !jobs.isEmpty else { return ClaimedInstants(last: [], fresh: [], floor: 0, settled: true) }
        let parts = try await guardedByHistory { seen in
            .evaluate(
                Self.lastClaimedScript,
                keys: [keys.claims, keys.history, keys.claimGeneration, keys.members, keys.confirmed, keys.awaiting],
                arguments: [node, seen.generation, seen.sequence, settleLimit.wholeMilliseconds]
                    + jobs.map { $0 as any RedisArgument }
            )
        }
        guard parts.count == 7, let generation = parts[1].integer, let floor = parts[3].integer,
            let values = parts[4].array,
            let generations = parts[5].array, values.count == jobs.count, generations.count == jobs.count
        else {
            throw RedisServerError(message: "unexpected catch-up reply: \(parts)")
        }
        return ClaimedInstants(
            last: values.map { $0.string.flatMap { Int64($0) } },
            fresh: generations.map { $0.string.flatMap { Int64($0) } == generation },
            floor: floor,
            settled: parts[6].integer == 1
        )
    }

    /// A heartbeat's report comes over another connection and may be older than what this node has
    /// seen over this one (its claims are newer than the heartbeat): it is only a hint. A report
    /// that looks discontinuous is checked again with a probe on this connection, in order with the
    /// node's claims, and only that answer repairs.
    func checkHistory(generation: Int64, sequence: Int64) async {
        let seen = history
        if seen.isDiscontinuous(generation: generation, sequence: sequence) {
            do {
                _ = try await guardedByHistory { seen in
                    .evaluate(Self.probeScript, keys: [keys.history], arguments: [seen.generation, seen.sequence])
                }
            } catch {
                logger.warning(
                    "cannot check the claim history yet; claims stay refused until Redis answers",
                    metadata: ["error": "\(error)"]
                )
            }
        } else {
            let adopting = history.generation < 0
            history.observe(generation: generation, sequence: sequence)
            if adopting {
                await recallOwnClaims()
                _ = try? await send(
                    .evaluate(Self.confirmScript, keys: [keys.history, keys.confirmed], arguments: [node, generation])
                )
            }
        }
    }

    /// A node that starts has no memory of what it won before; Redis may still hold it in
    /// `won:<node>`. Taken back into memory at the first contact, so that if Redis later loses its
    /// data this node puts those claims back too. (The chaos harness found the hole: a node
    /// restarted between a rollback and an empty restart forgot two forbid instants it had run,
    /// and another node's older put-back claim let them be caught up a second time.)
    private func recallOwnClaims() async {
        guard !recalled else { return }
        recalled = true
        guard let reply = try? await send(RedisCommand("HGETALL", keys.won(node))), let fields = reply.array else {
            return
        }
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            guard let job = fields[index].string, let value = fields[index + 1].string else { continue }
            let parts = value.split(separator: " ", maxSplits: 1)
            guard let instant = parts.first.flatMap({ Int64($0) }) else { continue }
            if instant > won[job]?.instant ?? .min { won[job] = (instant, parts.count > 1 ? String(parts[1]) : "") }
        }
    }

    private var recalled = false

    /// Sends the command built from the history seen; when Redis is behind it, repairs and sends
    /// it again (once). Returns the reply's elements, the history updated from them.
    private func guardedByHistory(_ build: (ClaimHistory) -> RedisCommand) async throws -> [RedisReply] {
        try await guardedByHistory(acknowledging: false, build).parts
    }

    /// The same; with `acknowledging` and `claimReplicas` set, followed by `WAIT` on the same
    /// connection. Returns how many replicas acknowledged the command too (`Int.max` when none
    /// were asked).
    private func guardedByHistory(
        acknowledging: Bool,
        _ build: (ClaimHistory) -> RedisCommand
    )
        async throws -> (parts: [RedisReply], acknowledged: Int)
    {
        for _ in 0..<2 {
            let seen = history
            let reply: RedisReply
            var acknowledged = Int.max
            if acknowledging, let acknowledgement {
                (reply, acknowledged) = try await sendAcknowledged(build(seen), acknowledgement)
            } else {
                reply = try await send(build(seen))
            }
            guard let parts = reply.array, parts.count >= 3, let status = parts[0].integer,
                let generation = parts[1].integer, let sequence = parts[2].integer
            else {
                throw RedisServerError(message: "unexpected reply: \(reply)")
            }
            if status == 1 {
                let adopting = history.generation < 0
                history.observe(generation: generation, sequence: sequence)
                if adopting { await recallOwnClaims() }
                return (parts, acknowledged)
            }
            try await repair(after: seen, stored: (generation, sequence))
        }
        throw RedisServerError(message: "the claim history changed again during its repair")
    }

    /// One repair at a time; a caller whose view is already outdated by another repair only retries.
    private func repair(after seen: ClaimHistory, stored: (generation: Int64, sequence: Int64)) async throws {
        if let repairTask {
            try await repairTask.value
            return
        }
        guard history == seen else { return }
        let task = Task { try await self.performRepair(seen: seen, stored: stored) }
        repairTask = task
        defer { repairTask = nil }
        try await task.value
    }

    private func performRepair(seen: ClaimHistory, stored: (generation: Int64, sequence: Int64)) async throws {
        let now = realtimeNanoseconds() / 1_000_000_000
        let members = knownMembers()
        var arguments: [any RedisArgument] = [node, seen.generation, seen.sequence, now, members.count]
        arguments += members.map { $0 as any RedisArgument }
        for (job, claim) in won.sorted(by: { $0.key < $1.key }) {
            arguments.append(job)
            arguments.append(claim.instant)
            arguments.append(claim.token)
        }
        let reply = try await send(
            .evaluate(
                Self.repairScript,
                keys: [
                    keys.claims, keys.claimedBy, keys.history, keys.claimGeneration,
                    keys.confirmed, keys.awaiting, keys.won(node),
                ],
                arguments: arguments
            )
        )
        guard let parts = reply.array?.compactMap(\.integer), parts.count == 4 else {
            throw RedisServerError(message: "unexpected repair reply: \(reply)")
        }
        history = ClaimHistory(generation: parts[0], sequence: parts[1])
        repairs += 1
        let metadata: Logger.Metadata = [
            "node": "\(node)", "seenGeneration": "\(seen.generation)", "seenSequence": "\(seen.sequence)",
            "redisGeneration": "\(stored.generation)", "redisSequence": "\(stored.sequence)",
            "putBack": "\(parts[3])", "remembered": "\(won.count)",
        ]
        if parts[2] == 1 {
            logger.error(
                """
                Redis went back in time: it holds claim history \(stored.generation)/\(stored.sequence) but this node saw \
                \(seen.generation)/\(seen.sequence) (a restart from an older snapshot or with no data, or a lagging replica \
                promoted). Put back the last claims this node remembers (\(parts[3]) of \(won.count) were ahead of Redis); \
                instants before now wait until every node has put its claims back, and are not caught up for jobs whose \
                claims nobody remembers, since stale claims would run them twice
                """,
                metadata: metadata
            )
        } else {
            logger.error(
                "Redis went back in time (repaired by another node): put back the last claims this node remembers",
                metadata: metadata
            )
        }
    }

    private func sendAcknowledged(
        _ command: RedisCommand,
        _ acknowledgement: ReplicaAcknowledgement
    ) async throws -> (RedisReply, Int) {
        let result: (reply: RedisReply, acknowledged: Int)
        do {
            result = try await redis.sendAcknowledged(
                command,
                replicas: acknowledgement.replicas,
                timeout: acknowledgement.timeout
            )
        } catch {
            throw error as any Error
        }
        if case .error(let error) = result.reply { throw error as any Error }
        return (result.reply, result.acknowledged)
    }

    fileprivate func send(_ command: RedisCommand) async throws -> RedisReply {
        try await redis.checkedSend(command)
    }

    func markStarted(_ requests: [ClaimRequest]) async throws {
        guard !requests.isEmpty else { return }
        var command = RedisCommand("HDEL", keys.starting)
        for request in requests {
            command.append(ClusterKeys.startingField(job: request.job, instant: request.instant))
        }
        _ = try await send(command)
    }

    func record(_ run: RunRecord) async throws {
        if let error = try await record([run])[0] { throw error }
    }

    /// Every run's commands in one pipeline.
    func record(_ runs: [RunRecord]) async throws -> [RedisServerError?] {
        var commands: [RedisCommand] = []
        var ranges: [Range<Int>] = []
        for run in runs {
            let first = commands.count
            defer { ranges.append(first..<commands.count) }
            commands += RunHistory.writes(run, keys: keys)
        }
        let replies: [RedisReply]
        do { replies = try await redis.pipeline(commands) } catch { throw error as any Error }
        return ranges.map { range in
            for case .error(let error) in replies[range] { return error }
            return nil
        }
    }
}

extension RedisClaimStore {
    /// KEYS: claims, paused, missed, starting. ARGV: the prefix of the nodes' info keys, then job,
    /// instant pairs. Returns per pair: 0 accounted for; {1, last claimed or -1} missed (now marked);
    /// {2, who paused} unclaimed while paused (marked); {3, node} won by a process of `node` that is
    /// gone (its info key expired or holds another instance) and never started (now marked, and
    /// out of `starting`); {4, node} won by a live process that has not started it yet.
    static let missedScript = RedisScript(
        """
        local results = {}
        for i = 2, #ARGV, 2 do
            local job, instant = ARGV[i], tonumber(ARGV[i + 1])
            local field = job .. ' ' .. ARGV[i + 1]
            local last = tonumber(redis.call('HGET', KEYS[1], job) or '-1')
            local reported = tonumber(redis.call('HGET', KEYS[3], job) or '-1')
            local starting = redis.call('HGET', KEYS[4], field)
            if starting then
                local claimer, instance = string.match(starting, '^(.*) (%x+)$')
                if claimer and redis.call('HGET', ARGV[1] .. claimer, 'instance') == instance then
                    results[#results + 1] = {4, claimer}
                else
                    redis.call('HDEL', KEYS[4], field)
                    if reported < instant then redis.call('HSET', KEYS[3], job, instant) end
                    results[#results + 1] = {3, claimer or starting}
                end
            elseif last >= instant or reported >= instant then
                results[#results + 1] = 0
            else
                redis.call('HSET', KEYS[3], job, instant)
                local pausedBy = redis.call('HGET', KEYS[2], job)
                if pausedBy then results[#results + 1] = {2, pausedBy} else results[#results + 1] = {1, last} end
            end
        end
        return results
        """
    )

    package func reportMissed(_ instants: [(job: String, instant: Int64)]) async throws -> [MissedCheck] {
        guard !instants.isEmpty else { return [] }
        let reply = try await send(
            .evaluate(
                Self.missedScript,
                keys: [keys.claims, keys.paused, keys.missed, keys.starting],
                arguments: [keys.nodePrefix] + instants.flatMap { [$0.job as any RedisArgument, $0.instant] }
            )
        )
        guard let results = reply.array, results.count == instants.count else {
            throw RedisServerError(message: "unexpected missed-run reply: \(reply)")
        }
        return results.map { result in
            guard let parts = result.array, parts.count == 2 else { return .accounted }
            switch parts[0].integer {
            case 2: return .paused(by: parts[1].string ?? "?")
            case 3: return .notStarted(claimer: parts[1].string ?? "?")
            case 4: return .starting(claimer: parts[1].string ?? "?")
            default:
                let last = parts[1].integer ?? -1
                return .missed(lastClaimed: last >= 0 ? last : nil)
            }
        }
    }
}

extension RedisClaimStore {
    /// KEYS: starting, missed. ARGV: the prefix of the nodes' info keys, then fields of `starting`.
    /// Each field still there whose claimer's process is gone (its info key expired or holds
    /// another instance) leaves `starting`, its instant is marked reported (as ``missedScript``
    /// does), and {job, instant, claimer} is returned. A field of a live claimer is left alone.
    static let sweepScript = RedisScript(
        """
        local results = {}
        for i = 2, #ARGV do
            local field = ARGV[i]
            local value = redis.call('HGET', KEYS[1], field)
            if value then
                local claimer, instance = string.match(value, '^(.*) (%x+)$')
                if not (claimer and redis.call('HGET', ARGV[1] .. claimer, 'instance') == instance) then
                    redis.call('HDEL', KEYS[1], field)
                    local job, instant = string.match(field, '^(.*) (%-?%d+)$')
                    if job then
                        local reported = tonumber(redis.call('HGET', KEYS[2], job) or '-1')
                        if reported < tonumber(instant) then redis.call('HSET', KEYS[2], job, instant) end
                        results[#results + 1] = {job, instant, claimer or value}
                    end
                end
            end
        end
        return results
        """
    )

    /// `starting` is read with `HSCAN` (it holds only claims between their win and their start, a
    /// few at a time, unless processes died holding them), at most this many fields per sweep.
    static let sweepLimit = 10_000

    func sweepNotStarted(through: Int64) async throws -> [NotStartedClaim] {
        var cursor = "0"
        var fields: [String] = []
        repeat {
            let reply = try await send(RedisCommand("HSCAN", keys.starting, cursor, "COUNT", 1000))
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let pairs = parts[1].array
            else { throw RedisServerError(message: "unexpected HSCAN reply: \(reply)") }
            cursor = next
            for index in stride(from: 0, to: pairs.count - 1, by: 2) {
                guard let field = pairs[index].string,
                    let instant = field.split(separator: " ").last.flatMap({ Int64($0) }), instant <= through
                else { continue }
                fields.append(field)
            }
        } while cursor != "0" && fields.count < Self.sweepLimit
        var found: [NotStartedClaim] = []
        var index = 0
        while index < fields.count {
            let batch = fields[index..<min(fields.count, index + 500)]
            index += batch.count
            let reply = try await send(
                .evaluate(
                    Self.sweepScript,
                    keys: [keys.starting, keys.missed],
                    arguments: [keys.nodePrefix] + batch.map { $0 as any RedisArgument }
                )
            )
            guard let results = reply.array else { throw RedisServerError(message: "unexpected sweep reply: \(reply)") }
            for result in results {
                guard let parts = result.array, parts.count == 3, let job = parts[0].string,
                    let instant = parts[1].string.flatMap({ Int64($0) }), let claimer = parts[2].string
                else { continue }
                found.append(NotStartedClaim(job: job, instant: instant, claimer: claimer))
            }
        }
        return found
    }
}

/// Standalone mode: one node, claims in memory.
actor LocalClaimStore: ClaimStore {
    private var last: [String: (instant: Int64, token: String)] = [:]

    init() {}

    func claim(_ requests: [ClaimRequest]) async throws -> [ClaimResult] {
        requests.map { request in
            let previous = last[request.job]
            if let previous, previous.instant >= request.instant {
                return previous.instant == request.instant && previous.token == request.token
                    ? .won(previous: nil) : .lost
            }
            last[request.job] = (request.instant, request.token)
            return .won(previous: previous?.instant)
        }
    }

    func release(_ request: ClaimRequest, previous: Int64?) async throws -> ClaimRelease {
        guard let current = last[request.job], current.instant == request.instant, current.token == request.token else {
            return .superseded(last: last[request.job]?.instant)
        }
        last[request.job] = previous.map { ($0, "released") }
        return .givenBack
    }

    func lastClaimed(_ jobs: [String]) async throws -> ClaimedInstants {
        ClaimedInstants(last: jobs.map { last[$0]?.instant }, fresh: jobs.map { _ in true }, floor: 0, settled: true)
    }

    /// One node: a claim it won and did not start died with it, and nobody is left to report it.
    func markStarted(_ requests: [ClaimRequest]) async throws {}

    /// Standalone keeps no history: nothing could read it (`history` and `explain` need Redis),
    /// and 100 records of each of 100,000 jobs would be gigabytes. The journal has every run.
    func record(_ run: RunRecord) async throws {}

    func checkHistory(generation: Int64, sequence: Int64) async {}

    func seenHistory() -> ClaimHistory { ClaimHistory() }

    /// One node: when it is down nobody is left to report, and when it is up it handles every instant.
    func reportMissed(_ instants: [(job: String, instant: Int64)]) async throws -> [MissedCheck] {
        instants.map { _ in .accounted }
    }

    /// One process: no claimer can be gone while this one asks.
    func sweepNotStarted(through: Int64) async throws -> [NotStartedClaim] { [] }
}

extension RedisClaimStore {
    /// What `dcrond explain` reads of a job's claims, in a pipeline of its own: the last claimed
    /// instant and who claimed it (`<node> <token>`), as stored, without the checks of the claim
    /// history that the daemon's reads make (it only shows them). Read with ``lastClaim(in:)``.
    static func readLastClaim(_ job: String, keys: ClusterKeys) -> [RedisCommand] {
        [RedisCommand("HGET", keys.claims, job), RedisCommand("HGET", keys.claimedBy, job)]
    }

    /// The replies of ``readLastClaim(_:keys:)``.
    static func lastClaim(in replies: ArraySlice<RedisReply>) -> (instant: Int64?, claimedBy: String?) {
        (replies.first?.string.flatMap { Int64($0) }, replies.dropFirst().first?.string)
    }
}
