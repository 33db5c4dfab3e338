import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The scheduler of one node: plans the next instant of every enabled job, sleeps until the
/// earliest, and at each instant claims the due jobs this node owns and runs the ones it won.
///
/// - No polling: one timer waits for the earliest instant; idle, the daemon does nothing but
///   heartbeat.
/// - Ownership comes from the pool's ring (standalone: every job is this node's); a fenced or
///   draining node claims nothing.
/// - Claims go to the claim store in one round trip per instant; on any error the node fails
///   closed (runs nothing it could not claim) and logs it.
/// - Whenever this node becomes the owner of a job (start-up, another node left or died, it came
///   back from fencing, Redis came back), it looks for instants missed since the job's last claimed
///   one and applies the job's `catchUp` policy within its `startingDeadline`; every skipped
///   instant is logged and counted.
/// - `reload()` re-reads both files; an invalid table is rejected with every problem logged and the
///   running table stays. `shutdown()` leaves the pool at once, lets running jobs finish within the
///   grace period, terminates the rest, and returns.
package actor Daemon {
    private let configPath: String
    private let logger: Logger
    private var daemon: DaemonConfiguration
    private var table: JobTable
    private let claims: any ClaimStore
    private let leases: RunLeases?
    private let pool: NodePool?
    private let runner: JobRunner
    private let timer = WallClockTimer()

    /// Next planned instant of each enabled job (Unix seconds).
    private var next: [String: Int64] = [:]
    /// Jobs this node owned when ownership was last evaluated.
    private var owned: Set<String> = []
    /// Last instant this node itself claimed, per job: catch-up after Redis lost its data.
    private var claimedHere: [String: Int64] = [:]
    private var runs: [UInt64: Task<Void, Never>] = [:]
    private var nextRunToken: UInt64 = 0
    private var stopping = false
    private var ownershipDirty = true
    private var rejoinedSinceLastCheck = false
    package private(set) var skippedInstants = 0
    package private(set) var failedClaims = 0

    package static let catchUpLimit = 100

    package init(configPath: String, loaded: LoadedConfiguration, logger: Logger) {
        self.configPath = configPath
        self.logger = logger
        self.daemon = loaded.daemon
        self.table = loaded.table
        let supervisor = ProcessSupervisor()
        self.runner = JobRunner(supervisor: supervisor,
                                settings: RunnerSettings(node: loaded.daemon.node, cluster: loaded.daemon.cluster,
                                                         maxConcurrentRuns: loaded.daemon.maxConcurrentRuns),
                                logger: logger)
        if let endpoint = loaded.daemon.redis {
            var options = RedisConnectionOptions()
            options.clientName = "dcrond:\(loaded.daemon.node)"
            let poolClient = RedisClient(endpoint: endpoint, options: options, logger: logger)
            let claimClient = RedisClient(endpoint: endpoint, options: options, logger: logger)
            self.claims = RedisClaimStore(redis: claimClient, cluster: loaded.daemon.cluster)
            self.leases = RunLeases(redis: claimClient, cluster: loaded.daemon.cluster, ttl: loaded.daemon.nodeTimeout)
            let settings = PoolSettings(cluster: loaded.daemon.cluster, node: loaded.daemon.node, heartbeat: loaded.daemon.heartbeat,
                                        nodeTimeout: loaded.daemon.nodeTimeout, virtualNodes: loaded.daemon.virtualNodes)
            let timer = self.timer
            let changes = PoolChangeBox()
            self.pool = NodePool(settings: settings, redis: poolClient,
                                 description: NodeDescription(fingerprint: loaded.table.fingerprint, timeZone: loaded.daemon.timeZone.identifier),
                                 logger: logger,
                                 onChange: { _, rejoined in
                                     changes.mark(rejoined: rejoined)
                                     timer.interrupt()
                                 })
            self.poolChanges = changes
        } else {
            self.claims = LocalClaimStore()
            self.leases = nil
            self.pool = nil
            self.poolChanges = PoolChangeBox()
        }
    }

    private let poolChanges: PoolChangeBox

    /// Runs until ``shutdown()``.
    package func run() async {
        let mode = pool == nil ? "standalone (no redis: this node runs every job)" : "cluster \(daemon.cluster)"
        logger.info("dcrond \(DcrondVersion.current) starting", metadata: [
            "node": "\(daemon.node)", "mode": "\(mode)", "jobs": "\(table.jobs.count)", "fingerprint": "\(table.fingerprint)",
        ])
        await pool?.start()
        planAll(after: nowSeconds())
        while !stopping {
            if poolChanges.take(into: &rejoinedSinceLastCheck) || ownershipDirty {
                ownershipDirty = false
                await ownershipChanged()
            }
            let earliest = next.values.min() ?? nowSeconds() + 3600
            let wake = await timer.wait(until: earliest * 1_000_000_000)
            if stopping { break }
            switch wake {
            case .interrupted:
                continue
            case .clockChanged:
                logger.warning("the wall clock was set; planning again")
                // Instants the clock jumped over are found by catch-up (claims keep them at most once).
                planAll(after: nowSeconds())
                ownershipDirty = true
                await catchUp(Array(owned), reason: "the wall clock was set")
            case .due:
                await dispatchDue()
            }
        }
    }

    // MARK: - Planning and dispatch

    private func planAll(after now: Int64) {
        next = [:]
        for job in table.jobs where job.enabled {
            if let instant = job.schedule.next(after: now, in: job.timeZone, policy: job.dstPolicy) { next[job.name] = instant }
        }
    }

    private func dispatchDue() async {
        let now = nowSeconds()
        var due: [(job: JobDefinition, instants: [Int64])] = []
        for job in table.jobs where job.enabled {
            guard var instant = next[job.name], instant <= now else { continue }
            var instants: [Int64] = []
            // Normally one instant; more if the loop was held up (suspend, overload).
            while instant <= now, instants.count <= Self.catchUpLimit {
                instants.append(instant)
                guard let following = job.schedule.next(after: instant, in: job.timeZone, policy: job.dstPolicy) else { break }
                instant = following
            }
            next[job.name] = instant > now ? instant : job.schedule.next(after: now, in: job.timeZone, policy: job.dstPolicy)
            due.append((job, instants))
        }
        guard !due.isEmpty else { return }
        await claimAndRun(due.map { ($0.job, select($0.job, $0.instants, now: now, reason: "the scheduler fell behind")) })
    }

    /// Applies the job's catch-up policy and starting deadline to instants in order, the last
    /// being the most recent; logs and counts what it skips.
    private func select(_ job: JobDefinition, _ instants: [Int64], now: Int64, reason: String) -> [Int64] {
        guard !instants.isEmpty else { return [] }
        let deadline = Int64(job.startingDeadline.components.seconds)
        var keep = instants.filter { now - $0 <= deadline }
        var skipped = instants.count - keep.count
        if keep.count > 1 {
            switch job.catchUp {
            case .none:
                // Only the instant due now, if it is one; the missed ones are skipped.
                let current = keep.last!
                let isCurrent = now - current < 2
                skipped += keep.count - (isCurrent ? 1 : 0)
                keep = isCurrent ? [current] : []
            case .latest:
                skipped += keep.count - 1
                keep = [keep.last!]
            case .all:
                if keep.count > Self.catchUpLimit {
                    skipped += keep.count - Self.catchUpLimit
                    keep = Array(keep.suffix(Self.catchUpLimit))
                }
            }
        }
        if skipped > 0 {
            skippedInstants += skipped
            logger.warning("skipped \(skipped) missed instant\(skipped == 1 ? "" : "s") (\(reason))", metadata: [
                "job": "\(job.name)", "catchUp": "\(job.catchUp.rawValue)", "startingDeadline": "\(formatDuration(job.startingDeadline))",
                "first": "\(instants.first!)", "last": "\(instants.last!)",
            ])
        }
        return keep
    }

    /// Claims the instants of the jobs this node owns (one round trip) and runs those it won;
    /// a job's instants run one after another.
    private func claimAndRun(_ due: [(JobDefinition, [Int64])]) async {
        let ring: HashRing?
        if let pool {
            ring = await pool.ownership()
            if ring == nil {
                let count = due.reduce(0) { $0 + $1.1.count }
                if count > 0 {
                    logger.warning("not claiming \(count) instant\(count == 1 ? "" : "s"): this node is fenced or draining")
                    loseOwnership(of: owned)  // re-evaluated (with catch-up) when it is back
                }
                return
            }
        } else {
            ring = nil
        }
        let mine = due.filter { job, instants in !instants.isEmpty && (ring == nil || ring!.owner(of: job.name) == daemon.node) }
        let requests = mine.flatMap { job, instants in instants.map { (job: job.name, instant: $0) } }
        guard !requests.isEmpty else { return }
        let won: [Bool]
        do {
            won = try await claims.claim(requests, node: daemon.node)
        } catch {
            failedClaims += requests.count
            logger.error("could not claim \(requests.count) instant\(requests.count == 1 ? "" : "s"); not running them", metadata: ["error": "\(error)"])
            return
        }
        var index = 0
        for (job, instants) in mine {
            var runnable: [Int64] = []
            for instant in instants {
                if won[index] {
                    runnable.append(instant)
                    claimedHere[job.name] = max(claimedHere[job.name] ?? .min, instant)
                } else {
                    logger.debug("instant claimed elsewhere", metadata: ["job": "\(job.name)", "scheduledAt": "\(instant)"])
                }
                index += 1
            }
            if !runnable.isEmpty { start(job, runnable) }
        }
    }

    private func start(_ job: JobDefinition, _ instants: [Int64]) {
        let token = nextRunToken
        nextRunToken += 1
        let runner = self.runner, claims = self.claims, logger = self.logger, node = daemon.node
        let leases = job.overlap == .allow ? nil : self.leases
        let heartbeat = daemon.heartbeat
        runs[token] = Task {
            for instant in instants {
                let runID = JobRunner.newRunID()
                var leaseValue: String?
                if let leases {
                    switch await Self.takeLease(leases, job: job, runID: runID, node: node, logger: logger) {
                    case .success(let value):
                        leaseValue = value
                    case .failure(let skip):
                        self.skippedInstants += 1
                        let record = RunRecord(job: job.name, runID: runID, scheduledAt: instant, node: node, attempts: [], outcome: .skipped(skip.reason))
                        try? await claims.record(record)
                        continue
                    }
                }
                // While the run lasts: keep the lease, and stop the run if a `replace` elsewhere asks.
                let renewal: Task<Void, Never>? = leaseValue.map { value in
                    Task {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: heartbeat)
                            if Task.isCancelled { break }
                            do {
                                let state = try await leases!.renew(job.name, value: value, runID: runID)
                                if !state.held { logger.warning("the overlap lease expired while the run went on", metadata: ["job": "\(job.name)", "run": "\(runID)"]) }
                                if state.stopRequested {
                                    logger.info("terminating: a newer run replaces this one", metadata: ["job": "\(job.name)", "run": "\(runID)"])
                                    await runner.terminate(runID: runID, grace: job.killGrace)
                                }
                            } catch {
                                logger.warning("cannot renew the overlap lease", metadata: ["job": "\(job.name)", "error": "\(error)"])
                            }
                        }
                    }
                }
                let record = await runner.run(job, scheduledAt: instant, runID: runID)
                renewal?.cancel()
                if let leaseValue { try? await leases!.release(job.name, value: leaseValue, runID: runID) }
                do { try await claims.record(record) } catch {
                    logger.warning("could not record the run", metadata: ["job": "\(job.name)", "run": "\(record.runID)", "error": "\(error)"])
                }
            }
            self.finished(token)
        }
    }

    struct LeaseSkip: Error { let reason: String }

    /// Takes the job's overlap lease: at once if free; for `replace`, after asking the holder to
    /// stop and waiting for it (up to its kill grace and two lease lifetimes). Fails closed.
    private static func takeLease(_ leases: RunLeases, job: JobDefinition, runID: String, node: String,
                                  logger: Logger) async -> Result<String, LeaseSkip> {
        let value = "\(node) \(runID)"
        func skip(_ reason: String) -> Result<String, LeaseSkip> {
            logger.warning("run skipped: \(reason)", metadata: ["job": "\(job.name)", "run": "\(runID)"])
            return .failure(LeaseSkip(reason: reason))
        }
        do {
            guard let holder = try await leases.tryAcquire(job.name, value: value) else { return .success(value) }
            let parts = holder.split(separator: " ")
            let holderNode = parts.first.map(String.init) ?? "?", holderRun = parts.last.map(String.init) ?? "?"
            if job.overlap == .forbid {
                return skip("overlap is forbid and run \(holderRun) on node \(holderNode) is still running")
            }
            try await leases.requestStop(job.name, runID: holderRun)
            logger.info("asked run \(holderRun) on node \(holderNode) to stop (overlap is replace)", metadata: ["job": "\(job.name)"])
            let deadline = ContinuousClock.now + job.killGrace + leases.ttl * 2 + .seconds(1)
            while ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(100))
                if try await leases.tryAcquire(job.name, value: value) == nil { return .success(value) }
            }
            return skip("overlap is replace but run \(holderRun) on node \(holderNode) did not stop in time")
        } catch {
            return skip("cannot take the overlap lease in Redis (\(error)); not running")
        }
    }

    private func finished(_ token: UInt64) { runs[token] = nil }

    // MARK: - Ownership and catch-up

    private func ownershipChanged() async {
        guard let pool else {
            if owned.isEmpty {
                owned = Set(table.jobs.filter(\.enabled).map(\.name))
                await catchUp(Array(owned), reason: "start-up")
            }
            return
        }
        guard let ring = await pool.ownership() else {
            loseOwnership(of: owned)
            return
        }
        let now = Set(table.jobs.filter { $0.enabled && ring.owner(of: $0.name) == daemon.node }.map(\.name))
        let gained = rejoinedSinceLastCheck ? now : now.subtracting(owned)
        rejoinedSinceLastCheck = false
        loseOwnership(of: owned.subtracting(now))
        owned = now
        if !gained.isEmpty { await catchUp(gained.sorted(), reason: "this node became the owner") }
    }

    /// This node's memory of what it claimed is authoritative only while it owns a job without
    /// interruption: once another node may have run it, only the store knows.
    private func loseOwnership(of jobs: Set<String>) {
        for job in jobs { claimedHere[job] = nil }
        owned.subtract(jobs)
    }

    /// Runs (by policy) the instants of `jobs` missed since their last claimed instant.
    private func catchUp(_ jobs: [String], reason: String) async {
        let definitions = jobs.compactMap { table.job(named: $0) }.filter(\.enabled)
        guard !definitions.isEmpty else { return }
        let lasts: [Int64?]
        do {
            lasts = try await claims.lastClaimed(definitions.map(\.name))
        } catch {
            logger.error("cannot read the last claimed instants; catch-up postponed", metadata: ["error": "\(error)"])
            ownershipDirty = true
            owned.subtract(jobs)
            return
        }
        let now = nowSeconds()
        var due: [(JobDefinition, [Int64])] = []
        for (job, stored) in zip(definitions, lasts) {
            // Unknown history (never run, or Redis lost its data and this node has no memory of it):
            // nothing to catch up, since running an instant that did run would run it twice.
            guard let last = stored ?? claimedHere[job.name] else { continue }
            let upcoming = next[job.name] ?? now
            var instants: [Int64] = []
            var cursor = last
            while let following = job.schedule.next(after: cursor, in: job.timeZone, policy: job.dstPolicy),
                  following < upcoming, following <= now {
                instants.append(following)
                cursor = following
                if instants.count > 10 * Self.catchUpLimit { break }
            }
            if !instants.isEmpty {
                logger.info("catching up \(instants.count) missed instant\(instants.count == 1 ? "" : "s") (\(reason))", metadata: [
                    "job": "\(job.name)", "lastClaimed": "\(last)", "catchUp": "\(job.catchUp.rawValue)",
                ])
                due.append((job, select(job, instants, now: now, reason: reason)))
            }
        }
        if !due.isEmpty { await claimAndRun(due) }
    }

    // MARK: - Reload, drain, shutdown

    /// Re-reads both files. A valid table replaces the running one atomically; jobs whose
    /// definition did not change keep their plan. An invalid one is rejected, every problem logged.
    package func reload() async {
        let loaded: LoadedConfiguration
        do {
            loaded = try ConfigurationLoader.load(configPath: configPath)
        } catch {
            for problem in error.problems { logger.error("reload rejected: \(problem)") }
            logger.error("reload rejected: \(error.problems.count) problem\(error.problems.count == 1 ? "" : "s"); the current table (fingerprint \(table.fingerprint)) keeps running")
            return
        }
        let old = table
        table = loaded.table
        let now = nowSeconds()
        var kept = next
        next = [:]
        for job in table.jobs where job.enabled {
            if let previous = old.job(named: job.name), previous == job, let instant = kept.removeValue(forKey: job.name) {
                next[job.name] = instant
            } else if let instant = job.schedule.next(after: now, in: job.timeZone, policy: job.dstPolicy) {
                next[job.name] = instant
            }
        }
        await pool?.updateFingerprint(table.fingerprint)
        ownershipDirty = true
        logger.info("reloaded", metadata: ["jobs": "\(table.jobs.count)", "fingerprint": "\(table.fingerprint)", "previous": "\(old.fingerprint)"])
        timer.interrupt()
    }

    /// Leaves the pool at once, stops scheduling, lets running jobs finish within `grace`, then
    /// terminates what is left (SIGTERM to each process group, SIGKILL after its kill grace) and
    /// waits until every run is recorded.
    package func shutdown(grace: Duration) async {
        // A second caller (the run loop returning after a signal started the shutdown) waits for
        // the first to finish instead of letting the process exit before it has left the pool.
        if let shutdownTask {
            await shutdownTask.value
            return
        }
        let task = Task { await self.performShutdown(grace: grace) }
        shutdownTask = task
        await task.value
    }

    private var shutdownTask: Task<Void, Never>?

    private func performShutdown(grace: Duration) async {
        stopping = true
        timer.interrupt()
        logger.info("shutting down: leaving the pool", metadata: ["runningRuns": "\(runs.count)", "grace": "\(formatDuration(grace))"])
        await pool?.leave()
        let deadline = ContinuousClock.now + grace
        while !runs.isEmpty, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if !runs.isEmpty {
            logger.warning("terminating \(runs.count) run\(runs.count == 1 ? "" : "s") still going after the grace period")
            await runner.terminateAll(grace: .seconds(5))
        }
        for task in runs.values { await task.value }
        logger.info("stopped", metadata: ["skippedInstants": "\(skippedInstants)", "failedClaims": "\(failedClaims)"])
    }

    private func nowSeconds() -> Int64 { realtimeNanoseconds() / 1_000_000_000 }
}

/// Pool changes reported from the pool's executor, taken by the daemon's loop.
final class PoolChangeBox: Sendable {
    private let state = Mutex<(changed: Bool, rejoined: Bool)>((false, false))

    func mark(rejoined: Bool) {
        state.withLock { $0.changed = true; $0.rejoined = $0.rejoined || rejoined }
    }

    /// Whether anything changed since the last call; ORs a rejoin into `rejoined`.
    func take(into rejoined: inout Bool) -> Bool {
        let taken = state.withLock { state -> (Bool, Bool) in
            defer { state = (false, false) }
            return (state.changed, state.rejoined)
        }
        if taken.1 { rejoined = true }
        return taken.0
    }
}
