import Logging
import Synchronization

/// The daemon's side of `overlap: forbid` and `overlap: replace`: takes a run's lease before it
/// starts (waiting for the holder, asking it to stop, or failing closed), keeps it renewed while
/// the run lasts, and ends the run when the lease cannot be kept, so that no second copy
/// overlaps it anywhere. The lease scripts themselves are ``RunLeases``.
struct LeaseGuard: Sendable {
    let leases: RunLeases
    /// The claim history seen, sent with each request (Redis refuses one behind it).
    let claims: any ClaimStore
    /// Terminates a run whose lease is lost or cannot be renewed.
    let runner: JobRunner
    let logger: Logger
    let node: String
    let heartbeat: Duration
    let claimReplicas: Int
    /// A queued instant stops waiting for the lease when the node stops.
    let isStopping: @Sendable () async -> Bool
    let countUnacknowledged: @Sendable () async -> Void

    struct LeaseSkip: Error {
        let reason: String
        var rule = SkipRule.overlap
    }

    /// Takes the job's overlap lease: at once if free; for `replace`, after asking the holder to
    /// stop and waiting for it (up to its kill grace and two lease lifetimes). For `forbid`, an
    /// instant that is due now is skipped while another run holds the lease, while a queued one (a
    /// backlog, run in order) waits for it until `waitUntil` (its starting deadline) or a shutdown.
    /// Fails closed.
    private func take(
        job: JobDefinition,
        runID: String,
        waitUntil: ContinuousClock.Instant?
    ) async -> Result<(value: String, sentAt: ContinuousClock.Instant), LeaseSkip> {
        let value = "\(node) \(runID)"
        let ttl = leases.ttl(killGrace: job.killGrace)
        do {
            // When the request that took it was sent: its TTL runs from a moment after that.
            var sentAt = ContinuousClock.now
            var acquisition = try await acquire(job.name, value: value, ttl: ttl)
            // A quarantined lease (Redis went back in time moments ago) is waited out by every
            // instant, a held one only by a queued instant of a `forbid` job.
            let waitsForHolder = job.overlap == .forbid && waitUntil != nil
            let limit = waitUntil ?? ContinuousClock.now + ttl + .seconds(1)
            var logged = false
            waiting: while await !isStopping(), ContinuousClock.now < limit {
                switch acquisition {
                case .acquired:
                    return .success((value, sentAt))
                case .held where !waitsForHolder:
                    break waiting
                case .held(let holder):
                    if !logged {
                        logger.info(
                            "waiting for run \(holder) to end (overlap is forbid; this instant is queued)",
                            metadata: ["job": "\(job.name)"]
                        )
                    }
                case .historyBehind:
                    break  // repaired in acquire; asked again
                case .quarantined:
                    if !logged {
                        logger.info(
                            "waiting for the overlap lease: Redis went back in time moments ago and running holders are putting theirs back",
                            metadata: ["job": "\(job.name)"]
                        )
                    }
                case .unacknowledged(let replicas):
                    await countUnacknowledged()
                    if !logged {
                        logger.warning(
                            "overlap lease taken, but \(replicas) of \(claimReplicas) replicas acknowledged it: not starting yet",
                            metadata: ["job": "\(job.name)"]
                        )
                    }
                }
                logged = true
                try? await Task.sleep(for: .milliseconds(100))
                sentAt = ContinuousClock.now
                acquisition = try await acquire(job.name, value: value, ttl: ttl)
            }
            let holder: String
            switch acquisition {
            case .acquired: return .success((value, sentAt))
            case .quarantined, .historyBehind:
                return .failure(
                    LeaseSkip(
                        reason: "the overlap lease stayed quarantined after Redis went back in time; not running",
                        rule: .unknownHistory
                    )
                )
            case .held(let value): holder = value
            case .unacknowledged(let replicas):
                try? await leases.release(job.name, value: value, runID: runID)
                return .failure(
                    LeaseSkip(
                        reason:
                            "only \(replicas) of \(claimReplicas) replicas acknowledged the overlap lease in time; not running",
                        rule: .claimFailed
                    )
                )
            }
            let parts = holder.split(separator: " ")
            let holderNode = parts.first.map(String.init) ?? "?"
            let holderRun = parts.last.map(String.init) ?? "?"
            if job.overlap == .forbid {
                return .failure(
                    LeaseSkip(reason: "overlap is forbid and run \(holderRun) on node \(holderNode) is still running")
                )
            }
            try await leases.requestStop(job.name, runID: holderRun, ttl: ttl)
            logger.info(
                "asked run \(holderRun) on node \(holderNode) to stop (overlap is replace)",
                metadata: ["job": "\(job.name)"]
            )
            let deadline = ContinuousClock.now + job.killGrace + ttl * 2 + .seconds(1)
            while ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(100))
                let sentAt = ContinuousClock.now
                if try await acquire(job.name, value: value, ttl: ttl) == .acquired {
                    return .success((value, sentAt))
                }
            }
            return .failure(
                LeaseSkip(reason: "overlap is replace but run \(holderRun) on node \(holderNode) did not stop in time")
            )
        } catch {
            return .failure(
                LeaseSkip(reason: "cannot take the overlap lease in Redis (\(error)); not running", rule: .claimFailed)
            )
        }
    }

    /// Takes the overlap lease for a run about to start (``take(job:runID:waitUntil:)``) and keeps it renewed in
    /// `holder` while the run lasts.
    func hold(
        job: JobDefinition,
        runID: String,
        waitUntil: ContinuousClock.Instant?,
        in holder: LeaseHolder
    ) async -> RunAdmission.Decision {
        switch await take(job: job, runID: runID, waitUntil: waitUntil) {
        case .failure(let skip):
            return .skip(skip.reason, skip.rule)
        case .success(let (value, sentAt)):
            holder.hold(
                value,
                renewal: renew(value: value, job: job, runID: runID, acquiredAt: sentAt)
            )
            return .start
        }
    }

    /// One lease request with the claim history this node has seen; when Redis is behind it, the
    /// history is repaired first (so the answer that follows is the quarantine).
    private func acquire(
        _ job: String,
        value: String,
        ttl: Duration
    ) async throws(RedisConnectionError) -> RunLeases.Acquisition {
        let acquisition = try await leases.tryAcquire(job, value: value, ttl: ttl, seen: await claims.seenHistory())
        if case .historyBehind(let generation, let sequence) = acquisition {
            await claims.checkHistory(generation: generation, sequence: sequence)
        }
        return acquisition
    }

    /// While the run lasts: renew the lease every heartbeat; stop the run if a `replace` elsewhere
    /// asks, and terminate it when the lease could not be renewed for a node timeout (or was lost),
    /// so that it has ended before the lease can expire and another node start the job.
    private func renew(
        value: String,
        job: JobDefinition,
        runID: String,
        acquiredAt: ContinuousClock.Instant
    ) -> Task<Void, Never> {
        let ttl = leases.ttl(killGrace: job.killGrace)
        let renewal = LeaseRenewal(
            renew: { [leases] in try await leases.renew(job.name, value: value, runID: runID, ttl: ttl) },
            terminate: { [runner] in await runner.terminate(runID: runID, grace: job.killGrace) },
            acquiredAt: acquiredAt,
            heartbeat: heartbeat,
            deadline: leases.renewalDeadline,
            retryDelay: RunLeases.retryDelay,
            logger: logger,
            metadata: ["job": "\(job.name)", "run": "\(runID)"]
        )
        return Task { await renewal.run() }
    }
}

/// The overlap lease of one run and its renewal task, set once the lease is taken.
final class LeaseHolder: Sendable {
    private let state = Mutex<(value: String?, renewal: Task<Void, Never>?)>((nil, nil))

    func hold(_ value: String, renewal: Task<Void, Never>) { state.withLock { $0 = (value, renewal) } }

    /// Stops the renewal; returns the lease to release, if one was taken.
    func end() -> String? {
        let (value, renewal) = state.withLock { state in
            defer { state = (nil, nil) }
            return (state.value, state.renewal)
        }
        renewal?.cancel()
        return value
    }
}
