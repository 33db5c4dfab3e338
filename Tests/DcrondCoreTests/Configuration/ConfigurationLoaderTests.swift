import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// A folder with a `dcrond.json` and a `jobs.json`, removed afterwards.
struct ConfigurationFolder: ~Copyable {
    let path: String

    init(daemon: String = #"{"cluster": "test", "node": "n1", "timezone": "UTC"}"#, jobs: String) throws {
        var template = Array("/tmp/dcrond-config-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        try write("dcrond.json", daemon)
        try write("jobs.json", jobs)
    }

    deinit {
        unlink(path + "/dcrond.json")
        unlink(path + "/jobs.json")
        rmdir(path)
    }

    var configPath: String { path + "/dcrond.json" }

    func write(_ name: String, _ text: String) throws {
        guard let file = fopen(path + "/" + name, "w") else { throw FileReadError(path: name, reason: "cannot create") }
        fputs(text, file)
        fclose(file)
    }

    func load() throws -> LoadedConfiguration { try ConfigurationLoader.load(configPath: configPath) }

    /// The problems, with the folder replaced by `DIR` for readable expectations.
    func problems() -> [String] {
        do {
            _ = try ConfigurationLoader.load(configPath: configPath)
            return []
        } catch {
            return error.lines.map { $0.replacingOccurrences(of: path, with: "DIR") }
        }
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

@Suite("Configuration files")
struct ConfigurationLoaderTests {
    @Test("the example configuration in config/ is accepted")
    func exampleConfiguration() throws {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)
        let root = parts.joined(separator: "/")
        // Unchecked ownership: the checkout's folders are whatever the clone made them.
        let loaded = try ConfigurationLoader.load(configPath: root + "/config/dcrond.json", trust: .unchecked)
        #expect(loaded.daemon.cluster == "demo")
        #expect(loaded.daemon.jobsPath == root + "/config/jobs.json")
        #expect(loaded.table.jobs.count == 8)
        #expect(loaded.table.job(named: "nightly-backup")?.dstPolicy == DSTPolicy(gap: .run, overlap: .once))
        #expect(loaded.table.job(named: "cache-warmup")?.dstPolicy == DSTPolicy(gap: .skip, overlap: .twice))
        // The demo table of `make run` is valid too.
        let demo = try ConfigurationLoader.loadJobs(path: root + "/config/demo-jobs.json", defaultZone: .utc)
        #expect(demo.jobs.map(\.name) == ["demo-tick", "demo-tock", "demo-slow", "demo-flaky"])
    }

    @Test("the configuration make install puts in place: standalone, no job, the node named after the host")
    func installedConfiguration() throws {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)
        let loaded = try ConfigurationLoader.load(
            configPath: parts.joined(separator: "/") + "/config/default/dcrond.json",
            trust: .unchecked
        )
        #expect(loaded.table.jobs.isEmpty)
        #expect(loaded.daemon.redis == nil)
        #expect(loaded.daemon.node == Accounts.hostName())
    }

    @Test("defaults are applied")
    func defaults() throws {
        let folder = try ConfigurationFolder(
            daemon: #"{"cluster": "c"}"#,
            jobs: #"{"jobs": [{"name": "a", "schedule": "* * * * *", "command": "true"}]}"#
        )
        let loaded = try folder.load()
        #expect(loaded.daemon.node == Accounts.hostName())
        #expect(loaded.daemon.redis == nil)
        #expect(loaded.daemon.heartbeat == .seconds(1))
        #expect(loaded.daemon.nodeTimeout == .seconds(3))
        #expect(loaded.daemon.virtualNodes == 160)
        #expect(loaded.daemon.weight == 1)
        #expect(loaded.daemon.maxConcurrentRuns == 64)
        #expect(loaded.daemon.timeZone.identifier == TimeZoneRules.hostZoneName())
        let job = try #require(loaded.table.jobs.first)
        #expect(job.timeZone == loaded.daemon.timeZone)
        #expect(job.killGrace == .seconds(10) && job.timeout == nil && job.retries == 0 && job.enabled)
        #expect(job.overlap == .allow && job.catchUp == .all && job.startingDeadline == .seconds(3600))
    }

    @Test("every problem of the jobs file is reported at once, naming file, job and field")
    func everyProblemAtOnce() throws {
        let folder = try ConfigurationFolder(
            jobs: """
                {"jobs": [
                  {"name": "backup", "schedule": "0 0 32 * *", "command": "backup.sh"},
                  {"name": "backup", "schedule": "@daily", "command": "again.sh"},
                  {"schedule": "* * * * *", "command": "x"},
                  {"name": "bad name!", "schedule": "* * * * *", "command": "x"},
                  {"name": "typo", "schedule": "* * * * *", "comand": "x"},
                  {"name": "types", "schedule": 5, "command": "x", "timeout": 30, "retries": "2", "enabled": "yes"},
                  {"name": "ranges", "schedule": "* * * * *", "command": "  ", "retries": 101, "timeout": "0s", "killGrace": "1x"},
                  {"name": "zones", "schedule": "* * * * *", "command": "x", "timezone": "Mars/Olympus"},
                  {"name": "accounts", "schedule": "* * * * *", "command": "x", "user": "no-such-user-dcrond", "group": "no-such-group-dcrond"},
                  {"name": "choices", "schedule": "* * * * *", "command": "x", "overlap": "sometimes", "catchUp": "most", "dstGap": "later", "dstOverlap": "thrice"},
                  {"name": "env", "schedule": "* * * * *", "command": "x", "environment": {"1X": "a", "DCRON_JOB": "b", "OK": 3}},
                  {"name": "paths", "schedule": "* * * * *", "command": "x", "workingDirectory": "relative/dir"},
                  {"name": "dup-key", "schedule": "* * * * *", "command": "x", "command": "y"},
                  "not an object",
                  {"name": "never", "schedule": "0 0 30 2 *", "command": "x"},
                  {"name": "hashed", "schedule": "H H(0-5) * * *", "command": "x"}
                ]}
                """
        )
        #expect(
            folder.problems() == [
                "DIR/jobs.json: job \"backup\": schedule: field 3 (day of month): \"32\" is out of range 1-31",
                "DIR/jobs.json: job \"backup\": name: duplicate: job #1 has the same name (job #2 repeats it)",
                "DIR/jobs.json: job #3: name: required",
                "DIR/jobs.json: job #4: name: \"bad name!\" must be 1-200 letters, digits, '-', '_' or '.'",
                "DIR/jobs.json: job \"typo\": command: required",
                "DIR/jobs.json: job \"typo\": comand: unknown key (did you mean \"command\"?)",
                "DIR/jobs.json: job \"types\": schedule: expected a string such as \"0 3 * * *\", got a number",
                "DIR/jobs.json: job \"types\": timeout: expected a string such as \"30s\", got a number",
                "DIR/jobs.json: job \"types\": retries: expected a whole number from 0 to 100, got a string",
                "DIR/jobs.json: job \"types\": enabled: expected true or false, got a string",
                "DIR/jobs.json: job \"ranges\": command: is empty",
                "DIR/jobs.json: job \"ranges\": timeout: \"0s\" is shorter than the minimum 1s",
                "DIR/jobs.json: job \"ranges\": killGrace: \"1x\" is not a duration: unknown unit \"x\"; the units are ms, s, m, h and d (examples: 500ms, 30s, 5m, 1h30m, 1.5h, 2d)",
                "DIR/jobs.json: job \"ranges\": retries: 101 is out of range 0-100",
                "DIR/jobs.json: job \"zones\": timezone: \"Mars/Olympus\" is not a known time zone (no /usr/share/zoneinfo/Mars/Olympus)",
                "DIR/jobs.json: job \"accounts\": user: no user \"no-such-user-dcrond\" on this host",
                "DIR/jobs.json: job \"accounts\": group: no group \"no-such-group-dcrond\" on this host",
                "DIR/jobs.json: job \"choices\": overlap: \"sometimes\" is not one of \"allow\", \"forbid\", \"replace\"",
                "DIR/jobs.json: job \"choices\": catchUp: \"most\" is not one of \"none\", \"latest\", \"all\"",
                "DIR/jobs.json: job \"choices\": dstGap: \"later\" is not one of \"run\", \"skip\"",
                "DIR/jobs.json: job \"choices\": dstOverlap: \"thrice\" is not one of \"once\", \"twice\"",
                "DIR/jobs.json: job \"env\": environment.1X: is not a valid variable name (letters, digits and '_', not starting with a digit)",
                "DIR/jobs.json: job \"env\": environment.DCRON_JOB: DCRON_ variables are set by dcrond for every run and cannot be overridden",
                "DIR/jobs.json: job \"env\": environment.OK: expected a string, got a number",
                "DIR/jobs.json: job \"paths\": workingDirectory: \"relative/dir\" must be an absolute path",
                "DIR/jobs.json: job \"dup-key\": command: given more than once (line 14)",
                "DIR/jobs.json: job #14: expected an object, got a string",
                "DIR/jobs.json: job \"never\": schedule: can never fire: no date in a whole 400-year calendar cycle matches its day and month fields",
            ]
        )
    }

    @Test(
        "problems of the daemon file",
        arguments: [
            (#"{"node": "n"}"#, ["DIR/dcrond.json: cluster: required (the name shared by the nodes of one pool)"]),
            (
                #"{"cluster": "a{b}"}"#,
                ["DIR/dcrond.json: cluster: \"a{b}\" must be 1-64 letters, digits, '-', '_' or '.'"]
            ),
            (
                #"{"cluster": "c", "redis": "localhost:6379"}"#,
                [
                    "DIR/dcrond.json: redis: invalid Redis address \"localhost:6379\": expected redis://[user:password@]host[:port][/db], unix:///path/to/redis.sock[?db=N] or redis+sentinel://host[:port][,host[:port]...]/MASTER[/db]"
                ]
            ),
            (
                #"{"cluster": "c", "heartbeat": "2s"}"#,
                [
                    "DIR/dcrond.json: nodeTimeout: 3s must be at least twice the heartbeat (2s), or one late heartbeat drops the node"
                ]
            ),
            (
                #"{"cluster": "c", "heartbeat": "10ms"}"#,
                ["DIR/dcrond.json: heartbeat: \"10ms\" is shorter than the minimum 100ms"]
            ),
            (
                #"{"cluster": "c", "reloadTimeout": "500ms"}"#,
                ["DIR/dcrond.json: reloadTimeout: \"500ms\" is shorter than the minimum 1s"]
            ),
            (#"{"cluster": "c", "virtualNodes": 0}"#, ["DIR/dcrond.json: virtualNodes: 0 is out of range 1-10000"]),
            (#"{"cluster": "c", "weight": 0}"#, ["DIR/dcrond.json: weight: 0 is out of range 1-1000"]),
            (
                #"{"cluster": "c", "weight": "2"}"#,
                ["DIR/dcrond.json: weight: expected a whole number from 1 to 1000, got a string"]
            ),
            (
                #"{"cluster": "c", "maxConcurrentRuns": 0}"#,
                ["DIR/dcrond.json: maxConcurrentRuns: 0 is out of range 1-10000"]
            ),
            (
                #"{"cluster": "c", "virtualNodes": 1.5}"#,
                ["DIR/dcrond.json: virtualNodes: expected a whole number from 1 to 10000, got 1.5"]
            ),
            (
                #"{"cluster": "c", "timezone": "Europe/Nowhere"}"#,
                [
                    "DIR/dcrond.json: timezone: \"Europe/Nowhere\" is not a known time zone (no /usr/share/zoneinfo/Europe/Nowhere)"
                ]
            ),
            (
                #"{"cluster": "c", "timezone": "America/NewYork"}"#,
                [
                    "DIR/dcrond.json: timezone: \"America/NewYork\" is not a known time zone (did you mean \"America/New_York\"?)"
                ]
            ),
            (
                #"{"cluster": "c", "redisPasswordFile": "/x"}"#,
                ["DIR/dcrond.json: redisPasswordFile: given without \"redis\""]
            ),
            (
                #"{"cluster": "c", "redis": "redis://h", "sentinelPassword": "s"}"#,
                ["DIR/dcrond.json: sentinelPassword: applies only to a redis+sentinel:// address"]
            ),
            (
                #"{"cluster": "c", "redis": "redis+sentinel://h/m", "sentinelPassword": "s", "sentinelPasswordFile": "/p"}"#,
                ["DIR/dcrond.json: sentinelPassword: give either sentinelPassword or sentinelPasswordFile, not both"]
            ),
            (
                #"{"cluster": "c", "claimReplicas": 1}"#,
                ["DIR/dcrond.json: claimReplicas: given without \"redis\": a standalone node has no replicas"]
            ),
            (
                #"{"cluster": "c", "redis": "redis://h", "claimReplicas": 17}"#,
                ["DIR/dcrond.json: claimReplicas: 17 is out of range 0-16"]
            ),
            (
                #"{"cluster": "c", "redis": "redis://h", "claimReplicas": 1, "claimReplicaTimeout": "11s"}"#,
                ["DIR/dcrond.json: claimReplicaTimeout: 11s is over 10s: a claim holds its connection for that long"]
            ),
            (
                #"{"cluster": "c", "hearbeat": "1s"}"#,
                ["DIR/dcrond.json: hearbeat: unknown key (did you mean \"heartbeat\"?)"]
            ),
            (
                #"{"cluster": "c", "jobs": "missing.json"}"#,
                ["DIR/missing.json: cannot read: No such file or directory"]
            ),
            (#"{"cluster": "c",}"#, ["DIR/dcrond.json: invalid JSON at line 1, column 17: trailing comma before '}'"]),
            (#"["cluster"]"#, ["DIR/dcrond.json: expected a JSON object at the top level, got an array"]),
        ]
    )
    func daemonProblems(daemon: String, expected: [String]) throws {
        let folder = try ConfigurationFolder(daemon: daemon, jobs: #"{"jobs": []}"#)
        #expect(folder.problems() == expected)
    }

    @Test("a sentinel address with the sentinels' own credentials and replica acknowledgements")
    func sentinelSettings() throws {
        let folder = try ConfigurationFolder(
            daemon: #"""
                {"cluster": "c", "redis": "redis+sentinel://:data@s1,s2:5000/mymaster", "redisPasswordFile": "redis.pw",
                 "sentinelUsername": "watcher", "sentinelPasswordFile": "sentinel.pw", "claimReplicas": 1, "claimReplicaTimeout": "250ms"}
                """#,
            jobs: #"{"jobs": []}"#
        )
        let daemon = try folder.load().daemon
        let group = try #require(daemon.redis?.sentinelGroup)
        #expect(group.sentinels == [.init(host: "s1", port: 26379), .init(host: "s2", port: 5000)])
        #expect(group.username == "watcher")
        #expect(group.passwordFile == folder.path + "/sentinel.pw")
        #expect(daemon.redis?.passwordFile == folder.path + "/redis.pw")
        #expect(daemon.claimReplicas == 1)
        #expect(daemon.claimReplicaTimeout == .milliseconds(250))
    }

    @Test("jobs sharing a schedule's text each get their own H, and their own 'can never fire'")
    func sharedScheduleTexts() throws {
        // The text is parsed once per read; H, and whether a day the hash chose exists, are per
        // job: H(29-31) in February fires for the 29th (leap years) and never for the 30th or 31st.
        let names = (0..<40).map { "job-\($0)" }
        let texts = ["H H * * *", "0 0 H(29-31) 2 *"]
        let jobs = names.enumerated().map { index, name in
            #"{"name": "\#(name)", "schedule": "\#(texts[index % 2])", "command": "true"}"#
        }
        let folder = try ConfigurationFolder(jobs: #"{"jobs": [\#(jobs.joined(separator: ","))]}"#)
        var expected: [String: Schedule] = [:]
        var never: [String] = []
        for (index, name) in names.enumerated() {
            do {
                expected[name] = try Schedule(parsing: texts[index % 2], jobName: name)
            } catch {
                never.append(name)
            }
        }
        #expect(!never.isEmpty && never.count < names.count / 2, "both outcomes among the February jobs: \(never)")
        #expect(Set(expected.values).count > 2, "H gave different schedules to different jobs")
        #expect(
            folder.problems()
                == never.map {
                    #"DIR/jobs.json: job "\#($0)": schedule: can never fire: no date in a whole 400-year calendar cycle matches its day and month fields"#
                }
        )
        // Without the jobs that never fire, each job's schedule is the one it would get alone.
        let firing = names.filter { !never.contains($0) }.map { name in
            #"{"name": "\#(name)", "schedule": "\#(texts[names.firstIndex(of: name)! % 2])", "command": "true"}"#
        }
        try folder.write("jobs.json", #"{"jobs": [\#(firing.joined(separator: ","))]}"#)
        let table = try folder.load().table
        for job in table.jobs { #expect(job.schedule == expected[job.name], "\(job.name)") }
        #expect(table.jobs.count == expected.count)
    }

    @Test("problems of the jobs file as a whole")
    func jobsFileProblems() throws {
        let missingJobs = try ConfigurationFolder(jobs: #"{"job": []}"#)
        #expect(
            missingJobs.problems() == [
                "DIR/jobs.json: job: unknown key (did you mean \"jobs\"?)",
                "DIR/jobs.json: jobs: required: {\"jobs\": [ {\"name\": ..., \"schedule\": ..., \"command\": ...} ]}",
            ]
        )
        let notArray = try ConfigurationFolder(jobs: #"{"jobs": {"a": 1}}"#)
        #expect(notArray.problems() == ["DIR/jobs.json: jobs: expected an array of jobs, got an object"])
        let syntax = try ConfigurationFolder(jobs: "{\"jobs\": [\n  {\"name\": \"a\" \"schedule\": \"x\"}\n]}")
        #expect(
            syntax.problems() == [
                "DIR/jobs.json: invalid JSON at line 2, column 16: expected ',' or '}' after the value of \"name\""
            ]
        )
    }

    @Test("the fingerprint is stable, and changes with any effective setting")
    func fingerprint() throws {
        let jobs =
            #"{"jobs": [{"name": "a", "schedule": "* * * * *", "command": "true"}, {"name": "b", "schedule": "@daily", "command": "x", "timezone": "Europe/Berlin"}]}"#
        let table = try ConfigurationFolder(jobs: jobs).load().table
        let first = table.fingerprint
        #expect(first.count == 16)
        // What every version computes (nodes compare it): the jobs' canonical texts in name order,
        // joined by newlines, hashed at once.
        let whole = table.jobs.sorted { $0.name < $1.name }.map(\.canonicalText).joined(separator: "\n")
        #expect(first == String(SHA1.hexDigest(Array(whole.utf8)).prefix(16)))
        // Same table, other order and spacing, defaults written out: same fingerprint.
        let reordered = try ConfigurationFolder(
            jobs: """
                {"jobs": [
                  {"command": "x", "name": "b", "timezone": "Europe/Berlin", "schedule": "@daily", "killGrace": "10s"},
                  {"name": "a", "schedule": "* * * * *", "command": "true", "enabled": true, "overlap": "allow"}
                ]}
                """
        ).load().table.fingerprint
        #expect(reordered == first)
        let changed = try ConfigurationFolder(
            jobs: jobs.replacingOccurrences(of: "Europe/Berlin", with: "Europe/Paris")
        ).load().table.fingerprint
        #expect(changed != first)
        // The daemon's default zone is part of the effective table of jobs without one.
        let otherDefault = try ConfigurationFolder(
            daemon: #"{"cluster": "test", "timezone": "Asia/Tokyo"}"#,
            jobs: jobs
        ).load().table.fingerprint
        #expect(otherDefault != first)
        let retries = try ConfigurationFolder(
            jobs: jobs.replacingOccurrences(of: #""command": "x""#, with: #""command": "x", "retries": 1"#)
        ).load().table.fingerprint
        #expect(retries != first)
    }

    @Test("paths resolve against the configuration's folder")
    func relativePaths() {
        #expect(ConfigurationLoader.resolve("jobs.json", against: "/etc/dcrond/dcrond.json") == "/etc/dcrond/jobs.json")
        #expect(ConfigurationLoader.resolve("/srv/jobs.json", against: "/etc/dcrond/dcrond.json") == "/srv/jobs.json")
        #expect(ConfigurationLoader.resolve("jobs.json", against: "dcrond.json") == "jobs.json")
        #expect(ConfigurationLoader.resolve("jobs.json", against: "config/dcrond.json") == "config/jobs.json")
    }
}

@Suite("The metrics listen address")
struct ListenAddressTests {
    @Test("host:port and [v6]:port; anything else is refused with an example")
    func parsing() throws {
        let v4 = try ListenAddress(parsing: "127.0.0.1:9464")
        #expect(v4.host == "127.0.0.1" && v4.port == 9464 && v4.description == "127.0.0.1:9464")
        let v6 = try ListenAddress(parsing: "[::1]:9464")
        #expect(v6.host == "::1" && v6.port == 9464 && v6.description == "[::1]:9464")
        #expect(try ListenAddress(parsing: "localhost:80").host == "localhost")
        for bad in ["9464", ":9464", "host:", "host:0", "host:70000", "::1:9464", "[::1]9464", "a b:1", "host:12x"] {
            #expect(throws: ListenAddress.Invalid.self, "\(bad)") { try ListenAddress(parsing: bad) }
        }
    }
}

@Suite("Reading a large table on every core (start-up)")
struct ParallelLoadTests {
    /// `count` jobs; `broken` positions get a bad schedule, `repeated` ones the name of job 0.
    func table(count: Int, broken: Set<Int> = [], repeated: Set<Int> = []) -> String {
        let jobs = (0..<count).map { index in
            let name = repeated.contains(index) ? "job-0" : "job-\(index)"
            let schedule = broken.contains(index) ? "61 * * * *" : "H H * * *"
            return #"{"name": "\#(name)", "schedule": "\#(schedule)", "command": "/bin/true \#(index)"}"#
        }
        return #"{"jobs": [\#(jobs.joined(separator: ",\n"))]}"#
    }

    func load(
        _ folder: borrowing ConfigurationFolder,
        parallel: Bool
    ) -> Result<LoadedConfiguration, ConfigurationErrors> {
        do {
            return .success(try ConfigurationLoader.load(configPath: folder.configPath, parallel: parallel))
        } catch {
            return .failure(error)
        }
    }

    /// The errors of a table read one by one and in parallel; it must be rejected both ways.
    func rejected(
        _ folder: borrowing ConfigurationFolder
    ) throws -> (serial: ConfigurationErrors, parallel: ConfigurationErrors) {
        guard case .failure(let serial) = load(folder, parallel: false),
            case .failure(let parallel) = load(folder, parallel: true)
        else { throw FileReadError(path: folder.configPath, reason: "the table must be rejected") }
        return (serial, parallel)
    }

    @Test("the same table, fingerprint and order as read one by one")
    func sameTable() throws {
        #expect(ParallelChunks.ranges(of: 10_000).count == min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        #expect(ParallelChunks.ranges(of: 4_400).count == min(2, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        #expect(ParallelChunks.ranges(of: 1_999).count == 1)
        let folder = try ConfigurationFolder(jobs: table(count: 4_400))
        let serial = try load(folder, parallel: false).get()
        let parallel = try load(folder, parallel: true).get()
        #expect(parallel.table.jobs == serial.table.jobs)
        #expect(parallel.table.fingerprint == serial.table.fingerprint)
        #expect(parallel.table.job(named: "job-4399")?.command == "/bin/true 4399")
    }

    @Test("the same problems in the same order, across the chunks, and the same cut at the limit")
    func sameProblems() throws {
        let count = 4_400
        // Problems in both chunks (the second begins at 2,200), a duplicate at its start and end.
        let broken: Set<Int> = [1, 1_500, 2_199, 2_200, 3_333, 4_398]
        let repeated: Set<Int> = [2_201, 4_399]
        let folder = try ConfigurationFolder(jobs: table(count: count, broken: broken, repeated: repeated))
        let (serial, parallel) = try rejected(folder)
        #expect(parallel.lines == serial.lines)
        #expect(serial.problems.count == broken.count + repeated.count)
        // Past the limit of kept problems: the same first ones kept, the same number omitted.
        let many = try ConfigurationFolder(jobs: table(count: count, broken: Set(stride(from: 0, to: count, by: 20))))
        let (serialMany, parallelMany) = try rejected(many)
        #expect(parallelMany.lines == serialMany.lines)
        #expect(parallelMany.omitted == serialMany.omitted && serialMany.omitted > 0)
    }
}
