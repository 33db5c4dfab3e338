#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a run does when the previous run of the same job is still going.
package enum OverlapPolicy: String, Sendable, Hashable, CaseIterable {
    /// Start the new run anyway.
    case allow
    /// Skip the new run (logged and counted).
    case forbid
    /// Terminate the running one, then start the new run.
    case replace
}

/// What the owner of a job does with instants missed while nobody ran it.
package enum CatchUpPolicy: String, Sendable, Hashable, CaseIterable {
    /// Skip them (each is logged and counted).
    case none
    /// Run the most recent one.
    case latest
    /// Run each, in order, up to a bound.
    case all
}

/// One job of the table, with every default applied.
package struct JobDefinition: Sendable, Hashable {
    package var name: String
    package var schedule: Schedule
    /// Run by `/bin/sh -c`.
    var command: String
    package var timeZone: TimeZoneRules
    /// Terminate the run after this long; nil: no limit.
    var timeout: Duration?
    /// Between SIGTERM and SIGKILL when a run is terminated.
    package var killGrace: Duration
    var environment: [String: String]
    var workingDirectory: String?
    package var user: String?
    var group: String?
    var overlap: OverlapPolicy
    var catchUp: CatchUpPolicy
    /// A run that cannot start within this long after its instant is skipped (logged and counted).
    var startingDeadline: Duration
    var retries: Int
    package var enabled: Bool
    package var description: String?
    package var dstPolicy: DSTPolicy
    /// The file-creation mask of its processes, as cron sets it (not the daemon's).
    var umask: mode_t

    /// A job with every optional setting at its default (the DST policy: the schedule's).
    package init(
        name: String,
        schedule: Schedule,
        command: String,
        timeZone: TimeZoneRules = .utc,
        timeout: Duration? = nil,
        killGrace: Duration = defaultKillGrace,
        environment: [String: String] = [:],
        workingDirectory: String? = nil,
        user: String? = nil,
        group: String? = nil,
        overlap: OverlapPolicy = defaultOverlap,
        catchUp: CatchUpPolicy = defaultCatchUp,
        startingDeadline: Duration = defaultStartingDeadline,
        retries: Int = 0,
        enabled: Bool = true,
        description: String? = nil,
        dstPolicy: DSTPolicy? = nil,
        umask: mode_t = defaultUmask
    ) {
        self.name = name
        self.schedule = schedule
        self.command = command
        self.timeZone = timeZone
        self.timeout = timeout
        self.killGrace = killGrace
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.group = group
        self.overlap = overlap
        self.catchUp = catchUp
        self.startingDeadline = startingDeadline
        self.retries = retries
        self.enabled = enabled
        self.description = description
        self.dstPolicy = dstPolicy ?? schedule.defaultDSTPolicy
        self.umask = umask
    }

    static let defaultKillGrace: Duration = .seconds(10)
    static let defaultStartingDeadline: Duration = .seconds(3600)
    static let defaultOverlap = OverlapPolicy.allow
    static let defaultCatchUp = CatchUpPolicy.all
    static let defaultUmask: mode_t = 0o022

    /// Every effective setting in a fixed order and form, for the table's fingerprint. The zone is
    /// named with a digest of its rules, so nodes whose tz databases disagree are told apart.
    var canonicalText: String {
        var fields: [(String, String)] = [
            ("name", name), ("schedule", schedule.text), ("command", command),
            ("timezone", "\(timeZone.identifier)@\(timeZone.rulesDigest)"),
            ("timeout", timeout.map(formatDuration) ?? "none"), ("killGrace", formatDuration(killGrace)),
            ("workingDirectory", workingDirectory ?? ""), ("user", user ?? ""), ("group", group ?? ""),
            ("overlap", overlap.rawValue), ("catchUp", catchUp.rawValue),
            ("startingDeadline", formatDuration(startingDeadline)), ("retries", String(retries)),
            ("enabled", String(enabled)), ("dstGap", dstPolicy.gap.rawValue),
            ("dstOverlap", dstPolicy.overlap.rawValue),
        ]
        // Only a mask other than the default enters the text: tables of earlier versions keep their fingerprint.
        if umask != Self.defaultUmask { fields.append(("umask", String(umask, radix: 8))) }
        for key in environment.keys.sorted() { fields.append(("environment." + key, environment[key]!)) }
        return fields.map { "\($0.0)=\(escaped($0.1))" }.joined(separator: "\u{1F}")
    }
}

private func escaped(_ text: String) -> String {
    // Separators inside values must not make two different tables read alike.
    guard text.utf8.contains(where: { $0 == 0x1F || $0 == UInt8(ascii: "\\") }) else { return text }
    return String(text.flatMap { $0 == "\u{1F}" || $0 == "\\" ? ["\\", $0] : [$0] })
}

/// The job table read from a jobs file: in file order, names unique.
package struct JobTable: Sendable, Hashable {
    /// The jobs file, as resolved from the configuration.
    package let path: String
    package let jobs: [JobDefinition]
    /// Identical on every node whose effective table is identical (16 hex digits of a SHA-1 over
    /// the jobs in name order).
    package let fingerprint: String
    private let indexByName: [String: Int]

    init(path: String, jobs: [JobDefinition]) {
        self.path = path
        self.jobs = jobs
        self.indexByName = Dictionary(jobs.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        // The jobs' canonical texts in name order, joined by newlines, hashed piece by piece.
        var hasher = SHA1()
        for (index, job) in jobs.sorted(by: { $0.name < $1.name }).enumerated() {
            var text = index > 0 ? "\n" + job.canonicalText : job.canonicalText
            text.withUTF8 { hasher.update($0) }
        }
        fingerprint = String(hasher.finalize().prefix(16))
    }

    package func job(named name: String) -> JobDefinition? {
        indexByName[name].map { jobs[$0] }
    }
}
