/// What started a run.
package enum RunTrigger: String, Sendable, Hashable, CaseIterable {
    /// Its instant came, and this node owned the job.
    case schedule
    /// A missed instant, run late by the job's `catchUp` policy (a new owner, a node back from
    /// fencing, a loop held up).
    case catchUp
    /// `dcrond trigger`.
    case manual
}

enum RunOutcome: Sendable, Hashable {
    case succeeded
    /// Every attempt failed (non-zero exit, signal, timeout or spawn failure).
    case failed
    /// Not started, on purpose: the reason says which rule.
    case skipped(String)
    /// No node claimed or skipped the instant within the missed-run grace (the alarm).
    case missed(String)
    /// Not this node's to run: the claim went elsewhere, the node stopped before it was claimed (or
    /// gave the claim back), or its starting deadline passed while Redis did not answer (logged).
    /// Nothing to record here.
    case notClaimed

    /// `succeeded`, `failed`, `skipped`, `missed`, `notClaimed`: the stored word.
    var word: String {
        switch self {
        case .succeeded: "succeeded"
        case .failed: "failed"
        case .skipped: "skipped"
        case .missed: "missed"
        case .notClaimed: "notClaimed"
        }
    }

    var reason: String? {
        switch self {
        case .skipped(let reason), .missed(let reason): reason
        default: nil
        }
    }
}

/// The rule that kept an instant from running: what `dcrond explain` names, and what the
/// `dcrond_skipped_total` metric counts by (`reason` label).
package enum SkipRule: String, Sendable, Hashable, CaseIterable {
    /// `enabled: false` in the jobs file: no instant is planned.
    case disabled
    /// `dcrond pause`.
    case paused
    /// `overlap: forbid` with a run going (or `replace` whose run did not stop).
    case overlap
    /// The job's `catchUp` policy left out a missed instant.
    case catchUp
    /// Older than the job's `startingDeadline` by the time it could start.
    case startingDeadline
    /// A wall-clock time the DST change skipped or repeated, left out by the job's `dst` policy.
    case dst
    /// Waited for a free slot (`maxConcurrentRuns`) past its starting deadline.
    case concurrency
    /// Could not be claimed in Redis (or its lease taken) before its starting deadline.
    case claimFailed
    /// Redis went back in time: whether the instant ran is unknown, so it is not run again.
    case unknownHistory
    /// The node could not run it (its user or group does not exist, ...).
    case refused
    /// The node was stopping.
    case stopping
    /// Missed: no node was in the pool.
    case noActiveNode
    /// Missed: every node of the pool was draining.
    case draining
    /// Missed: its owner had stopped heartbeating (fenced, partitioned, stopped) and was not yet replaced.
    case fenced
    /// Missed: the owner did not claim it (fenced, stuck or dead, and not yet replaced).
    case ownerDidNotClaim
    /// Missed: claimed by a node whose process stopped (crashed, was killed) before recording the
    /// start: not started, unless the stop came between the exec and its record.
    case claimerStopped
    /// Missed: claimed by a node that then did not start it (it was stopping, or the job was paused)
    /// and could not give the claim back (a later instant was claimed meanwhile, or Redis failed).
    case notGivenBack
}

/// One line of a run's output as kept in its record.
struct OutputTailLine: Sendable, Hashable {
    let stream: OutputLine.Stream
    let text: String

    init(stream: OutputLine.Stream, text: String) {
        self.stream = stream
        self.text = text
    }
}

/// The last lines of a run's output, bounded in lines and bytes, so that the output of a run on
/// any node can be read from any node (`dcrond history`) without growing Redis with chatty jobs.
struct OutputTail: Sendable {
    static let maximumLines = 20
    static let maximumBytes = 4096

    private(set) var lines: [OutputTailLine] = []
    private var bytes = 0
    /// Lines dropped from the front to stay within the bounds.
    private(set) var dropped = 0

    init() {}

    mutating func append(_ line: OutputLine) {
        // A single line longer than the whole budget keeps its end, which usually says most.
        var text = line.text
        if text.utf8.count > Self.maximumBytes {
            text = "…" + String(decoding: text.utf8.suffix(Self.maximumBytes - 4), as: UTF8.self)
        }
        lines.append(OutputTailLine(stream: line.stream, text: text))
        bytes += text.utf8.count
        while lines.count > Self.maximumLines || bytes > Self.maximumBytes {
            bytes -= lines.removeFirst().text.utf8.count
            dropped += 1
        }
    }
}

/// What happened to one instant of a job, as kept in the job's history in Redis (`runs:<job>`):
/// a run on some node, or an instant that was skipped or missed, with why. One format, encoded
/// and decoded here only.
package struct RunRecord: Sendable, Hashable {
    let job: String
    let runID: String
    /// Unix seconds of the nominal instant (for a manual run: when it was asked for).
    let scheduledAt: Int64
    let node: String
    var attempts: [AttemptRecord]
    var outcome: RunOutcome
    var trigger: RunTrigger = .schedule
    /// The end of the run's output (``OutputTail``), and how many earlier lines were left out.
    var output: [OutputTailLine] = []
    var outputDropped = 0
    /// Who ended the run before its end: `operator` (`dcrond kill`) or nil.
    var killedBy: String?
    /// A record of several skipped or missed instants: the last of them (`scheduledAt` is the
    /// first) and how many.
    var through: Int64?
    var count = 1
    /// Of a skipped or missed record: the rule.
    var rule: SkipRule?
    /// Unix milliseconds when the record was written.
    var recordedAt: Int64 = realtimeNanoseconds() / 1_000_000

    init(
        job: String,
        runID: String,
        scheduledAt: Int64,
        node: String,
        attempts: [AttemptRecord],
        outcome: RunOutcome,
        trigger: RunTrigger = .schedule
    ) {
        self.job = job
        self.runID = runID
        self.scheduledAt = scheduledAt
        self.node = node
        self.attempts = attempts
        self.outcome = outcome
        self.trigger = trigger
    }

    /// A record of skipped (or missed) instants, first to last, that no run covers.
    static func instants(
        _ instants: [Int64],
        of job: String,
        node: String,
        outcome: RunOutcome,
        rule: SkipRule
    ) -> RunRecord {
        var record = RunRecord(
            job: job,
            runID: "",
            scheduledAt: instants.first ?? 0,
            node: node,
            attempts: [],
            outcome: outcome
        )
        record.rule = rule
        if instants.count > 1 {
            record.through = instants.last
            record.count = instants.count
        }
        return record
    }

    /// Milliseconds from the instant to the start of the first attempt's process.
    var startLatenessMilliseconds: Int64? {
        guard trigger != .manual, let first = attempts.first, first.pid != nil else { return nil }
        return first.startedAt - scheduledAt * 1000
    }

    /// `exit 0`, `signal 9`, `error: …`, or the outcome's word: the result in a few words.
    var resultText: String {
        guard let last = attempts.last else { return outcome.word }
        var text: String
        switch last.termination {
        case .exited(let status)?: text = "exit \(status)"
        case .signaled(let signal)?: text = "signal \(signal) (\(signalName(signal)))"
        case nil: text = "error: \(last.error ?? "did not start")"
        }
        if last.timedOut { text += ", timed out" }
        if let killedBy { text += ", killed by \(killedBy)" }
        return text
    }
}

// MARK: - The stored form

extension RunRecord {
    /// The record as stored in Redis and printed by `status --json` and `history --json`.
    var json: JSONValue {
        func optional(_ value: Int64?) -> JSONValue { value.map { .integer($0) } ?? .null }
        let last = attempts.last
        let result: JSONValue
        switch last?.termination {
        case .exited(let status)?: result = .object(["exit": .integer(Int64(status))])
        case .signaled(let signal)?: result = .object(["signal": .integer(Int64(signal))])
        case nil: result = last?.error.map { .object(["error": .string($0)]) } ?? .null
        }
        return .object([
            "job": .string(job), "runId": .string(runID), "scheduledAt": .integer(scheduledAt),
            "through": optional(through),
            "count": .integer(Int64(count)), "node": .string(node), "trigger": .string(trigger.rawValue),
            "outcome": .string(outcome.word), "reason": outcome.reason.map { .string($0) } ?? .null,
            "rule": rule.map { .string($0.rawValue) } ?? .null,
            "attempts": .integer(Int64(attempts.count)),
            "startedAt": optional(attempts.first?.startedAt), "endedAt": optional(last?.endedAt),
            "startLatenessMs": optional(startLatenessMilliseconds),
            "result": result, "timedOut": .bool(last?.timedOut ?? false),
            "killedBy": killedBy.map { .string($0) } ?? .null,
            "attemptDetails": .array(attempts.map(\.json)),
            "output": .array(
                output.map { .object(["stream": .string($0.stream.rawValue), "text": .string($0.text)]) }
            ),
            "outputDropped": .integer(Int64(outputDropped)),
            "recordedAt": .integer(recordedAt),
        ])
    }

    /// Reads a stored record; nil for something that is not one (written by a newer or broken
    /// writer: history shows what it can read).
    init?(json value: JSONValue) {
        guard let job = value["job"]?.stringValue, let scheduledAt = value["scheduledAt"]?.int64Value,
            let node = value["node"]?.stringValue, let word = value["outcome"]?.stringValue
        else { return nil }
        let reason = value["reason"]?.stringValue ?? ""
        let outcome: RunOutcome
        switch word {
        case "succeeded": outcome = .succeeded
        case "failed": outcome = .failed
        case "skipped": outcome = .skipped(reason)
        case "missed": outcome = .missed(reason)
        default: return nil
        }
        let attempts = value["attemptDetails"]?.arrayValue?.compactMap(AttemptRecord.init(json:)) ?? []
        self.init(
            job: job,
            runID: value["runId"]?.stringValue ?? "",
            scheduledAt: scheduledAt,
            node: node,
            attempts: attempts,
            outcome: outcome,
            trigger: value["trigger"]?.stringValue.flatMap(RunTrigger.init(rawValue:)) ?? .schedule
        )
        output =
            value["output"]?.arrayValue?.compactMap { line in
                guard let text = line["text"]?.stringValue,
                    let stream = line["stream"]?.stringValue.flatMap(OutputLine.Stream.init(rawValue:))
                else { return nil }
                return OutputTailLine(stream: stream, text: text)
            } ?? []
        outputDropped = Int(value["outputDropped"]?.int64Value ?? 0)
        killedBy = value["killedBy"]?.stringValue
        through = value["through"]?.int64Value
        count = Int(value["count"]?.int64Value ?? 1)
        rule = value["rule"]?.stringValue.flatMap(SkipRule.init(rawValue:))
        recordedAt = value["recordedAt"]?.int64Value ?? 0
    }

    init?(serialized text: String) {
        guard let value = try? JSONParser.parse(Array(text.utf8)) else { return nil }
        self.init(json: value)
    }
}

extension AttemptRecord {
    var json: JSONValue {
        func optional(_ value: Int64?) -> JSONValue { value.map { .integer($0) } ?? .null }
        var exit: Int64?
        var signal: Int64?
        switch termination {
        case .exited(let status)?: exit = Int64(status)
        case .signaled(let number)?: signal = Int64(number)
        case nil: break
        }
        return .object([
            "attempt": .integer(Int64(attempt)), "pid": optional(pid.map(Int64.init)), "startedAt": .integer(startedAt),
            "endedAt": .integer(endedAt), "exit": optional(exit), "signal": optional(signal),
            "timedOut": .bool(timedOut),
            "terminated": .bool(terminated), "error": error.map { .string($0) } ?? .null,
        ])
    }

    init?(json value: JSONValue) {
        guard let attempt = value["attempt"]?.int64Value, let startedAt = value["startedAt"]?.int64Value,
            let endedAt = value["endedAt"]?.int64Value
        else { return nil }
        let termination: ProcessTermination? =
            if let exit = value["exit"]?.int64Value {
                .exited(Int32(truncatingIfNeeded: exit))
            } else if let signal = value["signal"]?.int64Value {
                .signaled(Int32(truncatingIfNeeded: signal))
            } else {
                nil
            }
        self.init(
            attempt: Int(attempt),
            pid: value["pid"]?.int64Value.map { Int32(truncatingIfNeeded: $0) },
            startedAt: startedAt,
            endedAt: endedAt,
            termination: termination,
            timedOut: value["timedOut"] == .bool(true),
            terminated: value["terminated"] == .bool(true),
            error: value["error"]?.stringValue
        )
    }
}

extension JSONValue {
    /// The value of the last member named `key` of an object.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    var stringValue: String? { if case .string(let text) = self { text } else { nil } }

    var int64Value: Int64? { if case .number(_, let text) = self { Int64(text) } else { nil } }

    var arrayValue: [JSONValue]? { if case .array(let elements) = self { elements } else { nil } }
}
