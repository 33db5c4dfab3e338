import ArgumentParser
import DcrondCore

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
    var config = Commands.defaultConfigPath

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
        if let problem = Commands.durationProblem(timeout) { throw ValidationError("--timeout: \(problem)") }
    }

    func run() async throws {
        try await Commands.trigger(config: config, job: job, force: force, wait: wait, timeout: timeout, json: json)
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
    var config = Commands.defaultConfigPath

    @Argument(help: "The jobs to pause.")
    var jobs: [String]

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws { try await Commands.setPaused(true, jobs: jobs, config: config, json: json) }
}

struct UnpauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpause",
        abstract: "Unpause jobs: their next instant runs; the instants of the pause are not replayed."
    )

    @Option(help: "The daemon configuration.")
    var config = Commands.defaultConfigPath

    @Argument(help: "The jobs to unpause.")
    var jobs: [String]

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws { try await Commands.setPaused(false, jobs: jobs, config: config, json: json) }
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
    var config = Commands.defaultConfigPath

    @Argument(help: "The job.")
    var job: String

    @Option(help: "Only this run (its ID, from `history` or the journal).")
    var run: String?

    @Option(help: "The first signal: a name (TERM, INT, HUP, ...) or a number.")
    var signal = "TERM"

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard Commands.signalNumber(signal) != nil else {
            throw ValidationError("--signal \(signal): not a signal name or number")
        }
    }

    func run() async throws {
        try await Commands.kill(config: config, job: job, run: run, signal: signal, json: json)
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
    var config = Commands.defaultConfigPath

    @Argument(help: "The job.")
    var job: String

    @Option(help: "How many records (1 to 100).")
    var limit = 20

    @Flag(help: "Leave out the output lines.")
    var noOutput = false

    @Flag(help: "Print JSON (one array of records).")
    var json = false

    func validate() throws {
        guard (1...Commands.historyLimit).contains(limit) else {
            throw ValidationError("--limit must be from 1 to \(Commands.historyLimit)")
        }
    }

    func run() async throws {
        try await Commands.history(config: config, job: job, limit: limit, noOutput: noOutput, json: json)
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
    var config = Commands.defaultConfigPath

    @Argument(help: "The job.")
    var job: String

    @Option(help: "The instant: Unix seconds, or ISO 8601 with an offset (2026-12-01T02:30:00+01:00).")
    var at: String?

    @Option(help: "How many following instants to show (0 to 20).")
    var next = 3

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if let at, !Commands.isInstant(at) {
            throw ValidationError(
                "--at \(at): give Unix seconds or an ISO 8601 time with its offset, as 2026-12-01T02:30:00+01:00"
            )
        }
        guard (0...20).contains(next) else { throw ValidationError("--next must be from 0 to 20") }
    }

    func run() async throws {
        try await Commands.explain(config: config, job: job, at: at, next: next, json: json)
    }
}
