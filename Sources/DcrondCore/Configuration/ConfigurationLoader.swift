import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon's own settings (`dcrond.json`), with every default applied.
struct DaemonConfiguration: Sendable, Hashable {
    /// The configuration file, as given.
    var path: String
    /// Nodes with the same cluster name and Redis form one pool; keys live under `dcron:{cluster}:`.
    var cluster: String
    /// This node's stable identity; defaults to the host name.
    var node: String
    /// nil: standalone mode, one node runs every job with local claims.
    var redis: RedisEndpoint?
    /// The jobs file, resolved against the configuration file's folder.
    var jobsPath: String
    /// Default zone of jobs that name none.
    var timeZone: TimeZoneRules
    var heartbeat: Duration
    var nodeTimeout: Duration
    /// Virtual nodes per node of the ring, used only while a node of a version before weights is
    /// in the pool (``Placement``).
    var virtualNodes: Int
    /// This node's share of the jobs against the others' weights (`weight`, 1...1000): a node of
    /// weight 2 owns about twice as many jobs as one of weight 1.
    var weight = 1
    /// Runs in flight at once on this node; more wait in order, up to their starting deadline.
    var maxConcurrentRuns: Int
    /// On SIGTERM, how long running jobs may finish before they are terminated.
    var shutdownGrace: Duration
    /// Replicas that must acknowledge a claim (`WAIT`) before its run starts; 0: none asked.
    var claimReplicas = 0
    /// How long a claim waits for those acknowledgements before the attempt fails closed.
    var claimReplicaTimeout = DaemonConfiguration.defaultClaimReplicaTimeout

    /// An instant that no node claimed or skipped within this long is reported missed (once, by
    /// one node): the missed-run alarm.
    var missedRunGrace = DaemonConfiguration.defaultMissedRunGrace
    /// Where `/metrics`, `/healthz` and `/readyz` are served (`metrics`: "127.0.0.1:9464"); nil: nowhere.
    var metrics: ListenAddress?
    /// The daemon's log level (`logLevel`); nil: `--log-level`, or info. Job output is written
    /// whatever it is.
    var logLevel: Logger.Level?
    /// Reload when either file changes (`reloadOnChange`), as after SIGHUP.
    var reloadOnChange = true
    /// A reload whose reading of the files has not finished within this long (a hung mount, a FIFO
    /// nobody writes) is given up: the running table stays and the next reload reads them afresh.
    var reloadTimeout = DaemonConfiguration.defaultReloadTimeout

    /// A scheduling loop that has not ticked for this long is stuck (`/healthz`, and the pool's
    /// heartbeat, which then hands the node's jobs over): two heartbeats and a second.
    var stuckLoopAfter: Duration { heartbeat * 2 + .seconds(1) }

    static let defaultClaimReplicaTimeout = Duration.milliseconds(500)
    static let defaultMissedRunGrace = Duration.seconds(30)
    static let defaultReloadTimeout = Duration.seconds(30)

    static let defaultPath = "/etc/dcrond/dcrond.json"
}

/// Both files, read and validated together.
package struct LoadedConfiguration: Sendable {
    let daemon: DaemonConfiguration
    let table: JobTable
    /// The owners whose files were accepted: a reload checks the same.
    var trust = FileTrust()
}

/// Reads and validates the daemon configuration and its jobs file. Every problem of both files is
/// reported at once (the jobs file is read even when the configuration has problems, as long as its
/// path can be known); nothing is returned unless there are none, so a bad edit never replaces a
/// good table. Files that someone other than their trusted owners can change are refused
/// (``FileTrust``).
package enum ConfigurationLoader {
    /// `parallel`: read the jobs on every core (at start-up, when nothing else runs yet).
    package static func load(
        configPath: String,
        trust: FileTrust = FileTrust(),
        parallel: Bool = false
    ) throws(ConfigurationErrors) -> LoadedConfiguration {
        let daemonProblems = ProblemCollector(file: configPath)
        let environmentProblems = ProblemCollector(file: "environment")
        var lookups = LookupCache()
        let read = readDaemon(
            path: configPath,
            problems: daemonProblems,
            environment: environmentProblems,
            lookups: &lookups,
            trust: trust
        )
        var problems = environmentProblems.problems + daemonProblems.problems
        var omitted = environmentProblems.omitted + daemonProblems.omitted
        var table: JobTable?
        if let jobsPath = read.jobsPath {
            let jobProblems = ProblemCollector(file: jobsPath)
            if let problem = trust.check(jobsPath, content: .configuration) { jobProblems.report(problem) }
            table = readJobs(
                path: jobsPath,
                defaultZone: read.zone ?? .utc,
                problems: jobProblems,
                lookups: &lookups,
                parallel: parallel
            )
            problems += jobProblems.problems
            omitted += jobProblems.omitted
        }
        guard problems.isEmpty, omitted == 0, let daemon = read.configuration, let table else {
            throw ConfigurationErrors(problems: problems, omitted: omitted)
        }
        return LoadedConfiguration(daemon: daemon, table: table, trust: trust)
    }

    /// Reads a jobs file on its own, with `defaultZone` for jobs that name none.
    static func loadJobs(path: String, defaultZone: TimeZoneRules) throws(ConfigurationErrors) -> JobTable {
        let problems = ProblemCollector(file: path)
        var lookups = LookupCache()
        let table = readJobs(path: path, defaultZone: defaultZone, problems: problems, lookups: &lookups)
        guard problems.count == 0, let table else {
            throw ConfigurationErrors(problems: problems.problems, omitted: problems.omitted)
        }
        return table
    }

    // MARK: - Daemon file

    private static let daemonKeys = [
        "cluster", "node", "redis", "redisPasswordFile", "jobs", "timezone",
        "heartbeat", "nodeTimeout", "virtualNodes", "maxConcurrentRuns", "shutdownGrace",
        "sentinelUsername", "sentinelPassword", "sentinelPasswordFile", "claimReplicas",
        "claimReplicaTimeout", "missedRunGrace", "metrics", "logLevel", "reloadOnChange", "weight",
        "reloadTimeout",
    ]

    /// What the daemon file gave: the configuration when it has no problem, and otherwise as much
    /// as the jobs file's check needs.
    private struct DaemonRead {
        var configuration: DaemonConfiguration?
        var jobsPath: String?
        var zone: TimeZoneRules?
    }

    private static func readDaemon(
        path: String,
        problems: ProblemCollector,
        environment: ProblemCollector,
        lookups: inout LookupCache,
        trust: FileTrust
    ) -> DaemonRead {
        if let problem = trust.check(path, content: .configuration) { problems.report(problem) }
        guard let members = readObject(path: path, problems: problems) else { return DaemonRead() }
        var reader = ObjectReader(members, problems: problems, job: nil)
        let before = problems.count

        let cluster = reader.string("cluster", example: "production")
        if reader.value("cluster") == nil {
            problems.report(field: "cluster", "required (the name shared by the nodes of one pool)")
        }
        if let cluster, !isValidName(cluster, maximumLength: 64) {
            problems.report(field: "cluster", "\"\(shortened(cluster))\" must be 1-64 letters, digits, '-', '_' or '.'")
        }
        let node = reader.string("node", example: "node-a") ?? Accounts.hostName()
        if !isValidName(node, maximumLength: 64) {
            problems.report(
                field: "node",
                "\"\(shortened(node))\" must be 1-64 letters, digits, '-', '_' or '.'"
                    + (reader.value("node") == nil ? " (it defaults to the host name; set \"node\")" : "")
            )
        }
        var redis: RedisEndpoint?
        if let address = reader.string("redis", example: "redis://127.0.0.1:6379/0") {
            do { redis = try RedisEndpoint(parsing: address) } catch {
                problems.report(field: "redis", error.description)
            }
        }
        var secretFiles: [(key: String, path: String)] = []
        if let passwordFile = reader.path("redisPasswordFile", example: "/etc/dcrond/redis.password") {
            if redis == nil && reader.value("redis") == nil {
                problems.report(field: "redisPasswordFile", "given without \"redis\"")
            }
            redis?.passwordFile = resolve(passwordFile, against: path)
            secretFiles.append(("redisPasswordFile", resolve(passwordFile, against: path)))
        }
        // The sentinels' own credentials (sentinel.conf `requirepass`), distinct from the data nodes'.
        let sentinelUsername = reader.name("sentinelUsername", example: "dcrond")
        let sentinelPassword = reader.string("sentinelPassword", example: "secret")
        let sentinelPasswordFile = reader.path("sentinelPasswordFile", example: "/etc/dcrond/sentinel.password")
        if let sentinelPasswordFile {
            secretFiles.append(("sentinelPasswordFile", resolve(sentinelPasswordFile, against: path)))
        }
        for (key, file) in secretFiles {
            if let problem = trust.check(file, content: .secret) { problems.report(field: key, "\(file): \(problem)") }
        }
        for (key, given) in [
            ("sentinelUsername", sentinelUsername != nil), ("sentinelPassword", sentinelPassword != nil),
            ("sentinelPasswordFile", sentinelPasswordFile != nil),
        ] where given {
            if redis != nil && redis?.sentinelGroup == nil {
                problems.report(field: key, "applies only to a redis+sentinel:// address")
            }
        }
        if sentinelPassword != nil && sentinelPasswordFile != nil {
            problems.report(field: "sentinelPassword", "give either sentinelPassword or sentinelPasswordFile, not both")
        }
        if var group = redis?.sentinelGroup {
            group.username = sentinelUsername
            group.password = sentinelPassword
            group.passwordFile = sentinelPasswordFile.map { resolve($0, against: path) }
            redis?.sentinelGroup = group
        }
        let claimReplicas = reader.integer("claimReplicas", in: 0...16) ?? 0
        if claimReplicas > 0, reader.value("redis") == nil {
            problems.report(field: "claimReplicas", "given without \"redis\": a standalone node has no replicas")
        }
        let claimReplicaTimeout =
            reader.duration("claimReplicaTimeout", minimum: .milliseconds(10))
            ?? DaemonConfiguration.defaultClaimReplicaTimeout
        if claimReplicaTimeout > .seconds(10) {
            problems.report(
                field: "claimReplicaTimeout",
                "\(formatDuration(claimReplicaTimeout)) is over 10s: a claim holds its connection for that long"
            )
        }
        let jobsValue = reader.path("jobs", example: "jobs.json")
        let jobsGiven = reader.value("jobs") != nil
        let jobs = resolve(jobsValue ?? "jobs.json", against: path)
        let zone: TimeZoneRules?
        if let zoneName = reader.string("timezone", example: "Europe/Berlin") {
            zone = lookups.zone(zoneName) { message in problems.report(field: "timezone", message) }
        } else if reader.value("timezone") != nil {
            zone = nil
        } else {
            // No "timezone": the host's, from TZ or /etc/localtime; a bad TZ is the environment's fault.
            do {
                zone = try lookups.zone(TimeZoneRules.hostZoneName())
            } catch {
                if let value = getenv("TZ"), value.pointee != 0 {
                    environment.report(
                        field: "TZ",
                        "\(error.description); set TZ to a tz database name such as Europe/Berlin, or \"timezone\" in \(path)"
                    )
                } else {
                    problems.report(
                        field: "timezone",
                        "not given, and the host's zone (from /etc/localtime or /etc/timezone) \(error.description); set \"timezone\""
                    )
                }
                zone = nil
            }
        }
        let heartbeat = reader.duration("heartbeat", minimum: .milliseconds(100)) ?? .seconds(1)
        let nodeTimeout = reader.duration("nodeTimeout", minimum: .milliseconds(200)) ?? .seconds(3)
        if nodeTimeout < heartbeat * 2 {
            problems.report(
                field: "nodeTimeout",
                "\(formatDuration(nodeTimeout)) must be at least twice the heartbeat (\(formatDuration(heartbeat))), or one late heartbeat drops the node"
            )
        }
        let virtualNodes = reader.integer("virtualNodes", in: 1...10_000) ?? 160
        let weight = reader.integer("weight", in: Placement.weights) ?? 1
        let maxConcurrentRuns =
            reader.integer("maxConcurrentRuns", in: 1...10_000) ?? RunnerSettings.defaultMaxConcurrentRuns
        let shutdownGrace = reader.duration("shutdownGrace") ?? .seconds(30)
        let missedRunGrace =
            reader.duration("missedRunGrace", minimum: .seconds(1)) ?? DaemonConfiguration.defaultMissedRunGrace
        var metrics: ListenAddress?
        if let text = reader.plainString("metrics", example: "127.0.0.1:9464") {
            do { metrics = try ListenAddress(parsing: text) } catch { problems.report(field: "metrics", error.message) }
        }
        let logLevel = reader.choice("logLevel", Logger.Level.allCases.map(\.rawValue)).flatMap(
            Logger.Level.init(rawValue:)
        )
        let reloadOnChange = reader.bool("reloadOnChange") ?? true
        let reloadTimeout =
            reader.duration("reloadTimeout", minimum: .seconds(1)) ?? DaemonConfiguration.defaultReloadTimeout
        for key in daemonKeys { _ = reader.value(key) }
        reader.finish()

        var read = DaemonRead(jobsPath: jobsValue != nil || !jobsGiven ? jobs : nil, zone: zone)
        guard problems.count == before, environment.count == 0, let cluster, let zone else { return read }
        read.configuration = DaemonConfiguration(
            path: path,
            cluster: cluster,
            node: node,
            redis: redis,
            jobsPath: jobs,
            timeZone: zone,
            heartbeat: heartbeat,
            nodeTimeout: nodeTimeout,
            virtualNodes: virtualNodes,
            weight: weight,
            maxConcurrentRuns: maxConcurrentRuns,
            shutdownGrace: shutdownGrace,
            claimReplicas: claimReplicas,
            claimReplicaTimeout: claimReplicaTimeout,
            missedRunGrace: missedRunGrace,
            metrics: metrics,
            logLevel: logLevel,
            reloadOnChange: reloadOnChange,
            reloadTimeout: reloadTimeout
        )
        return read
    }

    // MARK: - Jobs file

    private static let jobKeys = [
        "name", "schedule", "command", "timezone", "timeout", "killGrace", "environment",
        "workingDirectory", "user", "group", "overlap", "catchUp", "startingDeadline",
        "retries", "enabled", "description", "dstGap", "dstOverlap", "umask",
    ]

    private static func readJobs(
        path: String,
        defaultZone: TimeZoneRules,
        problems: ProblemCollector,
        lookups: inout LookupCache,
        parallel: Bool = false
    ) -> JobTable? {
        guard let members = readObject(path: path, problems: problems) else { return nil }
        var top = ObjectReader(members, problems: problems, job: nil)
        guard let list = top.value("jobs") else {
            top.finish()
            problems.report(
                field: "jobs",
                "required: {\"jobs\": [ {\"name\": ..., \"schedule\": ..., \"command\": ...} ]}"
            )
            return nil
        }
        top.finish()
        guard case .array(let elements) = list else {
            problems.report(field: "jobs", "expected an array of jobs, got \(list.kindDescription)")
            return nil
        }
        // Names first, in file order: a job's problems are labelled with its name, and a duplicate
        // is reported where it occurs.
        var labels: [String] = []
        var duplicateOf: [Int?] = []
        labels.reserveCapacity(elements.count)
        duplicateOf.reserveCapacity(elements.count)
        var firstIndex: [String: Int] = [:]
        for (index, element) in elements.enumerated() {
            var label = "job #\(index + 1)"
            var earlier: Int?
            if case .object(let fields) = element, let member = fields.first(where: { $0.key == "name" }),
                case .string(let name) = member.value, isValidName(name)
            {
                label = "job \"\(name)\""
                earlier = firstIndex[name]
                if earlier == nil { firstIndex[name] = index }
            }
            labels.append(label)
            duplicateOf.append(earlier)
        }
        // Then the jobs, in chunks on the cores when asked (start-up), each chunk with collectors
        // of its own, merged in file order: the same problems, in the same order, as one by one.
        let ranges = parallel ? ParallelChunks.ranges(of: elements.count) : [0..<elements.count]
        let cache = lookups
        let (names, duplicates) = (labels, duplicateOf)
        let chunks = ParallelChunks.map(ranges) { range in
            let chunkProblems = ProblemCollector(file: path)
            var chunkLookups = cache
            var jobs: [JobDefinition] = []
            jobs.reserveCapacity(range.count)
            for index in range {
                let element = elements[index]
                guard case .object(let fields) = element else {
                    chunkProblems.report(job: names[index], "expected an object, got \(element.kindDescription)")
                    continue
                }
                if let earlier = duplicates[index] {
                    chunkProblems.report(
                        job: names[index],
                        field: "name",
                        "duplicate: job #\(earlier + 1) has the same name (job #\(index + 1) repeats it)"
                    )
                }
                if let job = readJob(
                    fields,
                    label: names[index],
                    defaultZone: defaultZone,
                    problems: chunkProblems,
                    lookups: &chunkLookups
                ) {
                    jobs.append(job)
                }
            }
            return (jobs: jobs, problems: chunkProblems.problems, omitted: chunkProblems.omitted, lookups: chunkLookups)
        }
        var jobs: [JobDefinition] = []
        jobs.reserveCapacity(elements.count)
        for chunk in chunks {
            jobs += chunk.jobs
            problems.absorb(chunk.problems, omitted: chunk.omitted)
        }
        if let first = chunks.first { lookups = first.lookups }
        guard problems.count == 0 else { return nil }
        return JobTable(path: path, jobs: jobs, parallel: parallel)
    }

    private static func readJob(
        _ fields: [JSONMember],
        label: String,
        defaultZone: TimeZoneRules,
        problems: ProblemCollector,
        lookups: inout LookupCache
    ) -> JobDefinition? {
        let before = problems.count
        var reader = ObjectReader(fields, problems: problems, job: label)
        func report(_ field: String, _ message: String) { problems.report(job: label, field: field, message) }

        let name = reader.string("name", example: "nightly-backup")
        if reader.value("name") == nil { report("name", "required") }
        if let name, !isValidName(name) {
            report("name", "\"\(shortened(name))\" must be 1-200 letters, digits, '-', '_' or '.'")
        }
        var schedule: Schedule?
        if let text = reader.string("schedule", example: "0 3 * * *") {
            do {
                schedule = try lookups.schedule(text, jobName: name)
            } catch {
                for problem in error.problems { report("schedule", problem) }
            }
        } else if reader.value("schedule") == nil {
            report("schedule", "required")
        }
        let command = reader.string("command", example: "/usr/local/bin/backup")
        if reader.value("command") == nil { report("command", "required") }
        if let command, command.trimmingWhitespace().isEmpty { report("command", "is empty") }

        var zone: TimeZoneRules? = defaultZone
        if let zoneName = reader.string("timezone", example: "Europe/Berlin") {
            zone = lookups.zone(zoneName) { report("timezone", $0) }
        }
        let timeout = reader.duration("timeout", minimum: .seconds(1))
        let killGrace = reader.duration("killGrace") ?? JobDefinition.defaultKillGrace

        var environment: [String: String] = [:]
        if let value = reader.value("environment") {
            if case .object(let variables) = value {
                var seen: Set<String> = []
                for variable in variables {
                    let key = "environment.\(variable.key)"
                    if !seen.insert(variable.key).inserted {
                        report(key, "given more than once (line \(variable.line))")
                        continue
                    }
                    if !isValidEnvironmentName(variable.key) {
                        report(key, "is not a valid variable name (letters, digits and '_', not starting with a digit)")
                    } else if variable.key.hasPrefix("DCRON_") {
                        report(key, "DCRON_ variables are set by dcrond for every run and cannot be overridden")
                    }
                    guard case .string(let text) = variable.value else {
                        report(key, "expected a string, got \(variable.value.kindDescription)")
                        continue
                    }
                    if text.utf8.contains(0) { report(key, "contains a NUL byte") }
                    environment[variable.key] = text
                }
            } else {
                report(
                    "environment",
                    "expected an object of strings, as in {\"LANG\": \"C.UTF-8\"}, got \(value.kindDescription)"
                )
            }
        }
        let workingDirectory = reader.path("workingDirectory", example: "/var/lib/backup")
        if let workingDirectory, !workingDirectory.hasPrefix("/") {
            report("workingDirectory", "\"\(shortened(workingDirectory))\" must be an absolute path")
        }
        let user = reader.name("user", example: "backup")
        if let user, !lookups.userExists(user) { report("user", "no user \"\(shortened(user))\" on this host") }
        let group = reader.name("group", example: "backup")
        if let group, !lookups.groupExists(group) { report("group", "no group \"\(shortened(group))\" on this host") }
        let overlap =
            reader.choice("overlap", OverlapPolicy.allCases.map(\.rawValue)).flatMap(OverlapPolicy.init)
            ?? JobDefinition.defaultOverlap
        let catchUp =
            reader.choice("catchUp", CatchUpPolicy.allCases.map(\.rawValue)).flatMap(CatchUpPolicy.init)
            ?? JobDefinition.defaultCatchUp
        let startingDeadline =
            reader.duration("startingDeadline", minimum: .seconds(1)) ?? JobDefinition.defaultStartingDeadline
        let retries = reader.integer("retries", in: 0...100) ?? 0
        let enabled = reader.bool("enabled") ?? true
        let description = reader.string("description")
        let umask = reader.umask("umask") ?? JobDefinition.defaultUmask
        let gap = reader.choice("dstGap", ["run", "skip"]).flatMap(DSTPolicy.Gap.init)
        let overlapPolicy = reader.choice("dstOverlap", ["once", "twice"]).flatMap(DSTPolicy.Overlap.init)
        for key in jobKeys { _ = reader.value(key) }
        reader.finish()

        if let command, let problem = ArgumentLimits.problem(command: command, environment: environment) {
            report(problem.field, problem.message)
        }
        guard problems.count == before, let name, let schedule, let command, let zone else { return nil }
        var dstPolicy = schedule.defaultDSTPolicy
        if let gap { dstPolicy.gap = gap }
        if let overlapPolicy { dstPolicy.overlap = overlapPolicy }
        return JobDefinition(
            name: name,
            schedule: schedule,
            command: command,
            timeZone: zone,
            timeout: timeout,
            killGrace: killGrace,
            environment: environment,
            workingDirectory: workingDirectory,
            user: user,
            group: group,
            overlap: overlap,
            catchUp: catchUp,
            startingDeadline: startingDeadline,
            retries: retries,
            enabled: enabled,
            description: description,
            dstPolicy: dstPolicy,
            umask: umask
        )
    }

    // MARK: - Helpers

    /// The top-level object of a JSON file, or nil with the problem reported.
    private static func readObject(path: String, problems: ProblemCollector) -> [JSONMember]? {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: 64 << 20)
        } catch {
            problems.report("cannot read: \(error.reason)")
            return nil
        }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            problems.report("invalid JSON at \(error)")
            return nil
        }
        guard case .object(let members) = document else {
            problems.report("expected a JSON object at the top level, got \(document.kindDescription)")
            return nil
        }
        return members
    }

    /// `relative` against the folder of `file`; absolute paths stay.
    static func resolve(_ relative: String, against file: String) -> String {
        if relative.hasPrefix("/") { return relative }
        guard let slash = file.lastIndex(of: "/") else { return relative }
        return String(file[...slash]) + relative
    }

    private static func isValidEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(48...57).contains(first) else { return false }
        return name.utf8.allSatisfy {
            (65...90).contains($0) || (97...122).contains($0) || (48...57).contains($0) || $0 == UInt8(ascii: "_")
        }
    }
}

/// Zones and accounts looked up, and schedule texts parsed, once per configuration read: 100,000
/// jobs name a few of each.
private struct LookupCache: Sendable {
    // Failures too: a near-miss suggestion reads the whole zone database.
    private var zones: [String: Result<TimeZoneRules, TimeZoneError>] = [:]
    /// By text, for jobs with a name (`H` needs one; a job without is rare and parsed alone).
    private var schedules: [String: Result<Schedule.Template, ScheduleError>] = [:]

    mutating func schedule(_ text: String, jobName: String?) throws(ScheduleError) -> Schedule {
        guard let jobName else { return try Schedule(parsing: text, jobName: nil) }
        let template =
            schedules[text]
            ?? {
                let parsed = Result { () throws(ScheduleError) in try Schedule.Template(parsing: text, named: true) }
                schedules[text] = parsed
                return parsed
            }()
        return try template.get().schedule(jobName: jobName)
    }
    private var users: [String: Bool] = [:]
    private var groups: [String: Bool] = [:]

    mutating func userExists(_ name: String) -> Bool {
        if let known = users[name] { return known }
        let exists = Accounts.user(name) != nil
        users[name] = exists
        return exists
    }

    mutating func groupExists(_ name: String) -> Bool {
        if let known = groups[name] { return known }
        let exists = Accounts.groupID(name) != nil
        groups[name] = exists
        return exists
    }

    mutating func zone(_ name: String) throws(TimeZoneError) -> TimeZoneRules {
        let result =
            zones[name]
            ?? {
                let loaded = Result { () throws(TimeZoneError) in try TimeZoneRules.named(name) }
                zones[name] = loaded
                return loaded
            }()
        return try result.get()
    }

    mutating func zone(_ name: String, report: (String) -> Void) -> TimeZoneRules? {
        do {
            return try zone(name)
        } catch {
            report(error.description)
            return nil
        }
    }
}

/// `host:port` to listen on; `[v6]:port` for an IPv6 address.
struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    let host: String
    let port: Int

    struct Invalid: Error, Sendable { let message: String }

    init(parsing text: String) throws(Invalid) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw Invalid(
                    message: "\"\(shortened(text))\": an IPv6 address goes in brackets, then :port, as \"[::1]:9464\""
                )
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw Invalid(message: "\"\(shortened(text))\": expected host:port, as \"127.0.0.1:9464\"")
            }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || ".-:".contains($0) }) else {
            throw Invalid(
                message:
                    "\"\(shortened(text))\": the host must be an address or a name, as \"127.0.0.1\" (\"0.0.0.0\" for every interface)"
            )
        }
        guard let number = Int(port), (1...65_535).contains(number) else {
            throw Invalid(message: "\"\(shortened(text))\": the port must be from 1 to 65535")
        }
        self.host = String(host)
        self.port = number
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
