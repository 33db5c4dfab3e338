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
    var name: String
    var schedule: Schedule
    /// Run by `/bin/sh -c`.
    var command: String
    var timeZone: TimeZoneRules
    /// Terminate the run after this long; nil: no limit.
    var timeout: Duration?
    /// Between SIGTERM and SIGKILL when a run is terminated.
    var killGrace: Duration
    var environment: [String: String]
    var workingDirectory: String?
    var user: String?
    var group: String?
    var overlap: OverlapPolicy
    var catchUp: CatchUpPolicy
    /// A run that cannot start within this long after its instant is skipped (logged and counted).
    var startingDeadline: Duration
    var retries: Int
    var enabled: Bool
    var description: String?
    var dstPolicy: DSTPolicy
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
        // Appended in place: at 100,000 jobs an array of pairs joined per job was a sixth of the start.
        var text = ""
        text.reserveCapacity(200 + command.utf8.count)
        func field(_ key: String, _ value: String) {
            if !text.isEmpty { text.append("\u{1F}") }
            text.append(key)
            text.append("=")
            text.append(escaped(value))
        }
        field("name", name)
        field("schedule", schedule.text)
        field("command", command)
        field("timezone", timeZone.identifier + "@" + timeZone.rulesDigest)
        field("timeout", timeout.map(formatDuration) ?? "none")
        field("killGrace", formatDuration(killGrace))
        field("workingDirectory", workingDirectory ?? "")
        field("user", user ?? "")
        field("group", group ?? "")
        field("overlap", overlap.rawValue)
        field("catchUp", catchUp.rawValue)
        field("startingDeadline", formatDuration(startingDeadline))
        field("retries", String(retries))
        field("enabled", enabled ? "true" : "false")
        field("dstGap", dstPolicy.gap.rawValue)
        field("dstOverlap", dstPolicy.overlap.rawValue)
        // Only a mask other than the default enters the text: tables of earlier versions keep their fingerprint.
        if umask != Self.defaultUmask { field("umask", String(umask, radix: 8)) }
        for key in environment.keys.sorted() { field("environment." + key, environment[key]!) }
        return text
    }
}

private func escaped(_ text: String) -> String {
    // Separators inside values must not make two different tables read alike.
    guard text.utf8.contains(where: { $0 == 0x1F || $0 == UInt8(ascii: "\\") }) else { return text }
    return String(text.flatMap { $0 == "\u{1F}" || $0 == "\\" ? ["\\", $0] : [$0] })
}

/// The job table read from a jobs file: in file order, names unique.
struct JobTable: Sendable, Hashable {
    /// The jobs file, as resolved from the configuration.
    let path: String
    let jobs: [JobDefinition]
    /// Identical on every node whose effective table is identical (16 hex digits of a SHA-1 over
    /// the jobs in name order).
    let fingerprint: String
    private let indexByName: [String: Int]

    /// `parallel`: the canonical texts are made on every core (start-up).
    init(path: String, jobs: [JobDefinition], parallel: Bool = false) {
        self.path = path
        self.jobs = jobs
        self.indexByName = Dictionary(jobs.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        // The jobs' canonical texts in name order, joined by newlines, hashed piece by piece: in
        // blocks, whose texts may be made in parallel, so that at most one block's are held.
        var hasher = SHA1()
        var first = true
        // Indices sorted, not the definitions: copying 100,000 of them cost more than the sort.
        let order = jobs.indices.sorted(by: { jobs[$0].name < jobs[$1].name })
        let block = 8192
        for blockStart in stride(from: 0, to: order.count, by: block) {
            let positions = blockStart..<min(order.count, blockStart + block)
            let chunks =
                parallel ? ParallelChunks.ranges(of: positions.count, minimumPerChunk: 1024) : [0..<positions.count]
            let texts = ParallelChunks.map(chunks) { chunk in
                chunk.map { jobs[order[positions.lowerBound + $0]].canonicalText }
            }
            for chunk in texts {
                for var text in chunk {
                    if !first { hasher.update(CollectionOfOne(UInt8(ascii: "\n"))) }
                    first = false
                    text.withUTF8 { hasher.update($0) }
                }
            }
        }
        fingerprint = String(hasher.finalize().prefix(16))
    }

    func job(named name: String) -> JobDefinition? {
        indexByName[name].map { jobs[$0] }
    }
}
