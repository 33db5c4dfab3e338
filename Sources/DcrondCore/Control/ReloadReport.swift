import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The outcome of the daemon's latest reload, kept in its runtime folder (`RuntimeDirectory=` of
/// the unit, `$RUNTIME_DIRECTORY`) so that `dcrond reload` — the unit's `ExecReload=` — can send
/// SIGHUP, wait for this very reload's answer and fail when the new table was rejected: then
/// `systemctl reload` fails too, and the unit's log says why.
///
/// `generation` counts the reloads of the process `pid` (0: none yet, written at start), so an
/// answer is never confused with an earlier one or with a previous process's file.
struct ReloadReport: Sendable, Equatable {
    var pid: Int32
    var generation: Int
    var accepted: Bool
    /// The running table's fingerprint after the reload (the old one when rejected).
    var fingerprint: String
    /// Why the new files were rejected, one problem a line.
    var problems: [String] = []
    /// Settings that changed but take a restart.
    var needsRestart: [String] = []

    init(
        pid: Int32,
        generation: Int,
        accepted: Bool,
        fingerprint: String,
        problems: [String] = [],
        needsRestart: [String] = []
    ) {
        self.pid = pid
        self.generation = generation
        self.accepted = accepted
        self.fingerprint = fingerprint
        self.problems = problems
        self.needsRestart = needsRestart
    }

    /// The file in `directory`.
    static func path(in directory: String) -> String { directory + "/reload.json" }

    /// The runtime folder systemd made for the unit, if any.
    static var runtimeDirectory: String? {
        getenv("RUNTIME_DIRECTORY").map { String(cString: $0) }.flatMap {
            $0.split(separator: ":").first.map(String.init)
        }
    }

    var encoded: String {
        JSONValue.object([
            "pid": .integer(Int64(pid)), "generation": .integer(Int64(generation)), "accepted": .bool(accepted),
            "fingerprint": .string(fingerprint), "problems": .array(problems.map(JSONValue.string)),
            "needsRestart": .array(needsRestart.map(JSONValue.string)),
        ]).serialized
    }

    init?(decoding text: [UInt8]) {
        guard let value = try? JSONParser.parse(text), let pid = value["pid"]?.int64Value,
            let generation = value["generation"]?.int64Value,
            case .bool(let accepted)? = value["accepted"], let fingerprint = value["fingerprint"]?.stringValue
        else { return nil }
        self.init(
            pid: Int32(pid),
            generation: Int(generation),
            accepted: accepted,
            fingerprint: fingerprint,
            problems: value["problems"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            needsRestart: value["needsRestart"]?.arrayValue?.compactMap(\.stringValue) ?? []
        )
    }

    /// Replaces the file atomically (a reader sees the old report or the new one, never half).
    func write(in directory: String) throws(FileWriteError) {
        let path = Self.path(in: directory)
        let temporary = path + ".tmp"
        let bytes = Array(encoded.utf8)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileWriteError(path: temporary, code: errno) }
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        let code = errno
        close(descriptor)
        guard written == bytes.count else { throw FileWriteError(path: temporary, code: written < 0 ? code : EIO) }
        guard rename(temporary, path) == 0 else { throw FileWriteError(path: path, code: errno) }
    }

    static func read(in directory: String) -> ReloadReport? {
        guard let bytes = try? FileSystem.readFile(path(in: directory), limit: 1 << 20) else { return nil }
        return ReloadReport(decoding: bytes)
    }
}

struct FileWriteError: Error, Sendable, CustomStringConvertible {
    let path: String
    let errno: Errno

    init(path: String, code: Int32) {
        self.path = path
        self.errno = Errno(rawValue: code)
    }

    var description: String { "cannot write \(path): \(errno)" }
}
