import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The runner's settings that come from the daemon configuration.
package struct RunnerSettings: Sendable {
    var node: String
    var cluster: String
    /// Runs in flight at once on this node; more wait in order, up to their starting deadline.
    var maxConcurrentRuns: Int
    /// Between attempts of a job with `retries`.
    var retryBackoff: ExponentialBackoff

    static let defaultMaxConcurrentRuns = 64
    static let defaultRetryBackoff = ExponentialBackoff(initial: .seconds(1), maximum: .seconds(60))

    package init(
        node: String,
        cluster: String,
        maxConcurrentRuns: Int = defaultMaxConcurrentRuns,
        retryBackoff: ExponentialBackoff = defaultRetryBackoff
    ) {
        self.node = node
        self.cluster = cluster
        self.maxConcurrentRuns = maxConcurrentRuns
        self.retryBackoff = retryBackoff
    }
}

/// One attempt of a run: a process, or the reason none started.
struct AttemptRecord: Sendable, Hashable {
    let attempt: Int
    let pid: Int32?
    /// Unix milliseconds.
    let startedAt: Int64
    let endedAt: Int64
    let termination: ProcessTermination?
    let timedOut: Bool
    /// Terminated on purpose (`overlap: replace`, shutdown), not by its timeout.
    let terminated: Bool
    /// Why no process started (spawn failure).
    let error: String?

    var succeeded: Bool { termination?.succeeded == true }
}

/// The cluster's say in a run, asked by ``JobRunner/run(_:scheduledAt:runID:forceShell:admission:)``
/// right before the process would start (after the concurrency slot and the local overlap check),
/// so that an instant is claimed only when it is about to run.
package struct RunAdmission: Sendable {
    /// Claims the instant: `.notClaimed` when it is not this node's to run (then nothing happens),
    /// `.skip` when the cluster says it must not run (a paused job).
    var claim: @Sendable () async -> Decision
    /// After a won claim, for a run that will start: the cluster-wide half of the overlap policy,
    /// and the last word of a node that is stopping.
    var acquire: @Sendable () async -> Decision
    /// After the first attempt: its process started, or its start failed (logged at error and
    /// counted). Not called for a run skipped or cancelled before it.
    var started: @Sendable () -> Void

    enum Decision: Sendable, Equatable {
        case start
        case skip(String, SkipRule)
        /// The claim was given back (the node stops): nothing to record.
        case notClaimed
    }

    init(
        claim: @escaping @Sendable () async -> Decision,
        acquire: @escaping @Sendable () async -> Decision = { .start },
        started: @escaping @Sendable () -> Void = {}
    ) {
        self.claim = claim
        self.acquire = acquire
        self.started = started
    }
}

/// Turns "job X is due at instant T" into processes on this node: builds the environment and
/// identity, applies the local half of the `overlap` policy and the concurrency cap, retries
/// failed attempts with backoff, and logs the start, output and end of each.
package actor JobRunner {
    private let supervisor: ProcessSupervisor
    private var settings: RunnerSettings
    private let logger: Logger
    private let outputHandler: @Sendable (RunContext, OutputLine) -> Void

    /// Runs of each job that have not ended (including ones waiting for a slot or a retry).
    private var active: [String: [ActiveRun]] = [:]
    private var inFlight = 0
    private var slotWaiters: [CheckedContinuation<Void, Never>] = []
    /// After ``beginShutdown()``: no further attempt of any run starts.
    private var shuttingDown = false

    /// Which run an output line belongs to.
    package struct RunContext: Sendable, Hashable {
        let job: String
        let runID: String
        let scheduledAt: Int64
        let attempt: Int
    }

    private final class ActiveRun: Sendable {
        let runID: String
        let killGrace: Duration
        let done = OneShot<Void>()
        let state = Mutex<(process: RunningProcess?, stopped: Bool)>((nil, false))
        /// The end of the run's output, across attempts, for its record.
        let tail = Mutex(OutputTail())
        /// Set by ``JobRunner/kill(job:runID:signal:by:)``.
        let killedBy = Mutex<String?>(nil)
        init(runID: String, killGrace: Duration) {
            self.runID = runID
            self.killGrace = killGrace
        }
    }

    /// Spawn failures of the last minute, for the node's status.
    nonisolated let startFailures: StartFailures

    /// `outputHandler` receives every line of every run, each after its attempt's "run started"
    /// record (default: the logger, at info level, tagged with job, run, attempt and stream; the
    /// daemon passes ``LogOutput/jobOutput(_:_:)``, which writes them whatever the log level).
    package init(
        supervisor: ProcessSupervisor,
        settings: RunnerSettings,
        logger: Logger = Logger(label: "dcrond.runner"),
        startFailures: StartFailures = StartFailures(),
        outputHandler: (@Sendable (RunContext, OutputLine) -> Void)? = nil
    ) {
        self.startFailures = startFailures
        self.supervisor = supervisor
        self.settings = settings
        self.logger = logger
        self.outputHandler =
            outputHandler ?? { [logger] context, line in
                logger.info(
                    "\(line.text)\(line.truncated ? " [line truncated]" : "")",
                    metadata: [
                        "job": "\(context.job)", "run": "\(context.runID)", "attempt": "\(context.attempt)",
                        "stream": "\(line.stream.rawValue)",
                    ]
                )
            }
    }

    /// A new run ID: 16 random hex digits.
    static func newRunID() -> String {
        let value = UInt64.random(in: 0...UInt64.max)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Runs `job` for its instant `scheduledAt` (Unix seconds) and returns when the run has ended
    /// or was skipped. `forceShell` runs even a plain command through `/bin/sh -c`. `admission`
    /// (claims and leases) is asked right before the start; a run it refuses returns
    /// ``RunOutcome/notClaimed`` or a skip. `startAt` (Unix nanoseconds) is the wall-clock instant
    /// of a run called ahead of it: everything is done before it, and the spawner thread starts the
    /// child at it; a run whose start the shutdown or `cancellation` cancelled meanwhile returns
    /// `notClaimed` (its claim is the caller's to give back).
    package func run(
        _ job: JobDefinition,
        scheduledAt: Int64,
        runID: String = JobRunner.newRunID(),
        trigger: RunTrigger = .schedule,
        forceShell: Bool = false,
        admission: RunAdmission? = nil,
        startAt: Int64? = nil,
        cancellation: StartCancellation? = nil
    ) async -> RunRecord {
        var baseMetadata: Logger.Metadata = ["job": "\(job.name)", "run": "\(runID)", "scheduledAt": "\(scheduledAt)"]
        if trigger != .schedule { baseMetadata["trigger"] = "\(trigger.rawValue)" }
        func skipRecord(_ reason: String, _ rule: SkipRule) -> RunRecord {
            var record = RunRecord(
                job: job.name,
                runID: runID,
                scheduledAt: scheduledAt,
                node: settings.node,
                attempts: [],
                outcome: .skipped(reason),
                trigger: trigger
            )
            record.rule = rule
            return record
        }
        func skipped(_ reason: String, _ rule: SkipRule) -> RunRecord {
            logger.warning(
                "run skipped: \(reason)",
                metadata: baseMetadata.merging(["rule": "\(rule.rawValue)"]) { $1 }.event(.runSkipped)
            )
            return skipRecord(reason, rule)
        }
        let notClaimed = RunRecord(
            job: job.name,
            runID: runID,
            scheduledAt: scheduledAt,
            node: settings.node,
            attempts: [],
            outcome: .notClaimed,
            trigger: trigger
        )

        // Overlap, the local half (the cluster-wide half is a lease in Redis).
        let previous = active[job.name] ?? []
        if !previous.isEmpty {
            switch job.overlap {
            case .forbid:
                // Claimed all the same, so that no other node runs (or catches up) the skipped instant.
                if let admission {
                    switch await admission.claim() {
                    case .start: break
                    case .skip(let reason, let rule): return skipped(reason, rule)
                    case .notClaimed: return notClaimed
                    }
                }
                return skipped("overlap is forbid and run \(previous[0].runID) is still running", .overlap)
            case .replace:
                logger.info(
                    "replacing the previous run",
                    metadata: baseMetadata.merging(["previousRun": "\(previous.map(\.runID).joined(separator: ","))"]) {
                        $1
                    }
                )
                for run in previous {
                    let process = run.state.withLock { state -> RunningProcess? in
                        state.stopped = true
                        return state.process
                    }
                    process?.terminate(grace: job.killGrace)
                }
                for run in previous { await run.done.value }
            case .allow:
                break
            }
        }
        let run = ActiveRun(runID: runID, killGrace: job.killGrace)
        active[job.name, default: []].append(run)
        defer {
            active[job.name]?.removeAll { $0 === run }
            if active[job.name]?.isEmpty == true { active[job.name] = nil }
            run.done.fulfill(())
        }

        // The concurrency cap: wait in order, but not past the starting deadline.
        let waited = inFlight >= settings.maxConcurrentRuns
        if waited {
            logger.info("waiting for a free slot (\(inFlight) runs in flight)", metadata: baseMetadata)
            await withCheckedContinuation { slotWaiters.append($0) }
        } else {
            inFlight += 1
        }
        defer { releaseSlot() }
        let lateness = realtimeNanoseconds() / 1_000_000_000 - scheduledAt
        if lateness > Int64(job.startingDeadline.components.seconds) {
            let cause =
                waited
                ? "it waited for a free slot (at most \(settings.maxConcurrentRuns) runs at once)"
                : "it is \(formatDuration(.seconds(lateness))) late"
            return skipped(
                "past its starting deadline of \(formatDuration(job.startingDeadline)): \(cause)",
                waited ? .concurrency : .startingDeadline
            )
        }
        if let admission {
            switch await admission.claim() {
            case .start: break
            case .skip(let reason, let rule): return skipped(reason, rule)
            case .notClaimed: return notClaimed
            }
            switch await admission.acquire() {
            case .start: break
            case .skip(let reason, let rule): return skipped(reason, rule)
            case .notClaimed: return notClaimed
            }
        }

        let launch: (request: LaunchRequest, mode: String)
        do {
            launch = try prepare(
                job,
                scheduledAt: scheduledAt,
                runID: runID,
                attempt: 1,
                trigger: trigger,
                forceShell: forceShell
            )
        } catch {
            logger.error("run refused: \(error.reason)", metadata: baseMetadata.event(.runNotStarted))
            return skipRecord(error.reason, .refused)
        }
        baseMetadata["mode"] = "\(launch.mode)"

        var attempts: [AttemptRecord] = []
        for attempt in 1...(job.retries + 1) {
            if run.state.withLock({ $0.stopped }) || (attempt > 1 && shuttingDown) { break }
            var request = launch.request
            request.environment = request.environment.map {
                $0.hasPrefix("DCRON_ATTEMPT=") ? "DCRON_ATTEMPT=\(attempt)" : $0
            }
            if attempt == 1 {
                request.notBefore = startAt
                request.cancellation = cancellation
            }
            guard
                let record = await runAttempt(
                    request,
                    attempt: attempt,
                    job: job,
                    scheduledAt: scheduledAt,
                    run: run,
                    metadata: baseMetadata,
                    launched: attempt == 1 ? admission?.started : nil
                )
            else { return notClaimed }
            attempts.append(record)
            if record.succeeded || attempt > job.retries || run.state.withLock({ $0.stopped }) || shuttingDown { break }
            let delay = settings.retryBackoff.delay(forRetry: attempt)
            logger.info(
                "retrying in \(formatDuration(delay))",
                metadata: baseMetadata.merging(["attempt": "\(attempt)"]) { $1 }
            )
            // In slices, so that a shutdown or a terminate does not wait out a long backoff.
            let retryAt = ContinuousClock.now + delay
            while ContinuousClock.now < retryAt, !shuttingDown, !run.state.withLock({ $0.stopped }) {
                try? await Task.sleep(for: min(.milliseconds(100), retryAt - ContinuousClock.now))
            }
        }
        let outcome: RunOutcome = attempts.last?.succeeded == true ? .succeeded : .failed
        var record = RunRecord(
            job: job.name,
            runID: runID,
            scheduledAt: scheduledAt,
            node: settings.node,
            attempts: attempts,
            outcome: outcome,
            trigger: trigger
        )
        let tail = run.tail.withLock { $0 }
        record.output = tail.lines
        record.outputDropped = tail.dropped
        record.killedBy = run.killedBy.withLock { $0 }
        return record
    }

    /// One attempt, to its end; nil if it never started because the shutdown cancelled a start
    /// waiting for its instant.
    private func runAttempt(
        _ request: LaunchRequest,
        attempt: Int,
        job: JobDefinition,
        scheduledAt: Int64,
        run: ActiveRun,
        metadata: Logger.Metadata,
        launched: (@Sendable () -> Void)? = nil
    ) async -> AttemptRecord? {
        var metadata = metadata
        metadata["attempt"] = "\(attempt)"
        let context = RunContext(job: job.name, runID: run.runID, scheduledAt: scheduledAt, attempt: attempt)
        let handler = outputHandler
        // Lines read before "run started" is written wait for it: a job's output never appears
        // before its run's start in the journal.
        let early = Mutex<(started: Bool, lines: [OutputLine])>((false, []))
        let startedAt = realtimeNanoseconds() / 1_000_000
        let process: RunningProcess
        do throws(SpawnError) {
            process = try await supervisor.launch(request) { line in
                run.tail.withLock { $0.append(line) }
                let now = early.withLock { state -> Bool in
                    if !state.started { state.lines.append(line) }
                    return state.started
                }
                if now { handler(context, line) }
            }
        } catch {
            if error.errno == .canceled, request.notBefore != nil {
                logger.info("run not started: cancelled before its instant", metadata: metadata)
                return nil
            }
            logger.error("run failed to start: \(error)", metadata: metadata.event(.runNotStarted))
            startFailures.record(job: job.name, message: error.description)
            launched?()
            return AttemptRecord(
                attempt: attempt,
                pid: nil,
                startedAt: startedAt,
                endedAt: startedAt,
                termination: nil,
                timedOut: false,
                terminated: false,
                error: error.description
            )
        }
        // A replace that arrived while this attempt was being spawned still reaches it.
        let stopRequested = run.state.withLock { state -> Bool in
            state.process = process
            return state.stopped
        }
        if stopRequested { process.terminate(grace: job.killGrace) }
        metadata["pid"] = "\(process.pid)"
        logger.info("run started", metadata: metadata.event(.runStarted))
        launched?()
        // The reader thread holds no lock while it hands lines over: flush in a loop until no new
        // early line arrived, then let it write directly.
        while true {
            let pending = early.withLock { state -> [OutputLine] in
                let lines = state.lines
                state.lines = []
                if lines.isEmpty { state.started = true }
                return lines
            }
            if pending.isEmpty { break }
            for line in pending { handler(context, line) }
        }
        let exit = await process.exit()
        run.state.withLock { $0.process = nil }
        let endedAt = realtimeNanoseconds() / 1_000_000
        metadata["result"] = "\(exit.termination)"
        switch exit.termination {
        case .exited(let status): metadata["exitStatus"] = "\(status)"
        case .signaled(let signal): metadata["signal"] = "\(signalName(signal))"
        }
        metadata["durationMs"] = "\(Int64(exit.duration.seconds * 1000))"
        if exit.timedOut { metadata["timedOut"] = "true" }
        if exit.terminated { metadata["terminated"] = "true" }
        if exit.termination.succeeded && !exit.timedOut {
            logger.info("run finished", metadata: metadata.event(.runFinished))
        } else if exit.timedOut {
            logger.warning("run timed out", metadata: metadata.event(.runTimedOut))
        } else {
            logger.warning("run failed", metadata: metadata.event(.runFailed))
        }
        return AttemptRecord(
            attempt: attempt,
            pid: process.pid,
            startedAt: process.startedAtNanoseconds / 1_000_000,
            endedAt: endedAt,
            termination: exit.termination,
            timedOut: exit.timedOut,
            terminated: exit.terminated,
            error: nil
        )
    }

    private func releaseSlot() {
        if slotWaiters.isEmpty || inFlight > settings.maxConcurrentRuns {
            inFlight -= 1  // a lowered cap takes effect as runs end
        } else {
            slotWaiters.removeFirst().resume()  // the slot passes straight to the next waiter
        }
    }

    /// A new concurrency cap (a reload): a raised one starts waiting runs at once, a lowered one
    /// lets running ones finish and starts no new one until fewer than `maximum` are in flight.
    /// Ends the process supervisor (``ProcessSupervisor/shutdown()``): the last step of a stop,
    /// once every run is recorded; no run starts after it.
    func shutdown() async { await supervisor.shutdown() }

    func setMaxConcurrentRuns(_ maximum: Int) {
        settings.maxConcurrentRuns = maximum
        while inFlight < maximum, !slotWaiters.isEmpty {
            inFlight += 1
            slotWaiters.removeFirst().resume()
        }
    }

    /// Terminates one run (SIGTERM to its process group, SIGKILL after `grace`) and stops its retries.
    func terminate(runID: String, grace: Duration) {
        for run in active.values.flatMap({ $0 }) where run.runID == runID {
            let process = run.state.withLock { state -> RunningProcess? in
                state.stopped = true
                return state.process
            }
            process?.terminate(grace: grace)
        }
    }

    /// Ends the runs of `job` (all of them, or the one with `runID`) for an operator: `signal` to
    /// each process group, SIGKILL after the job's kill grace; no further attempt. Returns the IDs
    /// of the runs it reached.
    func kill(job: String, runID: String?, signal: Int32, by who: String) -> [String] {
        var reached: [String] = []
        for run in active[job] ?? [] where runID == nil || run.runID == runID {
            run.killedBy.withLock { $0 = who }
            let process = run.state.withLock { state -> RunningProcess? in
                state.stopped = true
                return state.process
            }
            process?.terminate(grace: run.killGrace, signal: signal)
            reached.append(run.runID)
        }
        return reached
    }

    /// The IDs of the runs of `job` that have not ended.
    func runningRuns(of job: String) -> [String] { (active[job] ?? []).map(\.runID) }

    /// Runs in progress on this node, of every job.
    var runningCount: Int { active.values.reduce(0) { $0 + $1.count } }

    /// From now on no run makes another attempt (retries); runs in progress go on.
    func beginShutdown() {
        shuttingDown = true
        supervisor.cancelWaitingStarts()
    }

    /// Starts waiting for their instant give up, from any thread at once (a SIGTERM does not wait
    /// for the loop to begin the shutdown): see ``ProcessSupervisor/cancelWaitingStarts()``.
    nonisolated func cancelWaitingStarts() {
        supervisor.cancelWaitingStarts()
    }

    /// Terminates every run (SIGTERM to each process group, SIGKILL after its job's kill grace),
    /// stops retries, and waits until all have ended.
    func terminateAll() async {
        let runs = active.values.flatMap { $0 }
        for run in runs {
            let process = run.state.withLock { state -> RunningProcess? in
                state.stopped = true
                return state.process
            }
            process?.terminate(grace: run.killGrace)
        }
        for run in runs { await run.done.value }
    }

    // MARK: - Preparing a launch

    struct RefusedRun: Error, Sendable {
        let reason: String
    }

    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The launch request for an attempt: environment, identity, working directory and whether the
    /// command runs directly or through the shell.
    func prepare(
        _ job: JobDefinition,
        scheduledAt: Int64,
        runID: String,
        attempt: Int,
        trigger: RunTrigger = .schedule,
        forceShell: Bool
    ) throws(RefusedRun) -> (request: LaunchRequest, mode: String) {
        let effectiveUID = geteuid()
        let account: UserAccount
        var identity: ProcessIdentity?
        if let userName = job.user {
            guard let found = Accounts.user(userName) else {
                throw RefusedRun(reason: "user \"\(userName)\" does not exist on this host")
            }
            account = found
        } else {
            account =
                Accounts.user(String(effectiveUID))
                ?? UserAccount(
                    name: String(effectiveUID),
                    uid: effectiveUID,
                    gid: getegid(),
                    home: "/",
                    shell: "/bin/sh"
                )
        }
        var groupID = account.gid
        if let groupName = job.group {
            guard let found = Accounts.groupID(groupName) else {
                throw RefusedRun(reason: "group \"\(groupName)\" does not exist on this host")
            }
            groupID = found
        }
        if job.user != nil || job.group != nil {
            if effectiveUID == 0 {
                identity = ProcessIdentity(
                    uid: account.uid,
                    gid: groupID,
                    supplementaryGroups: Accounts.groups(of: account.name, primary: groupID)
                )
            } else if account.uid != effectiveUID || groupID != getegid() {
                throw RefusedRun(
                    reason:
                        "cannot run as user \"\(account.name)\" (group \(groupID)): dcrond runs as uid \(effectiveUID), not root"
                )
            }
        }

        var variables: [(String, String)] = [
            ("HOME", account.home), ("USER", account.name), ("LOGNAME", account.name), ("SHELL", "/bin/sh"),
            ("PATH", Self.defaultPath),
        ]
        for (name, value) in job.environment.sorted(by: { $0.key < $1.key }) {
            variables.removeAll { $0.0 == name }
            variables.append((name, value))
        }
        variables += [
            ("DCRON_JOB", job.name), ("DCRON_SCHEDULED_AT", String(scheduledAt)), ("DCRON_RUN_ID", runID),
            ("DCRON_NODE", settings.node), ("DCRON_CLUSTER", settings.cluster), ("DCRON_ATTEMPT", String(attempt)),
            (
                "DCRON_IDEMPOTENCY_KEY",
                trigger == .manual ? "\(job.name)@manual-\(runID)" : "\(job.name)@\(scheduledAt)"
            ),
            ("DCRON_TRIGGER", trigger.rawValue),
        ]
        let environment = variables.map { "\($0.0)=\($0.1)" }
        let path = variables.last { $0.0 == "PATH" }?.1 ?? Self.defaultPath

        // Cron's default working directory is the home directory; one that does not exist
        // (nobody's /nonexistent) falls back to /, while an explicit one must exist.
        let workingDirectory = job.workingDirectory ?? (isDirectory(account.home) ? account.home : "/")

        var executable = "/bin/sh"
        var arguments = ["sh", "-c", job.command]
        var mode = "shell"
        // Direct execution only as the daemon's own user: the permission check below is the daemon's.
        if !forceShell, identity == nil, let words = CommandAnalysis.directWords(job.command),
            let resolved = CommandAnalysis.resolve(
                words[0],
                path: path,
                isExecutable: { candidate in
                    let absolute = candidate.hasPrefix("/") ? candidate : workingDirectory + "/" + candidate
                    return access(absolute, X_OK) == 0 && !isDirectory(absolute)
                }
            )
        {
            executable = resolved
            arguments = words
            mode = "direct"
        }
        let request = LaunchRequest(
            executable: executable,
            arguments: arguments,
            environment: environment,
            workingDirectory: workingDirectory,
            identity: identity,
            timeout: job.timeout,
            killGrace: job.killGrace,
            umask: job.umask
        )
        return (request, mode)
    }
}

private func isDirectory(_ path: String) -> Bool {
    var information = stat()
    return stat(path, &information) == 0 && (information.st_mode & S_IFMT) == S_IFDIR
}
