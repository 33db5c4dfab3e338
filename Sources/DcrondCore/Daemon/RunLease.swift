import Logging

/// The cluster-wide half of `overlap: forbid` and `overlap: replace`: a run of such a job holds a
/// lease in Redis for as long as it runs, wherever it runs.
///
/// - `dcron:{c}:lease:<job>` holds `<node> <run ID>` with a TTL of ``ttl(killGrace:)``: the node
///   timeout plus the job's kill grace plus a second. It is renewed every heartbeat by
///   compare-and-expire and released by compare-and-delete when the run ends. If its node dies, the
///   lease expires after that TTL.
/// - A holder that cannot renew for a node timeout terminates its run (SIGTERM, SIGKILL after the
///   kill grace), so the run is gone before its lease can expire and a run starts elsewhere; a Redis
///   blip shorter than the node timeout less a heartbeat and one retry does not end a run
///   (``LeaseRenewal``).
/// - `dcron:{c}:stop:<job>` holds the run ID a `replace` wants terminated; the holder reads it at
///   each renewal and terminates its run.
struct RunLeases: Sendable {
    let redis: RedisClient
    let keys: ClusterKeys
    /// How long a holder may go without renewing before it terminates its run: the node timeout.
    let renewalDeadline: Duration
    /// Acquisitions wait for these replicas like claims do: a lease is taken after its run's
    /// claim, so the claim's acknowledgement does not cover it. Renewals need none (a lost one is
    /// redone by the next, long before the TTL runs out).
    let acknowledgement: ReplicaAcknowledgement?

    /// Renewals go over a connection of their own: on the claim connection they would queue behind
    /// claims, and with `claimReplicas` each claim may hold it for `claimReplicaTimeout` (twenty
    /// jobs a second with the replica gone kept a running lease from being renewed for seconds).
    let renewals: RedisClient

    init(
        redis: RedisClient,
        renewals: RedisClient? = nil,
        cluster: String,
        nodeTimeout: Duration,
        acknowledgement: ReplicaAcknowledgement? = nil
    ) {
        self.acknowledgement = acknowledgement.flatMap { $0.replicas > 0 ? $0 : nil }
        self.renewals = renewals ?? redis
        self.redis = redis
        self.keys = ClusterKeys(cluster: cluster)
        self.renewalDeadline = nodeTimeout
    }

    func lease(_ job: String) -> String { keys.lease(job) }
    func stop(_ job: String) -> String { keys.stop(job) }

    /// The lease's lifetime for a job with `killGrace`: long enough for a holder cut off from Redis
    /// to notice (the node timeout) and end its run (the kill grace), with ``margin`` to spare.
    func ttl(killGrace: Duration) -> Duration { renewalDeadline + killGrace + Self.margin }

    /// What the TTL leaves beyond the deadline and the kill grace: for the termination itself (the
    /// holder's timer firing late on a loaded machine, the signal, the reaping) and for Redis's
    /// clock running ahead of the holder's. The deadline is kept by a timer, not by a failed
    /// attempt (``LeaseRenewal``), so the attempt in flight does not use it up.
    static let margin: Duration = .seconds(1)

    /// Bounds each step of a renewal (the connect, each read and write) on the renewal connection,
    /// so that a blip is ridden out: with the client's 2 s, one attempt begun in a blip used most
    /// of the node timeout, and a 1.5 s cut killed a run. At 250 ms, a dropped attempt is retried
    /// (``retryDelay``) several times before the deadline.
    static let attemptTimeout: Duration = .milliseconds(250)

    /// The wait after a failed renewal before the next (after a success: a heartbeat).
    static let retryDelay: Duration = .milliseconds(100)

    /// The renewal connection: `options` with each step bounded by ``attemptTimeout``, and
    /// reconnects that back off to at most one attempt's length, so that a blip is ridden out.
    static func renewalClient(
        endpoint: RedisEndpoint,
        options: RedisConnectionOptions,
        logger: Logger
    ) -> RedisClient {
        var renewal = options
        renewal.connectTimeout = min(options.connectTimeout, attemptTimeout)
        renewal.ioTimeout = min(options.ioTimeout, attemptTimeout)
        return RedisClient(
            endpoint: endpoint,
            options: renewal,
            reconnectBackoff: ExponentialBackoff(initial: .milliseconds(50), maximum: attemptTimeout),
            logger: logger
        )
    }

    /// `SET NX PX`: returns {1}, or {0, holder's value}, or {0} while leases are quarantined:
    /// for one lease lifetime after Redis went back in time (the history's floor), since the data
    /// may lack leases of runs still going, whose holders put them back at their next renewal; or
    /// {-1, generation, sequence} when Redis is behind the claim history the caller has seen (it has
    /// gone back in time and nobody noticed yet). KEYS: lease, history. ARGV: value, ttl,
    /// generation seen, sequence seen.
    static let acquire = RedisScript(
        """
        local h = redis.call('HMGET', KEYS[2], 'generation', 'sequence', 'floor')
        local gen, seq, floor = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0')
        local rgen, rseq = tonumber(ARGV[3]), tonumber(ARGV[4])
        if rgen >= 0 and (gen ~= rgen or seq < rseq) then return {-1, gen, seq} end
        if floor > 0 then
            local t = redis.call('TIME')
            if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) < floor * 1000 + tonumber(ARGV[2]) then return {0} end
        end
        -- Already ours (an attempt whose replicas did not acknowledge it): refreshed, so that this
        -- connection's WAIT covers it.
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return {1} end
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
        return {0, redis.call('GET', KEYS[1])}
        """
    )

    /// Renews if still ours, and puts it back if it is gone (Redis lost it: nobody else holds it);
    /// returns {held (0/1), stop requested (0/1)}. KEYS: lease, stop. ARGV: value, ttl, run ID.
    static let renew = RedisScript(
        """
        local held = 0
        local current = redis.call('GET', KEYS[1])
        if current == ARGV[1] then
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            held = 1
        elseif not current then
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            held = 1
        end
        local stop = 0
        if redis.call('GET', KEYS[2]) == ARGV[3] then stop = 1 end
        return {held, stop}
        """
    )

    /// Deletes the lease if still ours, and a stop request aimed at our run. KEYS: lease, stop. ARGV: value, run ID.
    static let release = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
        if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
        return 1
        """
    )

    enum Acquisition: Sendable, Equatable {
        case acquired
        /// Another run holds it: `<node> <run ID>`.
        case held(String)
        /// Redis went back in time less than a lease lifetime ago: holders are putting theirs back.
        case quarantined
        /// Redis is behind the history this node has seen: repair it (then the lease is quarantined).
        case historyBehind(generation: Int64, sequence: Int64)
        /// Taken on the master, but too few replicas acknowledged it: ask again (it is ours).
        case unacknowledged(replicas: Int)
    }

    func tryAcquire(
        _ job: String,
        value: String,
        ttl: Duration,
        seen: ClaimHistory
    ) async throws(RedisConnectionError) -> Acquisition {
        let command = RedisCommand.evaluate(
            Self.acquire,
            keys: [lease(job), keys.history],
            arguments: [value, ttl.wholeMilliseconds, seen.generation, seen.sequence]
        )
        let reply: RedisReply
        var acknowledged = Int.max
        if let acknowledgement {
            (reply, acknowledged) = try await redis.sendAcknowledged(
                command,
                replicas: acknowledgement.replicas,
                timeout: acknowledgement.timeout
            )
        } else {
            reply = try await redis.send(command)
        }
        let parts = reply.array ?? []
        if parts.first?.integer == 1 {
            if let acknowledgement, acknowledged < acknowledgement.replicas {
                return .unacknowledged(replicas: acknowledged)
            }
            return .acquired
        }
        if parts.count == 3, parts[0].integer == -1, let generation = parts[1].integer, let sequence = parts[2].integer
        {
            return .historyBehind(generation: generation, sequence: sequence)
        }
        if parts.count > 1, let holder = parts[1].string { return .held(holder) }
        if parts.count == 1 { return .quarantined }
        return .held("? ?")  // an expired lease between SET NX and GET: busy for this attempt
    }

    /// Asks the holder's run to terminate.
    func requestStop(_ job: String, runID: String, ttl: Duration) async throws(RedisConnectionError) {
        _ = try await redis.send("SET", stop(job), runID, "PX", ttl.wholeMilliseconds * 10)
    }

    func renew(
        _ job: String,
        value: String,
        runID: String,
        ttl: Duration
    ) async throws(RedisConnectionError) -> (held: Bool, stopRequested: Bool) {
        let reply = try await renewals.evaluate(
            Self.renew,
            keys: [lease(job), stop(job)],
            arguments: [value, ttl.wholeMilliseconds, runID]
        )
        let parts = reply.array?.compactMap(\.integer) ?? []
        return (parts.first == 1, parts.count > 1 && parts[1] == 1)
    }

    func release(_ job: String, value: String, runID: String) async throws(RedisConnectionError) {
        _ = try await redis.evaluate(Self.release, keys: [lease(job), stop(job)], arguments: [value, runID])
    }
}
