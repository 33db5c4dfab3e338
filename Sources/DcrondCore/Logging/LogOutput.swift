import CSystemd
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How the daemon's records are written (`dcrond run --log-format`).
package enum LogFormat: String, Sendable, CaseIterable {
    /// The journal's native protocol when standard error is the journal, else `logfmt`.
    case auto
    /// `sd_journal_sendv(3)`: a priority per level and one field per metadata key.
    case journal
    /// One line per record on standard error: a millisecond UTC timestamp, the level, the message
    /// and `key=value` pairs, quoted where needed.
    case logfmt
    /// One JSON object per line on standard error.
    case json
}

/// Where every record of the daemon and every line of its jobs' output goes: one writer, so that a
/// record is one `write(2)` (or one journal entry) and the lines of concurrent runs never interleave.
///
/// The level is shared by every logger and can change while the daemon runs (a reload); job
/// output is written whatever the level.
final class LogOutput: Sendable {
    enum Destination: Sendable { case journal, logfmt, json }

    let destination: Destination
    private let nodeName = Mutex<String?>(nil)
    private let levelIndex: Atomic<Int>
    private let descriptor: Int32
    private let writeLock = Mutex(())

    /// `descriptor` is where `logfmt` and `json` lines go (standard error unless a test says).
    init(format: LogFormat, level: Logger.Level, node: String? = nil, descriptor: Int32 = STDERR_FILENO) {
        nodeName.withLock { $0 = node }
        switch format {
        case .auto: destination = Self.standardErrorIsJournal() ? .journal : .logfmt
        case .journal: destination = .journal
        case .logfmt: destination = .logfmt
        case .json: destination = .json
        }
        self.descriptor = descriptor
        levelIndex = Atomic(Logger.Level.allCases.firstIndex(of: level) ?? 2)
    }

    /// Added to every record as `node` (`DCRON_NODE`), once known (the configuration names it).
    var node: String? {
        get { nodeName.withLock { $0 } }
        set { nodeName.withLock { $0 = newValue } }
    }

    /// The lowest level written; job output is written whatever it is.
    var level: Logger.Level {
        get { Logger.Level.allCases[levelIndex.load(ordering: .relaxed)] }
        set { levelIndex.store(Logger.Level.allCases.firstIndex(of: newValue) ?? 2, ordering: .relaxed) }
    }

    /// Standard error is the journal's stream for this process: `$JOURNAL_STREAM` (`device:inode`,
    /// set by systemd) names the very file descriptor 2 is, not one a parent was given.
    static func standardErrorIsJournal() -> Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// A logger whose records go here.
    func logger(label: String = "dcrond") -> Logger {
        Logger(label: label) { [self] label in LogOutputHandler(output: self, label: label) }
    }

    // MARK: - Records

    /// Writes one record of the daemon.
    func record(
        level: Logger.Level,
        message: String,
        metadata: Logger.Metadata,
        file: String = #fileID,
        function: String = #function,
        line: UInt = #line
    ) {
        var metadata = metadata
        if let node, metadata["node"] == nil { metadata["node"] = .string(node) }
        emit(
            level: level,
            message: message,
            metadata: metadata,
            journalMessage: Self.journalMessage(message, metadata),
            code: [("CODE_FILE", file), ("CODE_LINE", "\(line)"), ("CODE_FUNC", function)]
        )
    }

    /// Writes one line of a job's output: standard output at info, standard error at notice,
    /// tagged with its run.
    func jobOutput(_ context: JobRunner.RunContext, _ line: OutputLine) {
        let text = line.truncated ? line.text + " [line truncated]" : line.text
        var metadata: Logger.Metadata = [
            "job": .string(context.job), "run": .string(context.runID),
            "scheduledAt": .string("\(context.scheduledAt)"),
            "attempt": .string("\(context.attempt)"), "stream": .string(line.stream.rawValue),
        ]
        if let node { metadata["node"] = .string(node) }
        // In the journal the line itself is the message: `journalctl DCRON_RUN_ID=…` reads like the job's terminal.
        emit(
            level: line.stream == .stderr ? .notice : .info,
            message: text,
            metadata: metadata,
            journalMessage: text,
            code: []
        )
    }

    private func emit(
        level: Logger.Level,
        message: String,
        metadata: Logger.Metadata,
        journalMessage: String,
        code: [(String, String)]
    ) {
        switch destination {
        case .journal:
            var fields =
                [("MESSAGE", journalMessage), ("PRIORITY", "\(Self.priority(level))"), ("SYSLOG_IDENTIFIER", "dcrond")]
                + code
            if let event = metadata[LogEvent.key].flatMap({ LogEvent(rawValue: "\($0)") }) {
                fields.append(("MESSAGE_ID", event.messageID))
            }
            for (key, value) in metadata { fields.append((Self.journalField(key), "\(value)")) }
            sendToJournal(fields)
        case .logfmt:
            writeLine(Self.logfmtLine(time: realtimeNanoseconds(), level: level, message: message, metadata: metadata))
        case .json:
            writeLine(Self.jsonLine(time: realtimeNanoseconds(), level: level, message: message, metadata: metadata))
        }
    }

    private func sendToJournal(_ fields: [(String, String)]) {
        let strings = fields.map { "\($0.0)=\($0.1)" }
        // sd_journal_sendv is binary-safe: values may hold newlines.
        var buffers = strings.map { Array($0.utf8) }
        buffers.withUnsafeMutableBufferPointer { all in
            var vectors: [iovec] = []
            vectors.reserveCapacity(all.count)
            for index in all.indices {
                all[index].withUnsafeMutableBytes { bytes in
                    vectors.append(iovec(iov_base: bytes.baseAddress, iov_len: bytes.count))
                }
            }
            // The pointers stay valid: `all` is not resized while `vectors` is in use.
            let status = sd_journal_sendv(vectors, Int32(vectors.count))
            if status < 0 {
                // The journal went away (restarted, or never was): the record still reaches stderr.
                writeLine(strings.first.map { String($0.dropFirst("MESSAGE=".count)) } ?? "")
            }
        }
    }

    private func writeLine(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        writeLock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes {
                    Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    return  // nowhere left to say it
                }
                offset += written
            }
        }
    }

    // MARK: - Formats (pure)

    /// syslog priorities, as journald and `journalctl -p` know them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    private static let namedFields = [
        "job": "DCRON_JOB", "run": "DCRON_RUN_ID", "scheduledAt": "DCRON_SCHEDULED_AT", "node": "DCRON_NODE",
        "attempt": "DCRON_ATTEMPT", "exitStatus": "DCRON_EXIT_STATUS", "signal": "DCRON_SIGNAL",
        "stream": "DCRON_STREAM",
        LogEvent.key: "DCRON_EVENT",
    ]

    /// A metadata key as a journal field: `DCRON_` and the key in upper snake case
    /// (`durationMs` → `DCRON_DURATION_MS`), only letters, digits and `_`, at most 64 bytes.
    static func journalField(_ key: String) -> String {
        if let named = namedFields[key] { return named }
        var name = "DCRON_"
        var previousWasLower = false
        for scalar in key.unicodeScalars {
            switch scalar {
            case "A"..."Z":
                if previousWasLower { name.append("_") }
                name.unicodeScalars.append(scalar)
                previousWasLower = false
            case "a"..."z":
                name.unicodeScalars.append(Unicode.Scalar(scalar.value - 32)!)
                previousWasLower = true
            case "0"..."9":
                name.unicodeScalars.append(scalar)
                previousWasLower = true
            default:
                if !name.hasSuffix("_") { name.append("_") }
                previousWasLower = false
            }
        }
        return String(name.prefix(64))
    }

    /// A daemon record's `MESSAGE`: the message, then its metadata as logfmt (without what is
    /// in every record), so that plain `journalctl -u dcrond` shows the context too.
    static func journalMessage(_ message: String, _ metadata: Logger.Metadata) -> String {
        let shown = metadata.filter { $0.key != "node" && $0.key != LogEvent.key }
        return shown.isEmpty ? message : message + " " + logfmtPairs(shown)
    }

    /// `2026-12-01T02:30:00.004Z info run started job=backup run=… mode="cluster main"`.
    static func logfmtLine(
        time: Int64,
        level: Logger.Level,
        message: String,
        metadata: Logger.Metadata
    ) -> String {
        var line = timestamp(time) + " " + level.rawValue + " " + escapeMessage(message)
        if !metadata.isEmpty { line += " " + logfmtPairs(metadata) }
        return line
    }

    static func logfmtPairs(_ metadata: Logger.Metadata) -> String {
        metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\(logfmtValue("\($0.value)"))" }.joined(separator: " ")
    }

    /// A value bare when it is one plain word, else quoted with `\"`, `\\`, `\n` escaped.
    static func logfmtValue(_ value: String) -> String {
        let plain =
            !value.isEmpty
            && value.unicodeScalars.allSatisfy {
                $0.value > 0x20 && $0.value != 0x7F && $0 != "\"" && $0 != "=" && $0 != "\\"
            }
        return plain ? value : "\"" + escapeQuoted(value) + "\""
    }

    private static func escapeQuoted(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// A message stays readable, but a newline in it cannot forge a second record.
    private static func escapeMessage(_ message: String) -> String {
        message.contains(where: { $0.isNewline }) ? message.replacingNewlines() : message
    }

    /// `{"time":"…","level":"info","message":"…","job":"backup",…}`.
    static func jsonLine(time: Int64, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var members: [(String, JSONValue)] = [
            ("time", .string(timestamp(time))), ("level", .string(level.rawValue)), ("message", .string(message)),
        ]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key })
        where key != "time" && key != "level" && key != "message" {
            members.append((key, .string("\(value)")))
        }
        return JSONValue.object(members.map { JSONMember(key: $0.0, value: $0.1, line: 0) }).serialized
    }

    /// Nanoseconds since the epoch as ISO 8601 UTC with milliseconds: from `clock_gettime`, never
    /// `time()`, which lags it by up to a tick.
    static func timestamp(_ nanoseconds: Int64) -> String {
        var seconds = time_t(nanoseconds / 1_000_000_000)
        let milliseconds = Int((nanoseconds % 1_000_000_000) / 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis =
            milliseconds < 10 ? "00\(milliseconds)" : milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)"
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millis)Z"
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        var out = ""
        for character in self { out += character.isNewline ? "\\n" : String(character) }
        return out
    }
}

/// swift-log's side of ``LogOutput``: the level is the output's, shared by every logger.
struct LogOutputHandler: LogHandler {
    let output: LogOutput
    let label: String
    var metadata: Logger.Metadata = [:]

    init(output: LogOutput, label: String) {
        self.output = output
        self.label = label
    }
    var metadataProvider: Logger.MetadataProvider?

    var logLevel: Logger.Level {
        get { output.level }
        set { output.level = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level,
        message: Logger.Message,
        metadata explicit: Logger.Metadata?,
        source: String,
        file: String,
        function: String,
        line: UInt
    ) {
        var merged = self.metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit { merged.merge(explicit) { $1 } }
        output.record(
            level: level,
            message: message.description,
            metadata: merged,
            file: file,
            function: function,
            line: line
        )
    }
}
