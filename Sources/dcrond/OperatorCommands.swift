import ArgumentParser
import DcrondCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The configuration, the job named on the command line, and a connection to the pool's Redis:
/// what `trigger`, `pause`, `unpause`, `kill` and `history` share.
struct ClusterContext {
    let loaded: LoadedConfiguration
    let redis: RedisClient
    let keys: ClusterKeys

    /// `what` names the command for the standalone message ("a manual run", ...).
    init(config: String, what: String) throws {
        loaded = try loadConfiguration(config, trust: .unchecked)
        guard let endpoint = loaded.daemon.redis else {
            throw CommandFailure(
                status: 1,
                messages: [
                    "\(config): no \"redis\": standalone mode keeps no shared state, so \(what) cannot reach the daemon; configure \"redis\" to use it"
                ]
            )
        }
        var options = RedisConnectionOptions()
        options.connectTimeout = .seconds(2)
        options.clientName = "dcrond-cli"
        redis = RedisClient(
            endpoint: endpoint,
            options: options,
            logger: Logger(label: "dcrond.cli", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        keys = ClusterKeys(cluster: loaded.daemon.cluster)
    }

    /// The job, or an error naming the jobs file.
    func job(_ name: String) throws -> JobDefinition {
        guard let job = loaded.table.job(named: name) else {
            throw CommandFailure(status: 1, messages: ["no job named \"\(name)\" in \(loaded.table.path)"])
        }
        return job
    }

    /// Wraps a Redis failure into the command's error.
    func reaching<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(status: 1, messages: ["cannot reach Redis: \(describeRedisError(error))"])
        }
    }

    /// `operator@host`: who asked, as recorded.
    static var who: String {
        let name = Accounts.user(String(geteuid()))?.name ?? String(geteuid())
        let sudo = getenv("SUDO_USER").map { String(cString: $0) }
        return "\(sudo.map { "\($0) (as \(name))" } ?? name)@\(Accounts.hostName())"
    }
}

/// A Redis error in words an operator can act on (a missing password named as such).
func describeRedisError(_ error: any Error) -> String {
    let text = "\(error)"
    if text.contains("NOAUTH") || text.contains("WRONGPASS") || text.contains("invalid password") {
        return
            "\(text) (Redis wants a password: set \"redisPasswordFile\" in the daemon configuration, or fix the one it names)"
    }
    return text
}

private func sleep(milliseconds: Int) async { try? await Task.sleep(for: .milliseconds(milliseconds)) }

struct TriggerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trigger",
        abstract: "Run a job once now, on its owner, as a manual run.",
        discussion: """
            The run is claimed like a scheduled one: at most once, even if the command is repeated or two operators \
            race (a trigger while one of the job is pending or running joins it). It honours the job's overlap policy \
            unless --force. The run gets DCRON_TRIGGER=manual and is recorded as manual. Waits for the run to start \
            (with --wait, to end: then the exit status says whether it succeeded).
            """
    )

    @Option(help: "The daemon configuration.")
    var config = DaemonConfiguration.defaultPath

    @Argument(help: "The job to run.")
    var job: String

    @Flag(help: "Run even if the overlap policy (forbid, replace) would refuse or stop another run.")
    var force = false

    @Flag(help: "Wait for the run to end; exit 0 only if it succeeded.")
    var wait = false

    @Option(help: "How long to wait for the run to start (and with --wait, to end).")
    var timeout = "60s"

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        do { _ = try parseDuration(timeout) } catch { throw ValidationError("--timeout: \(error)") }
    }

    func run() async throws {
        let context = try ClusterContext(config: config, what: "a manual run")
        _ = try context.job(job)
        let limit = ContinuousClock.now + (try parseDuration(timeout))
        let (_, nodes) = try await context.reaching {
            try await ClusterStatus.readNodes(redis: context.redis, cluster: context.keys.cluster)
        }
        let placement = ClusterStatus.placement(of: nodes, virtualNodes: context.loaded.daemon.virtualNodes)
        guard let owner = placement.owner(of: job) else {
            throw CommandFailure(
                status: 1,
                messages: [
                    "no active node in cluster \(context.keys.cluster) (\(nodes.count) draining or none): the run cannot start; `dcrond status` shows the pool"
                ]
            )
        }
        let request = JobRunner.newRunID()
        // A run that ends before this command looks again leaves only its record: told apart from
        // older manual runs by its run ID.
        let before = try await lastManual(context)?.runID
        let (isNew, entry) = try await context.reaching {
            try await OperatorRequests.requestTrigger(
                context.redis,
                keys: context.keys,
                job: job,
                request: request,
                force: force,
                who: ClusterContext.who
            )
        }
        if !isNew, let entry, !json {
            print("joining the manual run of \(job) that \(entry.who) asked for (\(entry.state.rawValue))")
        }
        let requestID = entry?.request ?? request
        var runID: String?
        var node: String?
        waiting: while ContinuousClock.now < limit {
            let current = try await context.reaching {
                try await OperatorRequests.trigger(context.redis, keys: context.keys, job: job)
            }
            guard let current, current.request == requestID else { break }  // ended already
            switch current.state {
            case .refused:
                throw CommandFailure(
                    status: 1,
                    messages: [
                        "the manual run of \(job) was refused on node \(current.node ?? owner): \(current.reason ?? "no reason given")"
                    ]
                )
            case .started:
                (runID, node) = (current.runID, current.node)
                break waiting
            case .claimed, .pending:
                (runID, node) = (current.runID ?? runID, current.node ?? node)
            }
            await sleep(milliseconds: 50)
        }
        if runID == nil, let record = try await lastManual(context), record.runID != before {
            (runID, node) = (record.runID, record.node)
        }
        guard let runID, let node else {
            throw CommandFailure(
                status: 1,
                messages: [
                    "no node started the manual run of \(job) within \(timeout) (its owner is \(owner)); see `dcrond status` and the owner's journal"
                ]
            )
        }
        if !wait {
            if json {
                print(
                    JSONValue.object([
                        "job": .string(job), "runId": .string(runID), "node": .string(node),
                        "state": .string("started"),
                    ]).serialized
                )
            } else {
                print("started run \(runID) of \(job) on node \(node)")
            }
            return
        }
        if !json { print("started run \(runID) of \(job) on node \(node); waiting for it to end") }
        while ContinuousClock.now < limit {
            if let record = try await lastManual(context), record.runID == runID {
                if json {
                    print(record.json.serialized)
                } else {
                    print("run \(runID) \(record.outcome.word): \(record.resultText)")
                }
                if record.outcome != .succeeded { throw CommandFailure(status: 1, messages: []) }
                return
            }
            await sleep(milliseconds: 100)
        }
        throw CommandFailure(
            status: 1,
            messages: ["run \(runID) of \(job) on node \(node) had not ended after \(timeout)"]
        )
    }

    private func lastManual(_ context: ClusterContext) async throws -> RunRecord? {
        try await context.reaching {
            try await context.redis.send(RedisCommand("HGET", context.keys.lastManual, job)).string.flatMap(
                RunRecord.init(serialized:)
            )
        }
    }
}

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause jobs cluster-wide: their instants are skipped (recorded as paused) until unpaused.",
        discussion: """
            Immediate (the claim of every instant checks it), survives restarts and reloads (it lives in Redis), and is \
            distinct from "enabled": false in the jobs file. Runs in progress go on (`dcrond kill` ends them).
            """
    )

    @Option(help: "The daemon configuration.")
    var config = DaemonConfiguration.defaultPath

    @Argument(help: "The jobs to pause.")
    var jobs: [String]

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws { try await setPaused(true, jobs: jobs, config: config, json: json) }
}

struct UnpauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpause",
        abstract: "Unpause jobs: their next instant runs; the instants of the pause are not replayed."
    )

    @Option(help: "The daemon configuration.")
    var config = DaemonConfiguration.defaultPath

    @Argument(help: "The jobs to unpause.")
    var jobs: [String]

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws { try await setPaused(false, jobs: jobs, config: config, json: json) }
}

private func setPaused(_ pause: Bool, jobs: [String], config: String, json: Bool) async throws {
    let context = try ClusterContext(config: config, what: pause ? "a pause" : "an unpause")
    for job in jobs { _ = try context.job(job) }
    var results: [JSONValue] = []
    for job in jobs {
        let changed = try await context.reaching {
            pause
                ? try await OperatorRequests.pause(context.redis, keys: context.keys, job: job, who: ClusterContext.who)
                : try await OperatorRequests.unpause(
                    context.redis,
                    keys: context.keys,
                    job: job,
                    who: ClusterContext.who
                )
        }
        results.append(.object(["job": .string(job), "paused": .bool(pause), "changed": .bool(changed)]))
        if !json {
            switch (pause, changed) {
            case (true, true): print("paused \(job)")
            case (true, false): print("\(job) was already paused")
            case (false, true): print("unpaused \(job): its next instant runs; none of the pause is replayed")
            case (false, false): print("\(job) was not paused")
            }
        }
    }
    if json { print(JSONValue.array(results).serialized) }
}

struct KillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "End a job's running run wherever it runs.",
        discussion: """
            Sends the signal (default SIGTERM) to the run's process group on its node, then SIGKILL after the job's \
            killGrace; no retry follows. The run is recorded as killed by an operator. Exits non-zero if no run was reached.
            """
    )

    @Option(help: "The daemon configuration.")
    var config = DaemonConfiguration.defaultPath

    @Argument(help: "The job.")
    var job: String

    @Option(help: "Only this run (its ID, from `history` or the journal).")
    var run: String?

    @Option(help: "The first signal: a name (TERM, INT, HUP, ...) or a number.")
    var signal = "TERM"

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard Self.signalNumber(signal) != nil else {
            throw ValidationError("--signal \(signal): not a signal name or number")
        }
    }

    static func signalNumber(_ text: String) -> Int32? {
        if let number = Int32(text), number > 0, number < 65 { return number }
        let name = text.uppercased().hasPrefix("SIG") ? String(text.uppercased().dropFirst(3)) : text.uppercased()
        let known: [String: Int32] = [
            "TERM": SIGTERM, "INT": SIGINT, "HUP": SIGHUP, "KILL": SIGKILL, "QUIT": SIGQUIT,
            "USR1": SIGUSR1, "USR2": SIGUSR2, "ABRT": SIGABRT, "ALRM": SIGALRM,
        ]
        return known[name]
    }

    func run() async throws {
        let context = try ClusterContext(config: config, what: "a kill")
        let definition = try context.job(job)
        let kill = OperatorRequests.Kill(
            request: JobRunner.newRunID(),
            signal: Self.signalNumber(signal)!,
            runID: run,
            job: job
        )
        let (_, nodes) = try await context.reaching {
            try await ClusterStatus.readNodes(redis: context.redis, cluster: context.keys.cluster)
        }
        _ = try await context.reaching {
            try await OperatorRequests.publishKill(context.redis, keys: context.keys, kill)
        }
        // Every live node answers, with the runs it reached or none.
        let limit = ContinuousClock.now + .seconds(3)
        var answers: [String: [String]] = [:]
        while ContinuousClock.now < limit {
            answers = try await context.reaching {
                try await OperatorRequests.killAcknowledgements(
                    context.redis,
                    keys: context.keys,
                    request: kill.request
                )
            }
            if Set(nodes.map(\.id)).isSubset(of: answers.keys) { break }
            await sleep(milliseconds: 50)
        }
        let reached = answers.sorted { $0.key < $1.key }.flatMap { node, runs in runs.map { (node: node, run: $0) } }
        let silent = nodes.map(\.id).filter { answers[$0] == nil }
        if json {
            print(
                JSONValue.object([
                    "job": .string(job), "signal": .string(signalName(kill.signal)),
                    "killed": .array(reached.map { .object(["node": .string($0.node), "runId": .string($0.run)]) }),
                    "unanswered": .array(silent.map { .string($0) }),
                ]).serialized
            )
        } else {
            for entry in reached {
                print(
                    "sent \(signalName(kill.signal)) to run \(entry.run) of \(job) on node \(entry.node) (SIGKILL after \(formatDuration(definition.killGrace)) if it is still there)"
                )
            }
            for node in silent { print("warning: node \(node) did not answer") }
        }
        if reached.isEmpty {
            throw CommandFailure(
                status: 1,
                messages: ["no run of \(job)\(run.map { " with ID \($0)" } ?? "") is running on any node that answered"]
            )
        }
    }
}

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "A job's runs, and its skipped and missed instants with why, newest first.",
        discussion:
            "From the job's history in Redis (the last 100 records), whichever node ran it; with the last lines of each run's output."
    )

    @Option(help: "The daemon configuration.")
    var config = DaemonConfiguration.defaultPath

    @Argument(help: "The job.")
    var job: String

    @Option(help: "How many records (1 to 100).")
    var limit = 20

    @Flag(help: "Leave out the output lines.")
    var noOutput = false

    @Flag(help: "Print JSON (one array of records).")
    var json = false

    func validate() throws {
        guard (1...RedisClaimStore.historyLength).contains(limit) else {
            throw ValidationError("--limit must be from 1 to \(RedisClaimStore.historyLength)")
        }
    }

    func run() async throws {
        let context = try ClusterContext(config: config, what: "the history")
        let definition = try context.job(job)
        let lines = try await context.reaching {
            try await context.redis.send(RedisCommand("LRANGE", context.keys.runs(job), 0, limit - 1)).array?
                .compactMap(\.string) ?? []
        }
        let records = lines.compactMap(RunRecord.init(serialized:))
        if json {
            print(JSONValue.array(records.map(\.json)).serialized)
            return
        }
        if records.isEmpty {
            print("no record of \(job) yet")
            return
        }
        let zone = definition.timeZone
        var rows = [["INSTANT", "TRIGGER", "NODE", "LATE", "DURATION", "RESULT"]]
        var outputs: [[String]] = []
        for record in records {
            var instant = formatInstant(record.scheduledAt, offset: zone.offset(at: record.scheduledAt))
            if let through = record.through {
                instant += " … \(formatInstant(through, offset: zone.offset(at: through))) (\(record.count))"
            }
            let late = record.startLatenessMilliseconds.map { "\($0) ms" } ?? "-"
            let duration =
                record.attempts.first.flatMap { first in
                    record.attempts.last.map { formatDuration(.milliseconds($0.endedAt - first.startedAt)) }
                } ?? "-"
            var result: String
            switch record.outcome {
            case .skipped(let reason): result = "skipped: \(reason)"
            case .missed(let reason): result = "MISSED: \(reason)"
            default: result = "\(record.outcome.word) (\(record.resultText))"
            }
            if record.attempts.count > 1 { result += ", \(record.attempts.count) attempts" }
            // Skipped and missed instants had no run, so no trigger.
            rows.append([
                instant, record.outcome.reason == nil ? record.trigger.rawValue : "-", record.node, late, duration,
                result,
            ])
            outputs.append(
                noOutput
                    ? []
                    : (record.outputDropped > 0 ? ["… \(record.outputDropped) earlier lines"] : [])
                        + record.output.map { "\($0.stream == .stderr ? "!" : "|") \($0.text)" }
            )
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for (index, row) in rows.enumerated() {
            print(
                row.enumerated().map { column, cell in
                    column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
                }.joined(separator: "  ")
            )
            if index > 0 { for line in outputs[index - 1] { print("    \(line)") } }
        }
    }
}

struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Why a job ran or did not run at an instant, and what its next instants will do.",
        discussion: """
            For the instant (default: the latest due one): the node that owns the job and why, whether the instant \
            was claimed and by whom, whether it started, and if not, the rule that stopped it (disabled, paused, \
            overlap, catchUp, startingDeadline, dst, concurrency, claimFailed, unknownHistory, refused, stopping, \
            noActiveNode, draining, fenced, ownerDidNotClaim, \
            claimerStopped, notGivenBack). Then the next instants, with their DST adjustments.
            """
    )

    @Option(help: "The daemon configuration.")
    var config = DaemonConfiguration.defaultPath

    @Argument(help: "The job.")
    var job: String

    @Option(help: "The instant: Unix seconds, or ISO 8601 with an offset (2026-12-01T02:30:00+01:00).")
    var at: String?

    @Option(help: "How many following instants to show (0 to 20).")
    var next = 3

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if let at, Int64(at) == nil, parseInstant(at) == nil {
            throw ValidationError(
                "--at \(at): give Unix seconds or an ISO 8601 time with its offset, as 2026-12-01T02:30:00+01:00"
            )
        }
        guard (0...20).contains(next) else { throw ValidationError("--next must be from 0 to 20") }
    }

    func run() async throws {
        let context = try ClusterContext(config: config, what: "an explanation")
        let definition = try context.job(job)
        let now = currentUnixSeconds()
        var facts = JobExplanation.Facts(job: definition, now: now)
        facts.virtualNodes = context.loaded.daemon.virtualNodes
        facts.nodeTimeout = context.loaded.daemon.nodeTimeout
        facts.missedRunGrace = context.loaded.daemon.missedRunGrace
        let keys = context.keys
        let replies = try await context.reaching {
            try await context.redis.pipeline([
                RedisCommand("LRANGE", keys.runs(job), 0, -1), RedisCommand("HGET", keys.claims, job),
                RedisCommand("HGET", keys.claimedBy, job),
            ]).map { try $0.orThrow() }
        }
        facts.records = replies[0].array?.compactMap { $0.string.flatMap(RunRecord.init(serialized:)) } ?? []
        facts.lastClaimed = replies[1].string.flatMap { Int64($0) }
        facts.claimedBy = replies[2].string
        facts.paused = try await context.reaching { try await OperatorRequests.paused(context.redis, keys: keys)[job] }
        facts.nodes = try await context.reaching {
            try await ClusterStatus.readNodes(redis: context.redis, cluster: keys.cluster).nodes
        }

        let instant: Int64
        if let at {
            instant = Int64(at) ?? parseInstant(at)!
        } else if let latest = JobExplanation.latestDue(definition, now: now) {
            instant = latest
        } else {
            instant = definition.schedule.next(after: now, in: definition.timeZone, policy: definition.dstPolicy) ?? now
        }
        let explained = JobExplanation(instant, facts)
        let following = next == 0 ? [] : JobExplanation.dstAnnotated(definition, after: max(instant, now), count: next)
        let zone = definition.timeZone
        func format(_ value: Int64) -> String { formatInstant(value, offset: zone.offset(at: value)) }
        if json {
            print(
                JSONValue.object([
                    "job": .string(job), "now": .integer(now), "explanation": explained.json,
                    "next": .array(
                        following.map { entry in
                            let upcoming = JobExplanation(entry.instant, facts)
                            return .object([
                                "instant": .integer(entry.instant), "runs": .bool(entry.runs),
                                "dst": entry.note.map { .string($0) } ?? .null,
                                "summary": .string(upcoming.summary),
                            ])
                        }
                    ),
                ]).serialized
            )
            return
        }
        print(
            "\(job) at \(format(instant)) (\(instant)), schedule \"\(definition.schedule.text)\" in \(zone.identifier)"
        )
        if let dst = explained.dst { print("  DST: \(dst)") }
        print("  \(explained.summary)")
        print("  owner now: \(explained.owner ?? "none"): \(explained.ownerReason)")
        if let last = facts.lastClaimed {
            print(
                "  last claimed instant: \(format(last))\(facts.claimedBy.map { " (\($0.split(separator: " ").first ?? ""))" } ?? "")"
            )
        }
        if let paused = facts.paused { print("  paused by \(paused.who)") }
        if !following.isEmpty {
            print("next:")
            for entry in following {
                let upcoming = JobExplanation(entry.instant, facts)
                print(
                    "  \(format(entry.instant))  \(entry.runs ? upcoming.summary : "not run")\(entry.note.map { " — \($0)" } ?? "")"
                )
            }
        }
    }
}
