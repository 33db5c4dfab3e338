import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The scheduler of one node: plans the next instant of every enabled job, sleeps until the
/// earliest, and hands the due instants of the jobs this node owns to their lanes.
///
/// - No polling: one timer waits for the earliest instant (and at least once a heartbeat, so the
///   pool can tell that this loop is alive); idle, the daemon does nothing but heartbeat.
/// - Ownership comes from the pool's placement (standalone: every job is this node's); a fenced or
///   draining node hands nothing to its lanes.
/// - **One lane per job** claims its instants one at a time and in order, each right before its run
///   starts (after the concurrency slot and the local overlap check): a node that dies takes at most
///   the instant it was starting with it. A claim that failed on a Redis error is retried with the
///   same token until it is decided or the instant passes its starting deadline, so a Redis stall
///   makes runs late, never lost. Instants queued behind a run (a catch-up backlog) wait for it.
/// - Whenever this node becomes the owner of a job (start-up, another node left or died, it came
///   back from fencing), the job's lane first reads the last claimed instant (retried until Redis
///   answers) and applies the job's `catchUp` policy within its `startingDeadline` to the instants
///   missed since; nothing later of that job is claimed before. Catch-up never reaches back before
///   a reload that added, re-enabled or rescheduled the job, nor, for a job whose claim no live
///   node confirmed since Redis went back in time, before that moment (the history's floor).
///   Every skipped instant is logged with the rule that skipped it, and counted.
/// - `reload()` reads both files on a thread of its own; a valid table is swapped in atomically; an
///   invalid one is rejected with every problem logged and the running table stays.
/// - `shutdown()` starts nothing more from its first moment, leaves the pool, lets running jobs
///   finish within the grace period, terminates the rest, and returns.
package actor Daemon {
    private let configPath: String
    /// The owners whose files a reload accepts: those of the start.
    private let trust: FileTrust
    private let logger: Logger
    private var daemon: DaemonConfiguration
    private var table: JobTable
    private let claims: any ClaimStore
    /// Won claims leave Redis's `starting` once their runs started.
    private let startMarks: StartMarks
    private let leases: RunLeases?
    private let pool: NodePool?
    private let runner: JobRunner
    private let timer: WallClockTimer
    private let events: DaemonEvents
    /// For operator requests (manual runs, kills): a connection of its own, so that they never
    /// queue behind claims, and claims never behind them.
    private let control: RedisClient?
    private let keys: ClusterKeys
    /// The node's metrics (`/metrics`); kept whether or not they are served.
    nonisolated let metrics = DaemonMetrics()
    /// A loop that has not ticked for this long is stuck (`/healthz`, and the pool's heartbeat).
    private nonisolated let stuckAfter: Duration
    /// systemd: readiness, the status line and the watchdog, which only the loop keeps alive.
    private nonisolated let serviceManager: ServiceManager
    /// Where records and job output go; a reload changes its level.
    private let output: LogOutput?
    /// Where ``ReloadReport`` is kept (`$RUNTIME_DIRECTORY`), if anywhere.
    private let reportDirectory: String?
    private var reloadGeneration = 0
    private var reloadAgain = false
    /// While a reload builds its plan: the jobs the loop dispatched meanwhile, and whether the
    /// wall clock was set (then everything is planned again after the swap).
    private var dispatchedDuringReload: Set<String> = []
    private var clockChangedDuringReload = false
    /// Reloads when either file changes (`reloadOnChange`).
    private var watcher: FileWatcher?
    private var statusShownAt = ContinuousClock.now - .seconds(3600)

    /// Next planned instant of each enabled job (Unix seconds), earliest first.
    private var next = PlannedInstants()
    /// Jobs this node owned when ownership was last evaluated.
    private var owned: Set<String> = []
    private var everOwned = false
    private var lanes: [String: Lane] = [:]
    /// Jobs whose lane waits for a catch-up, with the reason; read in batches by one worker.
    private var catchUpRequests: [String: String] = [:]
    private var catchUpWorkerRunning = false
    /// Catch-up of these jobs starts no earlier (a reload added, re-enabled or rescheduled them).
    private var notBefore: [String: Int64] = [:]
    private var runs: [UInt64: Task<Void, Never>] = [:]
    private var nextRunToken: UInt64 = 0
    private var stopping = false
    private var ownershipDirty = true
    private var rejoinedSinceLastCheck = false
    private var reloading = false
    /// Reload threads still reading, counting those given up after `reloadTimeout`.
    private nonisolated let readersInFlight = Atomic<Int>(0)
    /// Given-up readings still blocked, beyond which a reload does not start another thread.
    static let stuckReadersLimit = 4
    private(set) var skippedInstants = 0
    private(set) var failedClaims = 0
    /// Overlap lease acquisitions that too few replicas acknowledged (`claimReplicas`); the claim
    /// attempts are counted by the claim store (`RedisClaimStore.unacknowledgedClaims`).
    private(set) var unacknowledgedLeases = 0
    /// Why the daemon stopped on its own (another process holds the node id), if it did.
    private(set) var failure: String?
    /// Instants this node reported missed (the alarm), and manual runs it started.
    private(set) var missedInstants = 0
    private(set) var manualRuns = 0

    /// Instants to check for the missed-run alarm at `deadline` (Unix seconds): those of the jobs
    /// whose checker this node was when they came due (``checker(of:in:)``).
    private var missedChecks: [(deadline: Int64, job: String, instant: Int64)] = []
    private var missedCheckRunning = false
    /// After a failed check, no new attempt before this (Unix seconds).
    private var missedCheckRetryAt: Int64 = 0
    private static let missedCheckLimit = 100_000
    /// How long after its instant a claim whose live claimer has not started it is checked again
    /// (a run may wait that long for its overlap lease or for replicas; longer waits are rare, and
    /// their end is the claimer's to log).
    private static let startingCheckedFor: Int64 = 3600

    /// The report of a claim left in `starting` by a process that is gone. Its start is marked
    /// after the exec (``StartMarks``), so a process killed in the milliseconds between the two
    /// leaves a run that did start looking unstarted: the message says so rather than claim the
    /// run never began, since only the claimer's journal can tell.
    static func claimerStoppedReason(_ claimer: String) -> String {
        "claimed by node \(claimer), whose process stopped (crashed or was killed) before recording its start: "
            + "not started, unless the stop came in the milliseconds between a start and its record "
            + "(node \(claimer)'s journal tells); no node runs it now, since its claim stands"
    }
    private var checkerPlacement: (epoch: Int64, members: [PoolMember], placement: Placement)?
    private var triggerPollRunning = false
    private var lastTriggerPoll = ContinuousClock.now - .seconds(3600)
    private var lastStartingSweep = ContinuousClock.now
    private var startingSweepRunning = false

    static let catchUpLimit = 100
    /// The instants up to this one (Unix seconds) have been dispatched: if this node gains a job
    /// between the dispatch and the instant, its catch-up takes it (``CatchUpPlan/ahead``).
    private var dispatchedThrough: Int64 = .min

    /// How long before its instant a run of an `allow` job is dispatched: claimed (and its claim
    /// acknowledged), prepared and handed to a spawner thread, which starts it at the instant.
    /// The start then costs a timer wake-up and an exec, as in a C loop, and not the hops, the
    /// claim's round trip and the table's work, which for 1,000 jobs due together take tens of
    /// milliseconds. `forbid` and `replace` jobs decide at the instant (their overlap is a matter
    /// of whether the previous run is still going then): they are dispatched ahead too, and wait
    /// in their lane until it comes.
    package static let startLead: Duration = .milliseconds(50)
    private static let startLeadNanoseconds = startLead.wholeMilliseconds * 1_000_000

    /// The instants of one job waiting to be claimed, in order.
    private struct Lane {
        var pending: [Int64] = []
        /// A task is working through `pending`.
        var active = false
        /// A catch-up is requested: nothing is claimed until it has been applied.
        var waitingForCatchUp = false
    }

    /// `output` receives the jobs' output (else the logger does, at info) and takes a reloaded
    /// `logLevel`; `serviceManager` hears readiness, status and the watchdog's keep-alive. The
    /// collaborators are the real ones for `loaded` (``DaemonParts/make(for:logger:output:)``).
    init(
        configPath: String,
        loaded: LoadedConfiguration,
        logger: Logger,
        output: LogOutput? = nil,
        serviceManager: ServiceManager = ServiceManager(),
        reportDirectory: String? = ReloadReport.runtimeDirectory
    ) {
        self.init(
            configPath: configPath,
            loaded: loaded,
            parts: DaemonParts.make(for: loaded, logger: logger, output: output),
            logger: logger,
            output: output,
            serviceManager: serviceManager,
            reportDirectory: reportDirectory
        )
    }

    /// The loop with the collaborators given: tests pass fakes of the claim store (standalone, or
    /// with a pool) and keep the real timer and runner.
    init(
        configPath: String,
        loaded: LoadedConfiguration,
        parts: DaemonParts,
        logger: Logger,
        output: LogOutput? = nil,
        serviceManager: ServiceManager = ServiceManager(),
        reportDirectory: String? = nil
    ) {
        self.configPath = configPath
        self.output = output
        self.serviceManager = serviceManager
        self.reportDirectory = reportDirectory
        self.trust = loaded.trust
        self.logger = logger
        self.daemon = loaded.daemon
        self.table = loaded.table
        metrics.track(jobs: loaded.table.jobs.map(\.name))
        stuckAfter = loaded.daemon.stuckLoopAfter
        self.timer = parts.timer
        self.events = parts.events
        self.runner = parts.runner
        self.claims = parts.claims
        self.startMarks = StartMarks(store: parts.claims, logger: logger)
        self.leases = parts.leases
        self.pool = parts.pool
        self.control = parts.control
        self.keys = ClusterKeys(cluster: loaded.daemon.cluster)
    }

    /// Runs until ``shutdown()``, or until the node id turns out to be another process's (then
    /// ``failure`` says so).
    func run() async {
        let mode = pool == nil ? "standalone (no redis: this node runs every job)" : "cluster \(daemon.cluster)"
        logger.info(
            "dcrond \(DcrondVersion.current) starting",
            metadata: [
                "node": "\(daemon.node)", "mode": "\(mode)", "jobs": "\(table.jobs.count)",
                "fingerprint": "\(table.fingerprint)",
            ]
        )
        events.tick()
        if let endpoint = daemon.redis {
            if let group = endpoint.sentinelGroup { SentinelDirectory.shared(for: group).startWatching(logger: logger) }
            Task.detached { [logger, daemon] in await Self.checkRedisSafety(endpoint, daemon: daemon, logger: logger) }
        }
        await pool?.start()
        await pool?.firstAttempt()
        planAll(after: nowSeconds())
        // What reading the table allocated and freed goes back to the system.
        releaseFreedMemoryInBackground()
        await writeReport(ReloadReport(pid: getpid(), generation: 0, accepted: true, fingerprint: table.fingerprint))
        // Ownership first, so that the first status line says what this node owns.
        if events.takePoolChange(into: &rejoinedSinceLastCheck) || ownershipDirty {
            ownershipDirty = false
            await ownershipChanged()
        }
        serviceManager.ready(status: await statusText())
        statusShownAt = .now
        await updateWatcher()
        // The watchdog wants a keep-alive at least every half of its interval; never more often
        // than every 50 ms, which a WatchdogSec of a few milliseconds would otherwise make a spin.
        var wakeAtLeastEvery = daemon.heartbeat
        if let watchdog = serviceManager.watchdogInterval {
            wakeAtLeastEvery = max(.milliseconds(50), min(wakeAtLeastEvery, watchdog / 2))
            if watchdog < .seconds(1) {
                logger.warning(
                    "the watchdog interval (WatchdogSec) is \(formatDuration(watchdog)): a loop held up that long (a suspend, a swap storm) is killed; 10s or more is safer",
                    metadata: ["keepAliveEvery": "\(formatDuration(wakeAtLeastEvery))"]
                )
            }
        }
        while !stopping {
            events.tick()
            serviceManager.keepAlive()
            if serviceManager.isSupervised, ContinuousClock.now - statusShownAt >= .seconds(5) {
                statusShownAt = .now
                serviceManager.status(await statusText())
            }
            if let failure = events.takeFailure() {
                self.failure = failure
                await shutdown(grace: daemon.shutdownGrace)
                break
            }
            if events.stopRequested {
                await shutdown(grace: daemon.shutdownGrace)
                break
            }
            if events.takePoolChange(into: &rejoinedSinceLastCheck) || ownershipDirty {
                ownershipDirty = false
                await ownershipChanged()
            }
            handleControlMessages()
            if ContinuousClock.now - lastTriggerPoll >= daemon.heartbeat { pollTriggers() }
            if let check = nextMissedCheck(), check <= nowSeconds() { runMissedChecks() }
            if ContinuousClock.now - lastStartingSweep >= max(daemon.heartbeat, daemon.missedRunGrace) {
                sweepNotStarted()
            }
            let now = realtimeNanoseconds()
            let earliest = (next.earliest() ?? Int64.max / 1_000_000_000) * 1_000_000_000
            let checkAt = (nextMissedCheck() ?? Int64.max / 1_000_000_000) * 1_000_000_000
            // Wake at least once a heartbeat: the pool reports a loop that stopped ticking as stuck.
            let wake = await timer.wait(
                until: min(
                    earliest - Self.startLeadNanoseconds,
                    checkAt,
                    now + wakeAtLeastEvery.wholeMilliseconds * 1_000_000
                )
            )
            if stopping { break }
            switch wake {
            case .interrupted:
                continue
            case .clockChanged:
                logger.warning("the wall clock was set; planning again and catching up what it jumped over")
                // Instants the clock jumped over are found by catch-up (claims keep them at most once).
                dispatchedThrough = nowSeconds()
                planAll(after: dispatchedThrough)
                if reloading { clockChangedDuringReload = true }
                requestCatchUp(owned, reason: "the wall clock was set")
            case .due:
                if realtimeNanoseconds() >= earliest - Self.startLeadNanoseconds { await dispatchDue() }
            }
        }
    }

    // MARK: - Planning and dispatch

    private func planAll(after now: Int64) {
        next.removeAll()
        for job in table.jobs where job.enabled {
            if let instant = job.schedule.next(after: now, in: job.timeZone, policy: job.dstPolicy) {
                next[job.name] = instant
            }
        }
    }

    /// Hands the due instants of the jobs this node owns to their lanes, with those that come
    /// within ``startLead``. A fenced node hands over nothing: back in the pool it catches up what
    /// it missed (`rejoined`).
    private func dispatchDue() async {
        let clock = realtimeNanoseconds()
        let horizon = (clock + Self.startLeadNanoseconds) / 1_000_000_000
        dispatchedThrough = horizon
        var ring: Placement?
        var standing = "owner"
        if let pool {
            switch await pool.standing() {
            case .owner(let current): ring = current
            case .fenced: standing = "fenced"
            case .inactive: standing = "draining"
            }
        }
        var notHandled = 0
        let view = await pool?.currentView()
        let checkers = view.map { checkerPlacement(for: $0) }
        for name in next.takeDue(upTo: horizon) {
            if reloading { dispatchedDuringReload.insert(name) }
            guard let job = table.job(named: name), job.enabled, let instant = next[name] else {
                next[name] = nil  // removed or disabled since it was planned
                continue
            }
            // An instant dispatched ahead is planned as if it were now.
            let now = max(clock / 1_000_000_000, instant)
            // Normally one instant; more if the loop was held up (suspend, overload).
            let plan = CatchUpPlan(
                job: job,
                after: instant - 1,
                planned: instant,
                now: now,
                current: true,
                limit: Self.catchUpLimit
            )
            next[job.name] = job.schedule.next(after: now, in: job.timeZone, policy: job.dstPolicy)
            if let view, let checkers,
                checkers.owner(of: job.name, excluding: view.placement.owner(of: job.name)) == daemon.node
            {
                let grace = Int64(daemon.missedRunGrace.components.seconds)
                missedChecks += plan.selection.all.map { (deadline: $0 + grace, job: job.name, instant: $0) }
            }
            if pool != nil {
                guard let ring else {
                    notHandled += plan.selection.all.count
                    continue
                }
                guard ring.owner(of: job.name) == daemon.node else { continue }
            }
            logSkips(job, plan, reason: "the scheduler fell behind")
            enqueue(job.name, plan.selection.run)
        }
        if notHandled > 0 {
            // Draining is the operator's choice and the others own the jobs: not worth a warning.
            logger.log(
                level: standing == "fenced" ? .warning : .debug,
                "not claiming \(notHandled) instant\(notHandled == 1 ? "" : "s"): this node is \(standing); the owner catches them up"
            )
            owned = []  // re-evaluated (with catch-up) when it is back
        }
    }

    private func logSkips(_ job: JobDefinition, _ plan: CatchUpPlan, reason: String) {
        let metadata: Logger.Metadata = ["job": "\(job.name)", "catchUp": "\(job.catchUp.rawValue)"]
        let selection = plan.selection
        let deadlineRule = "older than the startingDeadline of \(formatDuration(job.startingDeadline))"
        if let span = plan.pastDeadlineSpan {
            skip(span, of: job, rule: deadlineRule, .startingDeadline, reason: reason, metadata: metadata)
        }
        if !selection.pastDeadline.isEmpty {
            skip(
                selection.pastDeadline,
                of: job,
                rule: deadlineRule,
                .startingDeadline,
                reason: reason,
                metadata: metadata
            )
        }
        if !selection.byPolicy.isEmpty {
            skip(selection.byPolicy, of: job, rule: policyRule(job), .catchUp, reason: reason, metadata: metadata)
        }
        if let span = plan.byPolicySpan {
            skip(span, of: job, rule: policyRule(job), .catchUp, reason: reason, metadata: metadata)
        }
    }

    private func policyRule(_ job: JobDefinition) -> String {
        switch job.catchUp {
        case .none: "catchUp is none"
        case .latest: "catchUp is latest: only the newest runs"
        case .all: "catchUp is all, bounded to the newest \(Self.catchUpLimit)"
        }
    }

    /// Instants of a long gap walked over without listing them: one record and one line for the
    /// span, not counted one by one (the listed ones before it are).
    private func skip(
        _ span: CatchUpPlan.Span,
        of job: JobDefinition,
        rule: String,
        _ code: SkipRule,
        reason: String,
        metadata: Logger.Metadata
    ) {
        logger.warning(
            "skipped every missed instant from \(span.first) to before \(span.before), not listed one by one (\(rule); \(reason))",
            metadata: metadata.merging(["first": "\(span.first)", "before": "\(span.before)"]) { $1 }.event(.runSkipped)
        )
        var record = RunRecord.instants(
            [span.first],
            of: job.name,
            node: daemon.node,
            outcome: .skipped("\(rule); \(reason); every instant to before \(span.before), not listed"),
            rule: code
        )
        record.through = span.before - 1
        keep(record)
    }

    private func skip(
        _ instants: [Int64],
        of job: JobDefinition,
        rule: String,
        _ code: SkipRule,
        reason: String,
        metadata: Logger.Metadata
    ) {
        countSkip(job.name, code, count: instants.count)
        logger.warning(
            "skipped \(instants.count) missed instant\(instants.count == 1 ? "" : "s") (\(rule); \(reason))",
            metadata: metadata.merging([
                "first": "\(instants.first!)", "last": "\(instants.last!)",
            ]) { $1 }.event(.runSkipped)
        )
        keep(
            RunRecord.instants(
                instants,
                of: job.name,
                node: daemon.node,
                outcome: .skipped("\(rule); \(reason)"),
                rule: code
            )
        )
    }

    private func countSkip(_ job: String, _ rule: SkipRule, count: Int = 1) {
        skippedInstants += count
        metrics.skipped(job, rule, count: count)
    }

    /// A run record's counts: a skip by its rule, an end by its result.
    private func count(_ record: RunRecord) {
        switch record.outcome {
        case .skipped: countSkip(record.job, record.rule ?? .refused)
        case .succeeded, .failed:
            metrics.ended(record)
            for attempt in record.attempts where attempt.pid == nil { metrics.startFailed() }
        case .missed, .notClaimed: break
        }
    }

    /// Writes a record to the job's history without holding up the caller; a failure is logged.
    private func keep(_ record: RunRecord) {
        let claims = self.claims
        let logger = self.logger
        keeping += 1
        Task {
            do { try await claims.record(record) } catch {
                self.metrics.redisError()
                logger.warning(
                    "could not record in the job's history",
                    metadata: ["job": "\(record.job)", "outcome": "\(record.outcome.word)", "error": "\(error)"]
                )
            }
            await self.kept()
        }
    }

    /// Records on their way to the history: the shutdown waits for them (a skip or a missed
    /// instant at the stop is recorded, not only logged).
    private var keeping = 0

    private func kept() { keeping -= 1 }

    // MARK: - Lanes

    private func enqueue(_ job: String, _ instants: [Int64]) {
        guard !instants.isEmpty else { return }
        var lane = lanes[job] ?? Lane()
        for instant in instants where !lane.pending.contains(instant) { lane.pending.append(instant) }
        lane.pending.sort()
        lanes[job] = lane
        wakeLane(job)
    }

    /// Starts the lane's task if it has work; a lane that is idle and empty is dropped (catch-up
    /// creates one for every job it holds, most of them with nothing to run).
    private func wakeLane(_ job: String) {
        guard var lane = lanes[job], !lane.active, !lane.waitingForCatchUp, !stopping else { return }
        guard !lane.pending.isEmpty else {
            lanes[job] = nil
            return
        }
        lane.active = true
        lanes[job] = lane
        Task { await self.workThroughLane(job) }
    }

    /// Claims and starts the lane's instants in order. An instant with more queued behind it (a
    /// backlog) runs to its end before the next is claimed; otherwise the lane moves on once the
    /// claim is decided, and `allow` runs may overlap.
    private func workThroughLane(_ name: String) async {
        while !stopping, var lane = lanes[name], !lane.waitingForCatchUp, !lane.pending.isEmpty {
            let instant = lane.pending.removeFirst()
            lanes[name] = lane
            guard let job = table.job(named: name), job.enabled else { continue }  // removed or disabled by a reload
            // Queued: a backlog behind it, or late itself (caught up, or its claim waited for Redis).
            let late = nowSeconds() - instant >= 2
            let queued = lanes[name]?.pending.isEmpty == false || late
            let (decided, finished) = start(job, instant, queued: queued, trigger: late ? .catchUp : .schedule)
            await decided.value
            if lanes[name]?.pending.isEmpty == false { await finished.value }
        }
        lanes[name]?.active = false
        wakeLane(name)  // more work queued while this task was finishing, or an empty lane to drop
    }

    /// Starts the run of one instant; `decided` is fulfilled once its claim is decided (or it was
    /// skipped before), `finished` when the run is over.
    private func start(
        _ job: JobDefinition,
        _ instant: Int64,
        queued: Bool,
        trigger: RunTrigger
    ) -> (decided: OneShot<Void>, finished: OneShot<Void>) {
        let token = nextRunToken
        nextRunToken += 1
        let decided = OneShot<Void>()
        let finished = OneShot<Void>()
        let runner = self.runner
        let claims = self.claims
        let logger = self.logger
        let node = daemon.node
        let leaseGuard = job.overlap == .allow ? nil : self.leaseGuard
        let startMarks = self.startMarks
        let runID = JobRunner.newRunID()
        let request = ClaimRequest(job: job.name, instant: instant, token: "\(node) \(runID)")
        let lease = LeaseHolder()
        // Dispatched ahead of its instant (``startLead``).
        let instantNanoseconds = instant * 1_000_000_000
        let ahead = trigger == .schedule && realtimeNanoseconds() < instantNanoseconds
        let cancellation = StartCancellation()
        if ahead { aheadRuns[token] = (instant, job.name, cancellation) }
        runs[token] = Task {
            if ahead, job.overlap != .allow { await Self.sleep(untilRealtime: instantNanoseconds) }
            let admission = RunAdmission(
                claim: {
                    defer { decided.fulfill(()) }
                    return await self.claimForStart(job, request)
                },
                acquire: {
                    if await self.isStopping {
                        await self.release(request)
                        return .notClaimed
                    }
                    guard let leaseGuard else { return .start }
                    let waitUntil =
                        queued
                        ? ContinuousClock.now
                            + .seconds(
                                max(0, instant + Int64(job.startingDeadline.components.seconds) - self.nowSeconds())
                            ) : nil
                    return await leaseGuard.hold(job: job, runID: runID, waitUntil: waitUntil, in: lease)
                },
                started: { startMarks.mark(request) }
            )
            let record = await runner.run(
                job,
                scheduledAt: instant,
                runID: runID,
                trigger: trigger,
                admission: admission,
                startAt: ahead && job.overlap == .allow ? instantNanoseconds : nil,
                cancellation: cancellation
            )
            // Won, but the node began to stop while the start waited for its instant.
            if record.outcome == .notClaimed {
                let stopping = await self.isStopping
                if !stopping, cancellation.isCancelled, self.table.job(named: job.name)?.enabled == true {
                    self.logger.info(
                        "paused before its instant: not starting the run claimed ahead of it",
                        metadata: ["job": "\(job.name)", "scheduledAt": "\(instant)"]
                    )
                }
                let reason = stopping ? "the node stops" : "the job was paused or disabled before its instant"
                await self.release(request, reason: reason)
            }
            self.aheadRuns[token] = nil
            // Won (and not given back), then skipped before any attempt (overlap, lease, refused):
            // recorded, so accounted for. A run with attempts was marked at its first.
            let won = self.wonClaims.removeValue(forKey: request) != nil
            if won, record.attempts.isEmpty, record.outcome != .notClaimed { startMarks.mark(request) }
            decided.fulfill(())
            if let value = lease.end() { try? await leases?.release(job.name, value: value, runID: runID) }
            self.count(record)
            if record.outcome != .notClaimed {
                do { try await claims.record(record) } catch {
                    self.metrics.redisError()
                    logger.warning(
                        "could not record the run",
                        metadata: ["job": "\(job.name)", "run": "\(record.runID)", "error": "\(error)"]
                    )
                }
            }
            finished.fulfill(())
            self.runs[token] = nil
        }
        return (decided, finished)
    }

    private var isStopping: Bool { stopping }

    /// Runs dispatched ahead of their instant (``startLead``) that have not returned, by token:
    /// the node leaves the pool only once those that will not start have given their claims back.
    private var aheadRuns: [UInt64: (instant: Int64, job: String, cancellation: StartCancellation)] = [:]

    private static func sleep(untilRealtime unixNanoseconds: Int64) async {
        while case let left = unixNanoseconds - realtimeNanoseconds(), left > 0 {
            guard (try? await Task.sleep(for: .nanoseconds(left))) != nil else { return }
        }
    }

    /// Logs, once Redis first answers, every setting of it under which a promise does not hold.
    private static func checkRedisSafety(_ endpoint: RedisEndpoint, daemon: DaemonConfiguration, logger: Logger) async {
        var options = RedisConnectionOptions()
        options.clientName = "dcrond-check:\(daemon.node)"
        let client = RedisClient(
            endpoint: endpoint,
            options: options,
            logger: Logger(label: "dcrond.redis", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        while !Task.isCancelled {
            do {
                let (warnings, unchecked) = try await RedisSafetyCheck.check(
                    client,
                    claimReplicas: daemon.claimReplicas
                )
                for warning in warnings {
                    logger.warning(
                        "Redis is configured so that a promise does not hold: \(warning)",
                        metadata: ["redis": "\(endpoint)", "setting": "\(warning.setting)"]
                    )
                }
                if !unchecked.isEmpty {
                    logger.notice(
                        "some Redis settings could not be checked",
                        metadata: ["redis": "\(endpoint)", "unchecked": "\(unchecked.joined(separator: ", "))"]
                    )
                }
                return
            } catch {
                try? await Task.sleep(for: .seconds(5))
            }
        }
    }

    /// Claims `request` for a run about to start. Retries Redis errors with the same token (a lost
    /// reply is then answered as won) until the claim is decided, the instant passes its starting
    /// deadline, or the node stops. While the node is fenced it waits: it may be back before the
    /// deadline. An instant dispatched while this node owned the job is claimed even if the job
    /// has moved since: the claim decides between it and the new owner's catch-up, and abandoning
    /// it would lose it whenever the new owner cannot catch up (history unknown after Redis went
    /// back in time).
    private func claimForStart(_ job: JobDefinition, _ request: ClaimRequest) async -> RunAdmission.Decision {
        let metadata: Logger.Metadata = ["job": "\(job.name)", "scheduledAt": "\(request.instant)"]
        let backoff = ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(1))
        var failures = 0
        // Won on the master but not acknowledged by enough replicas: the previous claimed instant.
        var unacknowledged: Int64??
        // The claim history's generation when an attempt first got no answer. A retry is answered
        // as won if that attempt won (`won:<node>` holds its token), unless Redis went back in time
        // meanwhile and lost that record: then a `lost` answer cannot tell whether the attempt won.
        var generationAtFailure: Int64?
        while true {
            if stopping {
                if let previous = unacknowledged {
                    await giveBack(request, previous: previous, reason: "the node stops")
                }
                return .notClaimed
            }
            if nowSeconds() - request.instant > Int64(job.startingDeadline.components.seconds) {
                // Counted and recorded as a skipped run by the caller.
                let reason: String
                if let previous = unacknowledged {
                    reason =
                        "past its startingDeadline of \(formatDuration(job.startingDeadline)) before enough replicas acknowledged its claim (claimReplicas \(daemon.claimReplicas))"
                    logger.error("skipped: \(reason)", metadata: metadata)
                    await giveBack(
                        request,
                        previous: previous,
                        reason: "too few replicas acknowledged it",
                        skipReported: true
                    )
                } else {
                    reason =
                        "past its startingDeadline of \(formatDuration(job.startingDeadline)) before it could be claimed (\(failures) failed attempt\(failures == 1 ? "" : "s"))"
                    logger.error("skipped: \(reason)", metadata: metadata)
                }
                return .skip(reason, unacknowledged != nil || failures > 0 ? .claimFailed : .startingDeadline)
            }
            if let pool, case .fenced = await pool.standing() {
                try? await Task.sleep(for: backoff.delay(forRetry: max(1, failures)))
                continue
            }
            do {
                switch try await claims.claim(request) {
                case .won(let previous):
                    wonClaims[request] = previous
                    if failures > 0 {
                        logger.info(
                            "claimed after \(failures) failed attempt\(failures == 1 ? "" : "s")",
                            metadata: metadata
                        )
                    }
                    return .start
                case .lost:
                    if let before = generationAtFailure, before >= 0,
                        case let generation = await claims.seenHistory().generation, generation != before
                    {
                        reportMissed(
                            job.name,
                            request.instant,
                            "possibly: an attempt of this node to claim it got no answer, and Redis went back in time before the claim was decided (claim history generation \(before), now \(generation)); the instant counts as claimed, so no node runs it now, and if that attempt was the one that won it, it never ran",
                            .unknownHistory,
                            ["attempts": "\(failures + 1)"]
                        )
                        return .notClaimed
                    }
                    logger.debug("instant claimed elsewhere", metadata: metadata)
                    return .notClaimed
                case .paused(let by):
                    let who = by.split(separator: " ", maxSplits: 1).dropFirst().first.map(String.init) ?? "an operator"
                    return .skip("paused by \(who) (dcrond pause)", .paused)
                case .wait:
                    try? await Task.sleep(for: .milliseconds(200))
                case .unacknowledged(let previous, let replicas):
                    failures += 1
                    if unacknowledged == nil {
                        logger.warning(
                            """
                            claimed, but \(replicas) of \(daemon.claimReplicas) replicas acknowledged within \(formatDuration(daemon.claimReplicaTimeout)): \
                            not starting yet (a failover could lose the claim); retrying until the starting deadline
                            """,
                            metadata: metadata
                        )
                    }
                    unacknowledged = .some(previous)
                    try? await Task.sleep(for: backoff.delay(forRetry: failures))
                }
            } catch {
                failures += 1
                // The generation when the attempt was sent (a heartbeat on another connection may
                // have seen a loss of history since); read now from a store that does not say.
                if generationAtFailure == nil {
                    if let attempt = error as? ClaimAttemptError {
                        generationAtFailure = attempt.generationSeen
                    } else {
                        generationAtFailure = await claims.seenHistory().generation
                    }
                }
                metrics.redisError()
                if failures == 1 {
                    failedClaims += 1
                    metrics.claimFailed()
                    logger.warning(
                        "could not claim; retrying until Redis answers or the starting deadline passes",
                        metadata: metadata.merging(["error": "\(error)"]) { $1 }
                    )
                }
                try? await Task.sleep(for: backoff.delay(forRetry: failures))
            }
        }
    }

    /// Won claims whose run has not ended, with the instant they replaced: released if the node
    /// stops before the run started.
    private var wonClaims: [ClaimRequest: Int64?] = [:]

    /// Gives back a claim whose run will not start (the node stops, or replicas never
    /// acknowledged it), so the job's next owner can run the instant.
    ///
    /// A claim that cannot go back loses its instant (no node may run it, since the claim stands):
    /// reported here as missed, since this node is the only one that knows, unless the caller
    /// records the instant as skipped already (`skipReported`).
    private func giveBack(
        _ request: ClaimRequest,
        previous: Int64?,
        reason: String,
        skipReported: Bool = false
    ) async {
        let metadata: Logger.Metadata = ["job": "\(request.job)", "scheduledAt": "\(request.instant)"]
        do {
            switch try await claims.release(request, previous: previous) {
            case .givenBack:
                logger.info("released the claim: \(reason) before the run started", metadata: metadata)
            case .superseded where skipReported:
                logger.info("the claim could not be given back: a later instant was claimed since", metadata: metadata)
            case .superseded(let last):
                let lastClaimed = last.map(String.init) ?? "none"
                reportMissed(
                    request.job,
                    request.instant,
                    "claimed by this node, not started (\(reason)), and the claim could not be given back: the job's last claimed instant is now \(lastClaimed), so no node runs it",
                    .notGivenBack,
                    ["lastClaimed": "\(lastClaimed)"]
                )
            }
        } catch {
            metrics.redisError()
            if skipReported {
                logger.warning(
                    "could not give the claim back",
                    metadata: metadata.merging(["error": "\(error)"]) { $1 }
                )
                return
            }
            // The claim may stand: its `starting` entry leaves with a mark, or the checker would
            // report the instant a second time once this process is gone.
            startMarks.mark(request)
            reportMissed(
                request.job,
                request.instant,
                "claimed by this node, not started (\(reason)), and the claim could not be given back (Redis failed); unless the release reached Redis before the error, no node runs it",
                .notGivenBack,
                ["error": "\(error)"]
            )
        }
    }

    private func release(_ request: ClaimRequest, reason: String = "the node stops") async {
        guard let previous = wonClaims.removeValue(forKey: request) else { return }
        await giveBack(request, previous: previous, reason: reason)
    }

    // MARK: - Overlap leases

    /// The overlap guard of this node's runs (cluster only); built per use, it holds no state.
    private var leaseGuard: LeaseGuard? {
        leases.map { leases in
            LeaseGuard(
                leases: leases,
                claims: claims,
                runner: runner,
                logger: logger,
                node: daemon.node,
                heartbeat: daemon.heartbeat,
                claimReplicas: daemon.claimReplicas,
                isStopping: { await self.isStopping },
                countUnacknowledged: { await self.countUnacknowledgedLease() }
            )
        }
    }

    private func countUnacknowledgedLease() { unacknowledgedLeases += 1 }

    // MARK: - Ownership and catch-up

    private func ownershipChanged() async {
        guard let pool else {
            if !everOwned {
                everOwned = true
                owned = Set(table.jobs.filter(\.enabled).map(\.name))
                requestCatchUp(owned, reason: "start-up")
            }
            return
        }
        guard case .owner(let ring) = await pool.standing() else {
            owned = []
            return
        }
        let now = Set(table.jobs.filter { $0.enabled && ring.owner(of: $0.name) == daemon.node }.map(\.name))
        let rejoined = rejoinedSinceLastCheck
        let gained = rejoined ? now : now.subtracting(owned)
        rejoinedSinceLastCheck = false
        owned = now
        let reason =
            !everOwned ? "start-up" : rejoined ? "back in the pool after being fenced" : "this node became the owner"
        everOwned = true
        requestCatchUp(gained, reason: reason)
    }

    /// Holds the lanes of `jobs` until their missed instants are known, and starts the worker.
    private func requestCatchUp(_ jobs: Set<String>, reason: String) {
        guard !jobs.isEmpty else { return }
        for job in jobs {
            catchUpRequests[job] = reason
            lanes[job, default: Lane()].waitingForCatchUp = true
        }
        guard !catchUpWorkerRunning else { return }
        catchUpWorkerRunning = true
        Task { await self.catchUpWorker() }
    }

    /// Reads the last claimed instants of the requested jobs in batches (retried until Redis
    /// answers), puts the instants to run at the head of each lane, and releases the lanes.
    private func catchUpWorker() async {
        let backoff = ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(1))
        var failures = 0
        while !stopping, !catchUpRequests.isEmpty {
            if let pool {
                switch await pool.standing() {
                case .fenced:
                    // Back in the pool, the requests are made again anyway (`rejoined`).
                    try? await Task.sleep(for: backoff.delay(forRetry: max(1, failures)))
                    continue
                case .inactive:
                    for job in catchUpRequests.keys {
                        lanes[job]?.waitingForCatchUp = false
                        wakeLane(job)
                    }
                    catchUpRequests = [:]
                    continue
                case .owner:
                    break
                }
            }
            let batch = Array(catchUpRequests.prefix(1000))
            let names = batch.map(\.key)
            let read: ClaimedInstants
            do {
                read = try await claims.lastClaimed(names)
            } catch {
                failures += 1
                metrics.redisError()
                if failures == 1 {
                    logger.error(
                        "cannot read the last claimed instants; catch-up waits for Redis (nothing later of these jobs is claimed before it)",
                        metadata: ["jobs": "\(names.count)", "error": "\(error)"]
                    )
                }
                try? await Task.sleep(for: backoff.delay(forRetry: failures))
                continue
            }
            if failures > 0 {
                logger.info("Redis answered again: catching up", metadata: ["failedAttempts": "\(failures)"])
            }
            failures = 0
            let now = nowSeconds()
            // Right after Redis went back in time, the other live nodes may not have put back their
            // claims yet (each does at its next heartbeat): read again once they have.
            if !read.settled {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            for ((name, reason), (stored, fresh)) in zip(batch, zip(read.last, read.fresh)) {
                // A request made again while this batch was read stays for the next batch.
                if catchUpRequests[name] == reason { catchUpRequests[name] = nil }
                if catchUpRequests[name] == nil { lanes[name, default: Lane()].waitingForCatchUp = false }
                if let job = table.job(named: name), job.enabled {
                    // Never claimed: nothing missed, but an instant dispatched ahead is still due.
                    applyCatchUp(job, stored: stored ?? now, floor: fresh ? 0 : read.floor, now: now, reason: reason)
                }
                wakeLane(name)
            }
        }
        catchUpWorkerRunning = false
    }

    /// Puts the instants missed since `stored` (by policy) into the lane, in order.
    /// Unknown history (never claimed, or lost with Redis and remembered by no node) means nothing
    /// to catch up, since running an instant that did run would run it twice.
    private func applyCatchUp(_ job: JobDefinition, stored: Int64, floor: Int64, now: Int64, reason: String) {
        // Up to the next planned instant, leaving out the queued ones: a lane may hold an instant
        // handed over just before the node was fenced, followed by a gap of instants that were not.
        let plan = CatchUpPlan(
            job: job,
            after: max(stored, notBefore[job.name] ?? .min),
            before: next[job.name] ?? .max,
            now: now,
            floor: floor,
            pending: Set(lanes[job.name]?.pending ?? []),
            aheadThrough: dispatchedThrough,
            limit: Self.catchUpLimit
        )
        if !plan.ahead.isEmpty {
            // Dispatched ahead while another node (or none) owned the job: due now, not missed.
            var lane = lanes[job.name] ?? Lane()
            lane.pending = (plan.ahead + lane.pending).sorted()
            lanes[job.name] = lane
        }
        if !plan.unknown.isEmpty {
            skip(
                plan.unknown,
                of: job,
                rule: "Redis went back in time then: whether they ran is unknown",
                .unknownHistory,
                reason: reason,
                metadata: ["job": "\(job.name)", "floor": "\(floor)"]
            )
        }
        let missed = plan.selection.all.count + (plan.pastDeadlineSpan == nil ? 0 : 1)
        guard missed > 0 || plan.byPolicySpan != nil else { return }
        logger.info(
            "catching up \(plan.selection.all.count)\(plan.pastDeadlineSpan == nil && plan.byPolicySpan == nil ? "" : " listed") missed instant\(plan.selection.all.count == 1 ? "" : "s") (\(reason))",
            metadata: [
                "job": "\(job.name)", "lastClaimed": "\(stored)", "catchUp": "\(job.catchUp.rawValue)",
            ]
        )
        logSkips(job, plan, reason: reason)
        var lane = lanes[job.name] ?? Lane()
        lane.pending = (plan.selection.run + lane.pending).sorted()
        lanes[job.name] = lane
    }

    // MARK: - The missed-run alarm

    /// The placement that decides which node checks a job's instants: every live node, active or
    /// draining (a pool where every node drains still has checkers). The checker of a job is the
    /// best-placed node after its owner there, so that a crashed owner is not its own checker.
    private func checkerPlacement(for view: PoolView) -> Placement {
        if let cached = checkerPlacement, cached.epoch == view.epoch, cached.members == view.members {
            return cached.placement
        }
        let placement = Placement(
            members: view.members.map { Placement.Member(id: $0.id, weight: $0.weight) },
            virtualNodes: daemon.virtualNodes
        )
        checkerPlacement = (view.epoch, view.members, placement)
        return placement
    }

    /// When the next check is due (Unix seconds), nil if none or one is in progress.
    private func nextMissedCheck() -> Int64? {
        guard !missedCheckRunning, let first = missedChecks.lazy.map(\.deadline).min() else { return nil }
        return max(first, missedCheckRetryAt)
    }

    /// Asks Redis, in one script per batch, which due instants nobody claimed; reports each of
    /// those once (error, counted, recorded in the job's history). On a Redis error the checks
    /// stay and are tried again a few seconds later: a late alarm beats a lost one.
    private func runMissedChecks() {
        let now = nowSeconds()
        guard !missedCheckRunning else { return }
        let due = missedChecks.filter { $0.deadline <= now }
        guard !due.isEmpty else { return }
        missedChecks.removeAll { $0.deadline <= now }
        missedCheckRunning = true
        Task { await self.performMissedChecks(due) }
    }

    private func performMissedChecks(_ due: [(deadline: Int64, job: String, instant: Int64)]) async {
        defer {
            missedCheckRunning = false
            timer.interrupt()
        }
        var index = 0
        while index < due.count {
            let batch = Array(due[index..<min(due.count, index + 1000)])
            let verdicts: [MissedCheck]
            do {
                verdicts = try await claims.reportMissed(batch.map { ($0.job, $0.instant) })
            } catch {
                metrics.redisError()
                logger.warning(
                    "cannot check for missed runs; trying again shortly",
                    metadata: ["instants": "\(due.count - index)", "error": "\(error)"]
                )
                missedChecks = Array(due[index...]) + missedChecks
                missedCheckRetryAt = nowSeconds() + 5
                return
            }
            let view = await pool?.currentView()
            for (check, verdict) in zip(batch, verdicts) {
                switch verdict {
                case .accounted:
                    continue
                case .starting:
                    // Its claimer is alive and will start it, skip it or say why not; asked again
                    // in case it dies first, for as long as a run may wait for its start.
                    if nowSeconds() - check.instant < Self.startingCheckedFor {
                        let grace = Int64(daemon.missedRunGrace.components.seconds)
                        missedChecks.append((deadline: nowSeconds() + grace, job: check.job, instant: check.instant))
                    }
                case .notStarted(let claimer):
                    reportMissed(
                        check.job,
                        check.instant,
                        Self.claimerStoppedReason(claimer),
                        .claimerStopped,
                        ["claimer": "\(claimer)"]
                    )
                case .paused(let by):
                    let who = by.split(separator: " ", maxSplits: 1).dropFirst().first.map(String.init) ?? "an operator"
                    countSkip(check.job, .paused)
                    logger.notice(
                        "skipped: paused by \(who) (no node was active to record it)",
                        metadata: ["job": "\(check.job)", "scheduledAt": "\(check.instant)"]
                    )
                    keep(
                        RunRecord.instants(
                            [check.instant],
                            of: check.job,
                            node: daemon.node,
                            outcome: .skipped("paused by \(who) (dcrond pause)"),
                            rule: .paused
                        )
                    )
                case .missed(let lastClaimed):
                    let owner = view?.placement.owner(of: check.job)
                    let cause =
                        owner.map { "its owner, node \($0), did not claim it" }
                        ?? "no node is active (every node of the pool is draining, fenced or down)"
                    reportMissed(
                        check.job,
                        check.instant,
                        "not claimed within \(formatDuration(daemon.missedRunGrace)) of its instant: \(cause)",
                        owner == nil ? .noActiveNode : .ownerDidNotClaim,
                        ["lastClaimed": "\(lastClaimed.map(String.init) ?? "none")"]
                    )
                }
            }
            index += batch.count
        }
        if missedChecks.count > Self.missedCheckLimit {
            logger.warning(
                "too many missed-run checks queued; dropping the oldest",
                metadata: ["dropped": "\(missedChecks.count - Self.missedCheckLimit)"]
            )
            missedChecks.removeFirst(missedChecks.count - Self.missedCheckLimit)
        }
    }

    /// Reports one missed instant: at error, counted, and recorded in the job's history.
    /// The checker of a job keeps its checks in memory: if it stops too, the won claims of a
    /// claimer that stopped before starting them would stay in `starting` unreported. So every
    /// node sweeps `starting` once a grace (a heartbeat at least) for claims older than the grace
    /// whose claimer is gone; the sweep and the checker take each out of `starting` as they report
    /// it, so it is reported once, by whichever comes first.
    private func sweepNotStarted() {
        lastStartingSweep = .now
        guard pool != nil, !startingSweepRunning, !stopping else { return }
        startingSweepRunning = true
        let through = nowSeconds() - Int64(daemon.missedRunGrace.components.seconds)
        Task {
            defer { self.startingSweepRunning = false }
            let found: [NotStartedClaim]
            do {
                found = try await claims.sweepNotStarted(through: through)
            } catch {
                metrics.redisError()
                logger.warning(
                    "cannot sweep the claims left unstarted; trying again in a grace",
                    metadata: ["error": "\(error)"]
                )
                return
            }
            for claim in found {
                reportMissed(
                    claim.job,
                    claim.instant,
                    Self.claimerStoppedReason(claim.claimer)
                        + " (found by the sweep of unstarted claims: the node that would have checked it had stopped too)",
                    .claimerStopped,
                    ["claimer": "\(claim.claimer)"]
                )
            }
        }
    }

    private func reportMissed(
        _ job: String,
        _ instant: Int64,
        _ reason: String,
        _ rule: SkipRule,
        _ metadata: Logger.Metadata
    ) {
        missedInstants += 1
        metrics.missed(job)
        logger.error(
            "missed: \(reason)",
            metadata: metadata.merging(
                ["job": "\(job)", "scheduledAt": "\(instant)", LogEvent.key: "\(LogEvent.runMissed.rawValue)"]
            ) { $1 }
        )
        keep(RunRecord.instants([instant], of: job, node: daemon.node, outcome: .missed(reason), rule: rule))
    }

    // MARK: - Operator requests

    private func handleControlMessages() {
        for message in events.takeControl() {
            if message.hasPrefix("trigger ") {
                lastTriggerPoll = .now - .seconds(3600)
            } else if let kill = OperatorRequests.Kill(message: message) {
                Task { await self.handleKill(kill) }
            } else if message.hasPrefix("pause ") {
                // Claimed ahead of its instant before the pause: not started, and the claim goes
                // back, so the instant is recorded as paused (by the missed-run check) as before.
                let job = String(message.dropFirst("pause ".count))
                // Said where the run ends: the message can come after the start, too late to cancel.
                for run in aheadRuns.values where run.job == job { run.cancellation.cancel() }
            }
        }
    }

    private func handleKill(_ kill: OperatorRequests.Kill) async {
        guard let control else { return }
        let reached = await runner.kill(job: kill.job, runID: kill.runID, signal: kill.signal, by: "operator")
        for run in reached {
            logger.notice(
                "terminating the run on an operator's request (dcrond kill)",
                metadata: [
                    "job": "\(kill.job)", "run": "\(run)", "signal": "\(signalName(kill.signal))",
                ]
            )
        }
        do {
            try await OperatorRequests.acknowledgeKill(
                control,
                keys: keys,
                request: kill.request,
                node: daemon.node,
                runs: reached
            )
        } catch {
            logger.warning("could not answer a kill request", metadata: ["job": "\(kill.job)", "error": "\(error)"])
        }
    }

    /// Reads the manual runs waiting for an owner (at once after a `trigger` message, and every
    /// heartbeat in case a message was lost) and starts those of the jobs this node owns.
    private func pollTriggers() {
        guard let control, !triggerPollRunning, !stopping else { return }
        triggerPollRunning = true
        lastTriggerPoll = .now
        Task {
            defer { self.triggerPollRunning = false }
            let pending: [(job: String, entry: OperatorRequests.Trigger)]
            do { pending = try await OperatorRequests.pendingTriggers(control, keys: keys) } catch { return }
            guard !pending.isEmpty, let pool, case .owner(let ring) = await pool.standing() else { return }
            for (name, entry) in pending where ring.owner(of: name) == daemon.node {
                guard let job = table.job(named: name) else { continue }
                startManual(job, entry, control: control)
            }
        }
    }

    /// One manual run: taken from the `triggers` entry with a compare-and-set (at most one node
    /// runs it), then run like a scheduled one: the job's overlap policy (local and lease) unless
    /// forced, the concurrency cap, retries, a record in the history.
    private func startManual(_ job: JobDefinition, _ entry: OperatorRequests.Trigger, control: RedisClient) {
        guard !stopping else { return }
        var forced = job
        if entry.force { forced.overlap = .allow }
        let definition = forced
        let token = nextRunToken
        nextRunToken += 1
        let runner = self.runner
        let claims = self.claims
        let logger = self.logger
        let node = daemon.node
        let keys = self.keys
        let leaseGuard = definition.overlap == .allow ? nil : self.leaseGuard
        let runID = JobRunner.newRunID()
        let lease = LeaseHolder()
        let name = job.name
        let request = entry.request
        logger.info(
            "manual run requested by \(entry.who)\(entry.force ? " (forced)" : "")",
            metadata: ["job": "\(name)", "run": "\(runID)"]
        )
        runs[token] = Task {
            let admission = RunAdmission(
                claim: {
                    let taken =
                        (try? await OperatorRequests.updateTrigger(
                            control,
                            keys: keys,
                            job: name,
                            request: request,
                            to: "claimed",
                            from: "pending",
                            node: node,
                            runID: runID,
                            keepFor: .seconds(86_400)
                        )) ?? false
                    return taken ? .start : .notClaimed
                },
                acquire: {
                    if await self.isStopping { return .skip("the node is stopping", .stopping) }
                    if let leaseGuard,
                        case .skip(let reason, let rule) = await leaseGuard.hold(
                            job: definition,
                            runID: runID,
                            waitUntil: nil,
                            in: lease
                        )
                    {
                        return .skip(reason, rule)
                    }
                    _ = try? await OperatorRequests.updateTrigger(
                        control,
                        keys: keys,
                        job: name,
                        request: request,
                        to: "started",
                        node: node,
                        runID: runID,
                        keepFor: .seconds(86_400)
                    )
                    return .start
                }
            )
            let record = await runner.run(
                definition,
                scheduledAt: self.nowSeconds(),
                runID: runID,
                trigger: .manual,
                admission: admission
            )
            if let value = lease.end() { try? await leases?.release(name, value: value, runID: runID) }
            if record.outcome != .notClaimed {
                self.countManual(record)
                do { try await claims.record(record) } catch {
                    logger.warning(
                        "could not record the run",
                        metadata: ["job": "\(name)", "run": "\(runID)", "error": "\(error)"]
                    )
                }
                if case .skipped(let reason) = record.outcome {
                    _ = try? await OperatorRequests.updateTrigger(
                        control,
                        keys: keys,
                        job: name,
                        request: request,
                        to: "refused",
                        reason: reason,
                        keepFor: .seconds(60)
                    )
                } else {
                    _ = try? await OperatorRequests.updateTrigger(
                        control,
                        keys: keys,
                        job: name,
                        request: request,
                        to: "done"
                    )
                }
            }
            self.runs[token] = nil
        }
    }

    private func countManual(_ record: RunRecord) {
        if case .skipped = record.outcome {} else { manualRuns += 1 }
        count(record)
    }

    // MARK: - Metrics and health

    /// Sets the gauges that say what the node is doing now (called at each scrape).
    func refreshMetrics() async {
        var snapshot = DaemonMetrics.Snapshot(
            state: "standalone",
            ownedJobs: owned.count,
            poolActive: 1,
            poolDraining: 0,
            heartbeatAge: nil,
            clockOffset: nil,
            running: await runner.runningCount,
            next: next.byJob
        )
        if let pool {
            switch await pool.standing() {
            case .owner: snapshot.state = "active"
            case .fenced: snapshot.state = "fenced"
            case .inactive: snapshot.state = "draining"
            }
            let view = await pool.view
            snapshot.poolActive = view.members.filter { $0.state == .active }.count
            snapshot.poolDraining = view.members.count - snapshot.poolActive
            snapshot.heartbeatAge = await pool.lastAcknowledgedSend.map { ContinuousClock.now - $0 }
            snapshot.clockOffset = await pool.clockOffset
        }
        metrics.update(snapshot)
    }

    /// `/healthz`: nil when the process and its scheduling loop are alive, else why not.
    nonisolated func liveness() -> String? {
        events.stuckDescription(after: stuckAfter)
    }

    /// `/readyz`: nil when this node is active in the pool (or standalone), else why not.
    func readiness() async -> String? {
        if let failure { return failure }
        guard let pool else { return nil }
        switch await pool.standing() {
        case .owner: return nil
        case .fenced: return "fenced: no heartbeat acknowledged by Redis within the node timeout"
        case .inactive: return stopping ? "stopping" : "draining (or not yet seen active in the pool)"
        }
    }

    // MARK: - Reload, drain, shutdown

    /// Re-reads both files on a thread of its own (a jobs file on a hung mount blocks that thread,
    /// never the scheduler). A valid table replaces the running one atomically; jobs whose definition
    /// did not change keep their plan; jobs added, re-enabled or rescheduled start from now, with no
    /// replay of the time before. An invalid one is rejected, every problem logged.
    func reload() async {
        guard !reloading else {
            // The files may have changed after the running reload read them: read them once more.
            logger.info("reload requested while one is reading \(configPath) or its jobs file: another follows it")
            reloadAgain = true
            return
        }
        reloading = true
        serviceManager.reloading()
        defer {
            reloading = false
            if reloadAgain {
                reloadAgain = false
                Task { await self.reload() }
            }
        }
        let path = configPath
        let trust = self.trust
        // Snapshots (copy-on-write: O(1) here); the new plan is built on the reload's thread.
        let snapshot = Retiring((table: table, next: next.byJob))
        dispatchedDuringReload = []
        clockChangedDuringReload = false
        let metrics = self.metrics
        typealias Outcome = Result<(LoadedConfiguration, ReloadPlan), ConfigurationErrors>
        let stuck = readersInFlight.load(ordering: .relaxed)
        guard stuck < Self.stuckReadersLimit else {
            await reject(
                [
                    "\(stuck) earlier readings of \(configPath) or \(daemon.jobsPath) have not returned (a hung mount?); no other starts until one does"
                ],
                summary: "no reading started"
            )
            return
        }
        // The reading answers, or the timeout does for it: a read that never returns (a hung mount,
        // a FIFO nobody writes) must not hold every later reload, and it cannot be interrupted.
        let answer = OneShot<Outcome?>()
        readersInFlight.add(1, ordering: .relaxed)
        startDetachedThread(name: "dcrond-reload") {
            let outcome = Self.load(path, trust: trust).map { loaded in
                let old = snapshot.value
                let plan = ReloadPlan(
                    old: old.table,
                    new: loaded.table,
                    kept: old.next,
                    now: realtimeNanoseconds() / 1_000_000_000
                )
                return (loaded, plan)
            }
            // Not for a reading given up: its table never runs. (Given up between the check and
            // the answer, the series follow a table that does not run until the next reload.)
            if case .success(let (loaded, _)) = outcome, !answer.isFulfilled {
                metrics.track(jobs: loaded.table.jobs.map(\.name))
            }
            answer.fulfill(outcome)
            self.readersInFlight.subtract(1, ordering: .relaxed)
            // The file's parse tree and the reading's temporaries are free now.
            releaseFreedMemory()
        }
        let limit = daemon.reloadTimeout
        let timeout = Task {
            guard (try? await Task.sleep(for: limit)) != nil else { return }
            answer.fulfill(nil)
        }
        let outcome = await answer.value
        timeout.cancel()
        let loaded: LoadedConfiguration
        var plan: ReloadPlan
        switch outcome {
        case .success(let value):
            (loaded, plan) = value
        case .failure(let error):
            await reject(error.lines, summary: "\(error.count) problem\(error.count == 1 ? "" : "s")")
            return
        case nil:
            await reject(
                [
                    "reading \(configPath) or \(daemon.jobsPath) has not finished after \(formatDuration(limit)) (reloadTimeout; a hung mount, or a FIFO nobody writes?); given up, the next reload reads them afresh"
                ],
                summary: "the reading timed out"
            )
            return
        }
        let (settings, needsRestart) = daemon.adopting(loaded.daemon)
        if !needsRestart.isEmpty {
            logger.warning(
                "changed settings need a restart to apply; the running values stay: \(needsRestart.joined(separator: ", "))",
                metadata: ["needsRestart": "\(needsRestart.joined(separator: ","))"]
            )
        }
        if settings.maxConcurrentRuns != daemon.maxConcurrentRuns {
            await runner.setMaxConcurrentRuns(settings.maxConcurrentRuns)
        }
        if settings.logLevel != daemon.logLevel, let level = settings.logLevel { output?.level = level }
        daemon = settings
        let previousFingerprint = table.fingerprint
        table = loaded.table
        // The old table (up to 100,000 definitions) is freed on a thread of its own, not in the loop.
        snapshot.retire()
        // Jobs the loop dispatched while the plan was built: their planned instant in the snapshot
        // is one they have run (or queued) since. Planned again from what the loop has dispatched.
        let now = max(nowSeconds(), dispatchedThrough)
        for name in dispatchedDuringReload {
            guard let job = table.job(named: name), job.enabled else { continue }
            plan.next[name] = job.schedule.next(after: now, in: job.timeZone, policy: job.dstPolicy)
        }
        dispatchedDuringReload = []
        next = plan.next
        // A run dispatched ahead of its instant for a job this table disables or removes does not
        // start: its claim goes back, as if the reload had come before the dispatch.
        for run in aheadRuns.values where table.job(named: run.job)?.enabled != true {
            run.cancellation.cancel()
        }
        if clockChangedDuringReload {
            dispatchedThrough = nowSeconds()
            planAll(after: dispatchedThrough)
        }
        let fresh = plan.fresh
        for name in fresh { notBefore[name] = plan.now }
        await updateOwnership(added: plan.added, removed: plan.removed)
        await pool?.updateFingerprint(table.fingerprint)
        logger.info(
            "reloaded",
            metadata: [
                "jobs": "\(table.jobs.count)", "fingerprint": "\(table.fingerprint)",
                "previous": "\(previousFingerprint)",
                "startingFromNow": "\(fresh.count)", LogEvent.key: "\(LogEvent.reloaded.rawValue)",
            ]
        )
        timer.interrupt()
        await updateWatcher()
        reloadGeneration += 1
        await writeReport(
            ReloadReport(
                pid: getpid(),
                generation: reloadGeneration,
                accepted: true,
                fingerprint: table.fingerprint,
                needsRestart: needsRestart
            )
        )
        serviceManager.ready(status: await statusText())
        if !fresh.isEmpty { await markStartingFromNow(fresh, at: plan.now) }
    }

    /// A reload that did not replace the table: every problem at error, the answer for `dcrond
    /// reload`, and the service manager told the running table stays.
    private func reject(_ problems: [String], summary: String) async {
        for line in problems {
            logger.error("reload rejected: \(line)", metadata: Logger.Metadata().event(.reloadRejected))
        }
        logger.error(
            "reload rejected: \(summary); the current table (fingerprint \(table.fingerprint)) keeps running",
            metadata: Logger.Metadata().event(.reloadRejected)
        )
        reloadGeneration += 1
        await writeReport(
            ReloadReport(
                pid: getpid(),
                generation: reloadGeneration,
                accepted: false,
                fingerprint: table.fingerprint,
                problems: problems
            )
        )
        serviceManager.ready(status: await statusText())
    }

    /// Ownership after a reload, in O(jobs added or removed): it depends on the name alone, so
    /// only they can change it. A job this node now owns gets its catch-up (which, for a job the
    /// reload added, finds nothing before the reload to run).
    private func updateOwnership(added: [String], removed: [String]) async {
        guard let pool, everOwned else { return }  // standalone: every job is this node's
        guard case .owner(let ring) = await pool.standing() else {
            ownershipDirty = true
            return
        }
        owned.subtract(removed)
        let gained = added.filter { ring.owner(of: $0) == daemon.node }
        owned.formUnion(gained)
        requestCatchUp(Set(gained), reason: "this node became the owner")
    }

    /// Watches both files while `reloadOnChange` is on (its thread wakes at every file closed in
    /// their folders, so it does not run when nobody asked for it).
    private func updateWatcher() async {
        guard daemon.reloadOnChange, !stopping else {
            if let watcher {
                self.watcher = nil
                await watcher.stop()
            }
            return
        }
        if let watcher {
            watcher.setPaths([configPath, daemon.jobsPath])
            return
        }
        do throws(FileWatchError) {
            watcher = try FileWatcher(paths: [configPath, daemon.jobsPath]) { Task { await self.filesChanged() } }
        } catch {
            logger.warning(
                "cannot watch the configuration files; reload with SIGHUP (systemctl reload dcrond)",
                metadata: ["error": "\(error)"]
            )
        }
    }

    /// Either file changed and has been quiet for a moment since.
    private func filesChanged() async {
        guard daemon.reloadOnChange, !stopping else { return }
        logger.info(
            "the configuration files changed: reloading",
            metadata: ["config": "\(configPath)", "jobsFile": "\(daemon.jobsPath)"]
        )
        await reload()
    }

    /// Replaces ``ReloadReport`` on a thread of its own (no file I/O on the actor).
    private func writeReport(_ report: ReloadReport) async {
        guard let directory = reportDirectory else { return }
        let failure = await withCheckedContinuation { (continuation: CheckedContinuation<FileWriteError?, Never>) in
            startDetachedThread(name: "dcrond-report") {
                do throws(FileWriteError) {
                    try report.write(in: directory)
                    continuation.resume(returning: nil)
                } catch {
                    continuation.resume(returning: error)
                }
            }
        }
        if let failure { logger.warning("cannot keep the reload's outcome for `dcrond reload`: \(failure)") }
    }

    /// The service manager's status line: what this node is doing, in a few words.
    private func statusText() async -> String {
        if stopping { return "stopping: \(runs.count) run\(runs.count == 1 ? "" : "s") still going" }
        let enabled = table.jobs.lazy.filter(\.enabled).count
        guard let pool else {
            return "standalone, runs \(enabled) job\(enabled == 1 ? "" : "s")\(await nextOwnedText())"
        }
        switch await pool.standing() {
        case .owner(let ring):
            return
                "active, owns \(owned.count) of \(enabled) jobs, \(ring.nodes.count) node\(ring.nodes.count == 1 ? "" : "s")\(await nextOwnedText())"
        case .fenced:
            let since =
                await pool.lastAcknowledgedSend.map {
                    "for \(formatDuration(.seconds((ContinuousClock.now - $0).components.seconds)))"
                } ?? "since start-up"
            return "fenced: Redis unreachable \(since); owns nothing"
        case .inactive:
            return await pool.isDraining
                ? "draining: owns nothing, finishing \(runs.count) run\(runs.count == 1 ? "" : "s")"
                : "waiting to become active in the pool"
        }
    }

    /// "; next: backup at 02:30:00 UTC" for the earliest planned instant this node owns: O(owned),
    /// so computed from snapshots (copy-on-write, O(1) to take) on a thread of its own, not in the
    /// loop (10 ms at 100,000 jobs).
    private func nextOwnedText() async -> String {
        // Standalone, every planned job is this node's.
        let owned: Set<String>? = pool == nil ? nil : self.owned
        let plan = next
        return await withCheckedContinuation { continuation in
            startDetachedThread(name: "dcrond-status") {
                // A scan of 100,000 plans took 15 ms every 5 s, most of the daemon's idle cost.
                guard owned?.isEmpty != true, let best = plan.earliest(where: { owned?.contains($0) ?? true }) else {
                    return continuation.resume(returning: "")
                }
                let time = LogOutput.timestamp(best.instant * 1_000_000_000).dropLast(5).map { $0 == "T" ? " " : $0 }
                continuation.resume(returning: "; next: \(best.job) at \(String(time)) UTC")
            }
        }
    }

    private static func load(_ path: String, trust: FileTrust) -> Result<LoadedConfiguration, ConfigurationErrors> {
        do {
            return .success(try ConfigurationLoader.load(configPath: path, trust: trust))
        } catch {
            return .failure(error)
        }
    }

    /// Advances the last claimed instant of `jobs` to `now`, so that no node (one that becomes the
    /// owner later, or starts later) replays the time before the reload.
    private func markStartingFromNow(_ jobs: [String], at now: Int64) async {
        guard pool != nil else { return }
        let requests = jobs.map { ClaimRequest(job: $0, instant: now, token: "\(daemon.node) reload") }
        do {
            _ = try await claims.claim(requests)
        } catch {
            logger.warning(
                "could not mark the reloaded jobs as starting from now in Redis; another node that becomes their owner may replay the time before",
                metadata: ["jobs": "\(jobs.count)", "error": "\(error)"]
            )
        }
    }

    /// From the first moment nothing new starts (no next instant, no backlog, no retry); then leaves
    /// the pool at once, lets running jobs finish within `grace`, terminates what is left (SIGTERM
    /// to each process group, SIGKILL after its job's kill grace), and waits until every run is
    /// recorded. A claim won but not started is released for the next owner.
    func shutdown(grace: Duration) async {
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

    /// Asks for ``shutdown()`` from any context (the service group's graceful shutdown): the loop
    /// begins it at once, woken if it sleeps, and ``run()`` returns.
    nonisolated func requestShutdown() {
        // First: a run waiting on a spawner thread for an instant within the lead must not start
        // while the loop is still on its way to the shutdown.
        runner.cancelWaitingStarts()
        events.requestStop()
        timer.interrupt()
    }

    /// ``shutdown(grace:)`` with the configured `shutdownGrace` (a reload may have changed it).
    func shutdown() async { await shutdown(grace: daemon.shutdownGrace) }

    private func performShutdown(grace: Duration) async {
        stopping = true
        timer.interrupt()
        // The stop timeout is extended to what the daemon may take: the grace, then the longest
        // kill grace, and a margin to record the runs.
        let killGrace = table.jobs.map(\.killGrace).max() ?? .seconds(10)
        serviceManager.stopping(
            status: "stopping: \(runs.count) run\(runs.count == 1 ? "" : "s") still going",
            needs: runs.isEmpty ? nil : grace + killGrace + .seconds(15)
        )
        await runner.beginShutdown()
        let queued = lanes.values.reduce(0) { $0 + $1.pending.count }
        logger.info(
            "shutting down: nothing new starts; leaving the pool",
            metadata: [
                "runningRuns": "\(runs.count)", "queuedInstants": "\(queued)", "grace": "\(formatDuration(grace))",
            ]
        )
        // The starts waiting for their instant are cancelled: their claims go back before this
        // node leaves, since a node that gains their jobs reads the claims once it sees it gone.
        // One that started (a stop just after its instant) has, a second after it.
        let settleBy = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < settleBy,
            aheadRuns.values.contains(where: { ($0.instant + 1) * 1_000_000_000 > realtimeNanoseconds() })
        {
            try? await Task.sleep(for: .milliseconds(5))
        }
        await pool?.leave()
        let deadline = ContinuousClock.now + grace
        while !runs.isEmpty, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if !runs.isEmpty {
            logger.warning(
                "terminating \(runs.count) run\(runs.count == 1 ? "" : "s") still going after the grace period"
            )
            await runner.terminateAll()
        }
        for task in runs.values { await task.value }
        // Bounded: with Redis gone, a record or a mark would wait for ever.
        let recordedBy = ContinuousClock.now + .seconds(5)
        while keeping > 0 || !startMarks.isIdle, ContinuousClock.now < recordedBy {
            try? await Task.sleep(for: .milliseconds(10))
        }
        await watcher?.stop()
        await runner.shutdown()
        logger.info("stopped", metadata: ["skippedInstants": "\(skippedInstants)", "failedClaims": "\(failedClaims)"])
    }

    private nonisolated func nowSeconds() -> Int64 { realtimeNanoseconds() / 1_000_000_000 }
}

/// What the scheduling loop works with: its clock, the runner, the claim store and, in a cluster,
/// the pool, the leases and the operator connection. ``make(for:logger:output:)`` builds the real
/// ones; tests give the loop fakes of the claim store.
struct DaemonParts: Sendable {
    var timer: WallClockTimer
    /// What reaches the loop from other threads.
    var events: DaemonEvents
    var runner: JobRunner
    var claims: any ClaimStore
    var leases: RunLeases?
    var pool: NodePool?
    /// Operator requests (manual runs, kills) on a connection of their own.
    var control: RedisClient?

    static func make(for loaded: LoadedConfiguration, logger: Logger, output: LogOutput?) -> DaemonParts {
        let timer = WallClockTimer()
        let supervisor = ProcessSupervisor()
        let startFailures = StartFailures()
        let runner = JobRunner(
            supervisor: supervisor,
            settings: RunnerSettings(
                node: loaded.daemon.node,
                cluster: loaded.daemon.cluster,
                maxConcurrentRuns: loaded.daemon.maxConcurrentRuns
            ),
            logger: logger,
            startFailures: startFailures,
            outputHandler: output.map { output in { @Sendable context, line in output.jobOutput(context, line) } }
        )
        // A repair waits for the nodes seen in the pool lately, not only in its latest view: right
        // after Redis lost its data the view shrinks to the nodes that have heartbeated since.
        let events = DaemonEvents(departedKept: loaded.daemon.nodeTimeout * 3 + .seconds(10))
        if let endpoint = loaded.daemon.redis {
            var options = RedisConnectionOptions()
            options.clientName = "dcrond:\(loaded.daemon.node)"
            // Claims, renewals and operator requests are retried while Redis is away: their
            // clients reconnect within a second of its return.
            func reconnectingClient(_ options: RedisConnectionOptions) -> RedisClient {
                RedisClient(
                    endpoint: endpoint,
                    options: options,
                    reconnectBackoff: ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(1)),
                    logger: logger
                )
            }
            let poolClient = RedisClient(endpoint: endpoint, options: options, logger: logger)
            // A claim's WAIT holds the reply for up to the replica timeout: the read must outlast it.
            var claimOptions = options
            claimOptions.ioTimeout = max(options.ioTimeout, loaded.daemon.claimReplicaTimeout + .seconds(1))
            let acknowledgement = ReplicaAcknowledgement(
                replicas: loaded.daemon.claimReplicas,
                timeout: loaded.daemon.claimReplicaTimeout
            )
            let claimClient = reconnectingClient(claimOptions)
            let description = NodeDescription(
                fingerprint: loaded.table.fingerprint,
                timeZone: loaded.daemon.timeZone.identifier
            )
            let claims = RedisClaimStore(
                redis: claimClient,
                cluster: loaded.daemon.cluster,
                node: loaded.daemon.node,
                heartbeat: loaded.daemon.heartbeat,
                nodeTimeout: loaded.daemon.nodeTimeout,
                knownMembers: { events.recentMembers() },
                acknowledgement: acknowledgement,
                instance: description.instance,
                logger: logger
            )
            // Many runs due at once: their claims go to Redis in a few scripts, not one round trip each.
            let store = BatchingClaimStore(claims)
            let renewalClient = RunLeases.renewalClient(endpoint: endpoint, options: options, logger: logger)
            let leases = RunLeases(
                redis: claimClient,
                renewals: renewalClient,
                cluster: loaded.daemon.cluster,
                nodeTimeout: loaded.daemon.nodeTimeout,
                acknowledgement: acknowledgement
            )
            let settings = PoolSettings(
                cluster: loaded.daemon.cluster,
                node: loaded.daemon.node,
                heartbeat: loaded.daemon.heartbeat,
                nodeTimeout: loaded.daemon.nodeTimeout,
                virtualNodes: loaded.daemon.virtualNodes,
                weight: loaded.daemon.weight
            )
            var hooks = PoolHooks()
            hooks.history = { generation, sequence in
                Task { await claims.checkHistory(generation: generation, sequence: sequence) }
            }
            hooks.idInUse = { conflict in
                events.fail(conflict.description)
                timer.interrupt()
            }
            let stuckAfter = loaded.daemon.stuckLoopAfter
            hooks.schedulerStuck = { events.stuckDescription(after: stuckAfter) }
            hooks.startFailures = { startFailures.summary() }
            hooks.control = { message in
                events.pushControl(message)
                timer.interrupt()
            }
            let control = reconnectingClient(options)
            let pool = NodePool(
                settings: settings,
                redis: poolClient,
                description: description,
                logger: logger,
                hooks: hooks,
                onChange: { view, rejoined in
                    events.markPoolChanged(rejoined: rejoined, members: view.members.map(\.id))
                    timer.interrupt()
                }
            )
            return DaemonParts(
                timer: timer,
                events: events,
                runner: runner,
                claims: store,
                leases: leases,
                pool: pool,
                control: control
            )
        }
        return DaemonParts(timer: timer, events: events, runner: runner, claims: LocalClaimStore())
    }
}

/// A value the loop hands to a thread of its own to be freed there (``retire()``): dropping the
/// last reference to a table of 100,000 jobs costs the thread that does it milliseconds.
private final class Retiring<Value: Sendable>: Sendable {
    private let state: Mutex<Value?>

    init(_ value: Value) { state = Mutex(value) }

    /// The value; only before ``retire()``.
    var value: Value { state.withLock { $0! } }

    func retire() {
        startDetachedThread(name: "dcrond-release") { [self] in
            let value = state.withLock { $0.take() }
            withExtendedLifetime(value) {}
            releaseFreedMemory()
        }
    }
}

/// What reaches the daemon's loop from other threads: pool changes, a fatal pool error, and the
/// loop's own progress (read by the pool's heartbeat).
final class DaemonEvents: Sendable {
    private struct State {
        var changed = false
        var rejoined = false
        var stopRequested = false
        var failure: String?
        var lastTick = ContinuousClock.now
        var members: Set<String> = []
        /// Messages of the `control` channel not yet handled by the loop.
        var control: [String] = []
        /// Nodes gone from the view, and when.
        var departed: [String: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())
    private let departedKept: Duration

    /// `departedKept`: how long a node that left the view still counts in ``recentMembers()``.
    init(departedKept: Duration = .seconds(20)) { self.departedKept = departedKept }

    func markPoolChanged(rejoined: Bool, members: [String]) {
        state.withLock { state in
            state.changed = true
            state.rejoined = state.rejoined || rejoined
            let now = ContinuousClock.now
            for gone in state.members.subtracting(members) { state.departed[gone] = now }
            state.members = Set(members)
            for id in members { state.departed[id] = nil }
            state.departed = state.departed.filter { now - $0.value < departedKept }
        }
    }

    /// The nodes of the pool as last seen, and those that left it lately.
    func recentMembers() -> [String] {
        state.withLock { state in
            let now = ContinuousClock.now
            return (state.members.union(state.departed.filter { now - $0.value < departedKept }.keys)).sorted()
        }
    }

    /// Whether the pool changed since the last call; ORs a rejoin into `rejoined`.
    func takePoolChange(into rejoined: inout Bool) -> Bool {
        let taken = state.withLock { state -> (Bool, Bool) in
            defer {
                state.changed = false
                state.rejoined = false
            }
            return (state.changed, state.rejoined)
        }
        if taken.1 { rejoined = true }
        return taken.0
    }

    func requestStop() { state.withLock { $0.stopRequested = true } }

    var stopRequested: Bool { state.withLock { $0.stopRequested } }

    func fail(_ message: String) { state.withLock { $0.failure = $0.failure ?? message } }

    /// A message from the `control` channel (bounded: requests beyond 1,000 unhandled are dropped,
    /// and a dropped trigger is still found by the next poll).
    func pushControl(_ message: String) { state.withLock { if $0.control.count < 1000 { $0.control.append(message) } } }

    func takeControl() -> [String] {
        state.withLock { state in
            defer { state.control = [] }
            return state.control
        }
    }

    func takeFailure() -> String? { state.withLock { $0.failure } }

    /// The loop ran an iteration.
    func tick() { state.withLock { $0.lastTick = .now } }

    /// Why the loop counts as stuck (no iteration for longer than `after`), or nil.
    func stuckDescription(after limit: Duration) -> String? {
        let since = ContinuousClock.now - state.withLock { $0.lastTick }
        return since > limit ? "the scheduling loop has not run for \(formatDuration(since))" : nil
    }
}
