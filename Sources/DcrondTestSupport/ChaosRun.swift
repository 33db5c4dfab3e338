import DcrondCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A fault the chaos harness injects (issue 9's table, plus crashes and operator actions).
package enum ChaosFault: String, CaseIterable, Sendable {
    case redisSnapshotRestore = "redis-snapshot-restore"
    case redisRestartEmpty = "redis-restart-empty"
    case redisRestartAOF = "redis-restart-aof"
    case redisShortRestart = "redis-short-restart"
    case redisFreeze = "redis-freeze"
    case redisStall = "redis-stall"
    case laggingReplicaPromoted = "lagging-replica-promoted"
    case nodeKill = "node-kill"
    case nodeStop = "node-stop"
    case nodeTerm = "node-term"
    case drainResume = "drain-resume"
    case nodeCutOff = "node-cut-off"
    case repliesDropped = "replies-dropped"
    case blockingReload = "blocking-reload"
    case stopDuringBacklog = "stop-during-backlog"
    case duplicateNodeID = "duplicate-node-id"
    case disableReenable = "disable-reenable"
    case sentinelMasterKilled = "sentinel-master-killed"
    case sentinelReplicaKilled = "sentinel-replica-killed"

    /// Faults of one node's network: they need each node in a network namespace of its own.
    package var needsNamespaces: Bool { self == .nodeCutOff || self == .repliesDropped }

    /// Faults of a Sentinel group (`--sentinel`).
    package var needsSentinel: Bool { self == .sentinelMasterKilled || self == .sentinelReplicaKilled }

    /// Faults of the one redis-server of a pool without Sentinel: its data going back in time.
    package var needsSingleServer: Bool {
        switch self {
        case .redisSnapshotRestore, .redisRestartEmpty, .redisRestartAOF, .redisShortRestart, .redisFreeze, .redisStall,
            .laggingReplicaPromoted:
            true
        default: false
        }
    }

    package var summary: String {
        switch self {
        case .redisSnapshotRestore: "Redis killed, restarted from its snapshot taken 5 s earlier"
        case .redisRestartEmpty: "Redis killed, restarted at once with no data"
        case .redisRestartAOF: "Redis killed, restarted from its append-only file (everysec)"
        case .redisShortRestart: "Redis killed, back after 1 s with no data"
        case .redisFreeze: "Redis SIGSTOP for 5 s, then SIGCONT"
        case .redisStall: "Redis in DEBUG SLEEP 3.5"
        case .laggingReplicaPromoted: "a replica 5 s behind promoted (its data replaces the master's)"
        case .nodeKill: "a node SIGKILLed, restarted 2 s later"
        case .nodeStop: "a node SIGSTOPped for 5 s"
        case .nodeTerm: "a node SIGTERMed, restarted 1 s later"
        case .drainResume: "a node drained for 4 s with dcrond drain, then resumed"
        case .nodeCutOff: "a node cut off from Redis for 6 s (both directions, nftables)"
        case .repliesDropped: "a node's replies from Redis dropped for 4 s"
        case .blockingReload: "SIGHUP while the node's jobs file is a FIFO that blocks for 5 s"
        case .stopDuringBacklog: "all nodes down 6 s; one starts, works through the backlog, is SIGTERMed"
        case .duplicateNodeID: "a second process started with a live node's id"
        case .disableReenable: "a job disabled by reload for 4 s, then re-enabled"
        case .sentinelMasterKilled:
            "the master SIGKILLed under three sentinels; back, empty, as a replica after the failover"
        case .sentinelReplicaKilled: "a replica SIGKILLed, back 5 s later"
        }
    }
}

package struct ChaosSettings: Sendable {
    package var nodes = 3
    package var jobs = 20
    /// nil: inject each fault of `faults` once, in an order drawn from `seed`; else random faults
    /// of `faults` until this much time has passed.
    package var duration: Duration?
    package var faults = ChaosFault.allCases
    package var seed = UInt64.random(in: 0...UInt64.max)
    /// The `dcrond` binary.
    package var dcrond = buildProductsDirectory() + "/dcrond"
    /// Quiet time after each fault.
    package var pause: Duration = .seconds(2)
    /// Network namespaces for the nodes (root only); without them, network faults are left out.
    package var useNamespaces = NetworkNamespace.available
    package var keepDirectory = false
    /// A master, two replicas and three sentinels instead of one redis-server; the nodes use a
    /// `redis+sentinel://` address and `claimReplicas: 1`. Network faults and the single server's
    /// faults are left out.
    package var sentinel = false
    package var progress: @Sendable (String) -> Void = { print($0) }

    package init() {}
}

/// What the audit of a chaos run found, per (job, instant) of the jobs every second.
package struct ChaosAudit: Sendable {
    package var injected: [(fault: ChaosFault, count: Int)] = []
    package var leftOut: [String] = []
    package var expected = 0
    package var ran = 0
    package var duplicated: [String] = []
    package var lost: [String] = []
    /// Lost, but claimed by a node SIGKILLed before the run's exec: the documented window.
    package var lostInWindow: [String] = []
    /// Lost, and reported by the node whose claim attempt went unanswered while Redis went back
    /// in time (rule `unknownHistory`): the second documented way.
    package var lostInDoubt: [String] = []
    /// Lost (in the window or not) with no `missed:` line for it in any node's log: a silent loss.
    package var unalarmed: [String] = []
    /// Ran, and reported missed too: run late, after the (short) grace, by a catch-up; or killed
    /// between its exec and its start mark. Allowed, shown.
    package var falseAlarms: [String] = []
    package var late = 0
    package var maxLatenessMs: Int64 = 0
    package var p99LatenessMs: Int64 = 0
    package var forbidOverlaps: [String] = []
    package var replayedWhileDisabled: [String] = []
    package var duplicateIDRefused = true
    package var duplicateIDRan = 0
    package var slowStops: [String] = []
    package var seconds = 0
    package var seed: UInt64 = 0
    package var directory = ""

    package var passed: Bool {
        duplicated.isEmpty && lost.isEmpty && unalarmed.isEmpty && forbidOverlaps.isEmpty
            && replayedWhileDisabled.isEmpty
            && duplicateIDRefused && duplicateIDRan == 0 && slowStops.isEmpty
    }

    /// The audit as a Markdown table (for a note or docs/).
    package var table: String {
        var lines = ["| fault | injected |", "| --- | --- |"]
        for (fault, count) in injected { lines.append("| \(fault.rawValue): \(fault.summary) | \(count) |") }
        for reason in leftOut { lines.append("| left out: \(reason) | 0 |") }
        func sample(_ items: [String]) -> String {
            items.isEmpty ? "" : " (\(items.prefix(5).joined(separator: ", "))\(items.count > 5 ? ", …" : ""))"
        }
        lines += [
            "", "| audit (\(seconds) s, seed \(seed)) | result |", "| --- | --- |",
            "| (job, instant) expected | \(expected) |",
            "| runs | \(ran) |",
            "| duplicated (job, instant) — must be 0 | \(duplicated.count)\(sample(duplicated)) |",
            "| lost — must be 0 | \(lost.count)\(sample(lost)) |",
            "| lost in the documented window (claimed by a node SIGKILLed before its exec) | \(lostInWindow.count)\(sample(lostInWindow)) |",
            "| lost in doubt (a claim attempt unanswered, then Redis back in time; reported by its node) | \(lostInDoubt.count)\(sample(lostInDoubt)) |",
            "| lost and not alarmed (no `missed:` line in any node's log) — must be 0 | \(unalarmed.count)\(sample(unalarmed)) |",
            "| reported missed, and ran (late, after the 3 s grace; or killed between its exec and its start mark) | \(falseAlarms.count)\(sample(falseAlarms)) |",
            "| late runs (> 1 s after the instant) | \(late), max \(maxLatenessMs) ms, p99 \(p99LatenessMs) ms |",
            "| overlapping forbid runs — must be 0 | \(forbidOverlaps.count)\(sample(forbidOverlaps)) |",
            "| instants of a disabled job replayed after re-enabling — must be 0 | \(replayedWhileDisabled.count)\(sample(replayedWhileDisabled)) |",
            "| second process with a live id refused; runs it made — must be 0 | \(duplicateIDRefused ? "refused" : "NOT REFUSED"); \(duplicateIDRan) |",
            "| stops slower than shutdownGrace + killGrace + 1 s — must be 0 | \(slowStops.count)\(sample(slowStops)) |",
            "", passed ? "chaos: passed" : "chaos: FAILED (logs kept in \(directory))",
        ]
        return lines.joined(separator: "\n")
    }
}

/// A real redis-server and N real `dcrond run` processes with M jobs every second that each
/// append an audit line, and faults injected one after another; then an audit of every
/// (job, instant). See `make chaos` and docs/operations.md.
package final class ChaosRun: @unchecked Sendable {
    // @unchecked Sendable: driven by one task from start to end.
    private let settings: ChaosSettings
    private var random: SplitMix
    private let directory: String
    private let cluster = "chaos\(UInt32.random(in: 0...UInt32.max))"
    /// The server the nodes' claims go to: the one redis-server, or the group's current master.
    private var server: RedisTestServer!
    private var group: SentinelTestGroup?
    private var baseArguments: [String] = []
    private var namespaces: [NetworkNamespace] = []
    private var processes: [String: pid_t] = [:]
    private var starts: [String: Int] = [:]
    private var kills: [(node: String, atMs: Int64)] = []
    private var disabledWindows: [(job: String, from: Int64, to: Int64, strictFrom: Int64, strictTo: Int64)] = []
    private var duplicateProcesses: [pid_t] = []
    private var duplicateIDRefused = true
    private var slowStops: [String] = []
    private var injected: [ChaosFault: Int] = [:]
    private let shutdownGrace = Duration.seconds(2)
    private let killGrace = Duration.seconds(1)

    private var nodes: [String] { (0..<settings.nodes).map { "node-\($0)" } }
    private var allowJobs: [String] { (1...settings.jobs).map { "c\($0 < 10 ? "0" : "")\($0)" } }
    private static let forbidJobs = ["forbid1", "forbid2"]
    private var audit: String { directory + "/audit.log" }
    /// Short, so that the audit can require an alarm for every loss.
    private static let missedRunGrace = "3s"

    package init(settings: ChaosSettings) throws {
        self.settings = settings
        self.random = SplitMix(seed: settings.seed)
        self.directory = try makeTemporaryDirectory()
    }

    package func run() async throws -> ChaosAudit {
        let began = ContinuousClock.now
        settings.progress(
            "chaos: \(settings.nodes) nodes, \(settings.jobs) jobs every second, seed \(settings.seed), in \(directory)"
        )
        var leftOut: [String] = []
        var faults = settings.faults
        if settings.sentinel {
            if faults.contains(where: { $0.needsNamespaces || $0.needsSingleServer }) {
                leftOut.append(
                    "the single redis-server's faults and the network faults: not run against a Sentinel group"
                )
            }
            faults.removeAll { $0.needsNamespaces || $0.needsSingleServer }
        } else if faults.contains(where: \.needsSentinel) {
            faults.removeAll(where: \.needsSentinel)
            leftOut.append("sentinel-master-killed, sentinel-replica-killed: need --sentinel")
        }
        if !settings.useNamespaces || settings.sentinel, faults.contains(where: \.needsNamespaces) {
            faults.removeAll(where: \.needsNamespaces)
            leftOut.append("node-cut-off, replies-dropped: need root, iproute2 and nftables for network namespaces")
            settings.progress("chaos: not root (or no ip/nft): the faults of a node's network are left out")
        }
        defer { tearDown() }
        try await setUp()
        let auditFrom = wallSeconds() + 3
        try await Task.sleep(for: .seconds(4))
        if let duration = settings.duration {
            while ContinuousClock.now - began < duration {
                try await inject(faults[Int(random.next() % UInt64(faults.count))])
            }
        } else {
            var order = faults
            for index in order.indices.reversed() { order.swapAt(index, Int(random.next() % UInt64(index + 1))) }
            for fault in order { try await inject(fault) }
        }
        let auditTo = wallSeconds() - 1
        // The catch-up of the last fault, and the alarms of its losses: a check 3 s (the grace)
        // after the instant, again once the killed process's info key is gone (its restart, or
        // the node timeout), or the sweep of `starting` a grace later if the checker died too.
        try await Task.sleep(for: .seconds(12))
        for node in Array(processes.keys) { await stop(node, signal: SIGTERM, check: false) }
        var result = auditRuns(from: auditFrom, to: auditTo)
        result.injected = ChaosFault.allCases.compactMap { fault in injected[fault].map { (fault, $0) } }
        result.leftOut = leftOut
        result.seconds = Int((ContinuousClock.now - began).components.seconds)
        result.directory = directory
        result.seed = settings.seed
        if result.passed && !settings.keepDirectory { _ = shellOutputBlocking("rm -rf '\(directory)'") }
        return result
    }

    // MARK: - Set-up

    private func setUp() async throws {
        if settings.sentinel {
            let group = try await SentinelTestGroup.start(replicas: 2)
            self.group = group
            server = group.master
            for node in nodes { try writeJobs(node: node, disabled: []) }
            for node in nodes { try start(node) }
            return
        }
        if settings.useNamespaces {
            for index in 0..<settings.nodes { namespaces.append(try NetworkNamespace(index: 100 + index)) }
        }
        baseArguments =
            ["--bind", "127.0.0.1"] + namespaces.map(\.outerAddress)
            + ["--protected-mode", "no", "--enable-debug-command", "yes"]
        server = try await RedisTestServer.start(baseArguments)
        for node in nodes { try writeJobs(node: node, disabled: []) }
        for node in nodes { try start(node) }
    }

    private func tearDown() {
        for pid in processes.values { kill(pid, SIGKILL) }
        if let group { group.stop() } else { server?.stop() }
        for namespace in namespaces { namespace.remove() }
    }

    private func writeJobs(node: String, disabled: Set<String>) throws {
        let line = { (kind: String) in
            #"echo \"\#(kind) $DCRON_JOB $DCRON_SCHEDULED_AT $DCRON_NODE $PPID $(date +%s%3N)\" >> \#(self.audit)"#
        }
        var jobs = allowJobs.map { name in
            #"{"name": "\#(name)", "schedule": "* * * * * *", "enabled": \#(!disabled.contains(name)), "command": "\#(line("run"))"}"#
        }
        jobs += Self.forbidJobs.map { name in
            #"{"name": "\#(name)", "schedule": "*/2 * * * * *", "overlap": "forbid", "killGrace": "1s", "command": "trap '\#(line("end")); exit 0' TERM; \#(line("start")); sleep 3; \#(line("end"))"}"#
        }
        try writeText(directory + "/jobs-\(node).json", #"{"jobs": [\#(jobs.joined(separator: ",\n"))]}"#)
    }

    private func config(_ node: String) -> String { directory + "/\(node).json" }

    private func start(_ node: String, as name: String? = nil) throws {
        let index = nodes.firstIndex(of: node)!
        var address =
            namespaces.isEmpty
            ? "unix://\(server.socketPath)" : "redis://\(namespaces[index].outerAddress):\(server.port)"
        var extra = ""
        if let group {
            address = group.address
            extra = #", "claimReplicas": 1"#
        }
        try writeText(
            config(node),
            #"{"cluster": "\#(cluster)", "node": "\#(node)", "timezone": "UTC", "redis": "\#(address)", "jobs": "jobs-\#(node).json", "shutdownGrace": "2s", "missedRunGrace": "\#(Self.missedRunGrace)"\#(extra)}"#
        )
        let name = name ?? node
        starts[name, default: 0] += 1
        let command = [settings.dcrond, "run", "--config", config(node)]
        processes[name] = try spawn(
            namespaces.isEmpty ? command : namespaces[index].wrap(command),
            standardOutput: "/dev/null",
            standardError: directory + "/\(name).\(starts[name]!).log"
        )
    }

    /// Signals the node and waits for its exit; with `check`, a stop slower than its bound is recorded.
    private func stop(_ node: String, signal: Int32, check: Bool = true) async {
        guard let pid = processes.removeValue(forKey: node) else { return }
        let began = ContinuousClock.now
        kill(pid, signal)
        let bound = shutdownGrace + killGrace + .seconds(1)
        _ = await waitForExit(pid, within: .seconds(30))
        let took = ContinuousClock.now - began
        if check, signal == SIGTERM, took > bound { slowStops.append("\(node) took \(formatDuration(took))") }
    }

    /// Reaps `pid` (polling, off no thread); returns its exit status, nil if still running.
    private func waitForExit(_ pid: pid_t, within limit: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    private func redis(
        _ arguments: any RedisArgument...,
        on target: RedisTestServer? = nil,
        timeout: Duration = .seconds(2)
    ) async -> RedisReply? {
        var options = RedisConnectionOptions()
        options.ioTimeout = timeout
        let client = RedisClient(
            endpoint: (target ?? server).unixEndpoint,
            options: options,
            logger: Logger(label: "chaos", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        return try? await client.send(RedisCommand(arguments))
    }

    private func randomNode() -> String { nodes[Int(random.next() % UInt64(nodes.count))] }

    // MARK: - Faults

    private func inject(_ fault: ChaosFault) async throws {
        settings.progress("chaos: \(fault.rawValue): \(fault.summary)")
        injected[fault, default: 0] += 1
        switch fault {
        case .redisSnapshotRestore:
            _ = await redis("SAVE")
            try await Task.sleep(for: .seconds(5))
            try await server.restart()
        case .redisRestartEmpty:
            server.removeSnapshot()
            try await server.restart()
        case .redisRestartAOF:
            _ = await redis("CONFIG", "SET", "appendonly", "yes")
            for _ in 0..<50 {
                if let info = await redis("INFO", "persistence")?.string, info.contains("aof_enabled:1"),
                    info.contains("aof_rewrite_in_progress:0")
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .seconds(2))
            try await server.restart(arguments: baseArguments + ["--appendonly", "yes", "--appendfsync", "everysec"])
            try await Task.sleep(for: .seconds(2))
            _ = await redis("CONFIG", "SET", "appendonly", "no")
            server.useArguments(baseArguments)
        case .redisShortRestart:
            server.removeSnapshot()
            try await server.restart(after: .seconds(1))
        case .redisFreeze:
            server.freeze(true)
            try await Task.sleep(for: .seconds(5))
            server.freeze(false)
        case .redisStall:
            _ = await redis("DEBUG", "SLEEP", "3.5", timeout: .seconds(10))
        case .laggingReplicaPromoted:
            let replica = try await RedisTestServer.start(["--replicaof", "127.0.0.1", String(server.port)])
            for _ in 0..<100 {
                if let info = await redis("INFO", "replication", on: replica)?.string,
                    info.contains("master_link_status:up")
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .seconds(1))
            // Replication stops 5 s before the master dies: the promoted data misses those 5 s.
            // (Freezing the replica would not: the stream waits in its socket and is applied later.)
            _ = await redis("REPLICAOF", "NO", "ONE", on: replica)
            try await Task.sleep(for: .seconds(5))
            server.kill()
            _ = await redis("SAVE", on: replica)
            // The promoted replica's data takes the master's address (the nodes keep theirs).
            server.removeSnapshot()
            _ = shellOutputBlocking("cp '\(replica.snapshotPath)' '\(server.snapshotPath)'")
            replica.stop()
            try await server.restart()
        case .nodeKill:
            let victim = randomNode()
            kills.append((victim, realtimeNanoseconds() / 1_000_000))
            await stop(victim, signal: SIGKILL)
            try await Task.sleep(for: .seconds(2))
            try start(victim)
        case .nodeStop:
            let victim = randomNode()
            if let pid = processes[victim] {
                kill(pid, SIGSTOP)
                try await Task.sleep(for: .seconds(5))
                kill(pid, SIGCONT)
            }
        case .nodeTerm:
            let victim = randomNode()
            await stop(victim, signal: SIGTERM)
            try await Task.sleep(for: .seconds(1))
            try start(victim)
        case .drainResume:
            let victim = randomNode()
            _ = try await runProcess([settings.dcrond, "drain", victim, "--config", config(victim)])
            try await Task.sleep(for: .seconds(4))
            _ = try await runProcess([settings.dcrond, "resume", victim, "--config", config(victim)])
        case .nodeCutOff, .repliesDropped:
            let namespace = namespaces[Int(random.next() % UInt64(namespaces.count))]
            namespace.cut(fault == .nodeCutOff ? .both : .repliesOnly)
            try await Task.sleep(for: .seconds(fault == .nodeCutOff ? 6 : 4))
            namespace.heal()
        case .blockingReload:
            let victim = randomNode()
            let jobs = directory + "/jobs-\(victim).json"
            let saved = directory + "/saved.json"
            let held = directory + "/held.fifo"
            _ = shellOutputBlocking("mv '\(jobs)' '\(saved)' && mkfifo '\(jobs)' && ln '\(jobs)' '\(held)'")
            if let pid = processes[victim] { kill(pid, SIGHUP) }
            try await Task.sleep(for: .seconds(5))
            // The file is back first (renamed over the FIFO), so a reading that starts from now on
            // opens the file; then the blocked one gets the same table through the FIFO's other name.
            // (The other order let a reload that followed open the FIFO again, with no writer left.)
            _ = shellOutputBlocking("cp '\(saved)' '\(jobs).new' && mv '\(jobs).new' '\(jobs)'")
            _ = try await runProcess(["/usr/bin/timeout", "5", "/bin/sh", "-c", "cat '\(saved)' > '\(held)'"])
            _ = shellOutputBlocking("rm -f '\(held)' '\(saved)'")
        case .stopDuringBacklog:
            for node in nodes { await stop(node, signal: SIGTERM) }
            try await Task.sleep(for: .seconds(6))
            let first = nodes[0]
            try start(first)
            try await Task.sleep(for: .milliseconds(2500))
            await stop(first, signal: SIGTERM)
            for node in nodes { try start(node) }
        case .duplicateNodeID:
            let victim = randomNode()
            try start(victim, as: "duplicate")
            let pid = processes["duplicate"]!
            duplicateProcesses.append(pid)
            let status = await waitForExit(pid, within: .seconds(10))
            processes["duplicate"] = nil
            if status == nil || status == 0 {
                duplicateIDRefused = false
                kill(pid, SIGKILL)
                _ = await waitForExit(pid, within: .seconds(5))
            }
        case .disableReenable:
            let job = allowJobs[Int(random.next() % UInt64(allowJobs.count))]
            for node in nodes { try writeJobs(node: node, disabled: [job]) }
            let disabledAt = wallSeconds()
            for pid in processes.values { kill(pid, SIGHUP) }
            try await Task.sleep(for: .seconds(4))
            for node in nodes { try writeJobs(node: node, disabled: []) }
            let enabledAt = wallSeconds()
            for pid in processes.values { kill(pid, SIGHUP) }
            // Around each reload either outcome is right; strictly inside, nothing may run.
            disabledWindows.append((job, disabledAt - 1, enabledAt + 1, disabledAt + 2, enabledAt - 1))
        case .sentinelMasterKilled:
            guard let group, let port = group.masterPort(), let victim = group.server(port: port) else { break }
            victim.kill()
            let newPort = try await group.waitForFailover(from: port)
            server = group.server(port: newPort)
            try await victim.restart()
            try await waitUntilReplicating(victim)
        case .sentinelReplicaKilled:
            guard let group, let port = group.masterPort() else { break }
            let replicas = ([group.master] + group.replicas).filter { $0.port != port }
            let victim = replicas[Int(random.next() % UInt64(replicas.count))]
            victim.kill()
            try await Task.sleep(for: .seconds(5))
            try await victim.restart()
            try await waitUntilReplicating(victim)
        }
        try await Task.sleep(for: settings.pause)
    }

    /// Waits (up to 30 s) until the sentinels made `server` a replica of the master, synced.
    private func waitUntilReplicating(_ server: RedisTestServer) async throws {
        for _ in 0..<300 {
            if let info = await redis("INFO", "replication", on: server)?.string, info.contains("master_link_status:up")
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        settings.progress("chaos: \(server.port) did not rejoin as a replica within 30 s")
    }

    // MARK: - Audit

    private struct Line {
        let kind: String
        let job: String
        let instant: Int64
        let node: String
        let pid: Int32
        let ms: Int64
    }

    private func lines() -> [Line] {
        guard let bytes = try? FileSystem.readFile(audit) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { text in
            let parts = text.split(separator: " ")
            guard parts.count == 6, let instant = Int64(parts[2]), let pid = Int32(parts[4]), let ms = Int64(parts[5])
            else { return nil }
            return Line(
                kind: String(parts[0]),
                job: String(parts[1]),
                instant: instant,
                node: String(parts[3]),
                pid: pid,
                ms: ms
            )
        }
    }

    /// How the node whose claim attempt is in doubt words its report (`Daemon.claimForStart`).
    private static let inDoubtReport = "missed: possibly: an attempt of this node to claim it got no answer"

    /// Every (job, instant) some node logged `missed:` for, from the logs of every process
    /// started, and whether the report was of a claim in doubt (``ChaosAudit/lostInDoubt``).
    private func alarms() -> [String: Bool] {
        var found: [String: Bool] = [:]
        for (name, count) in starts {
            for index in 1...max(1, count) {
                guard let bytes = try? FileSystem.readFile(directory + "/\(name).\(index).log") else { continue }
                let log = String(decoding: bytes, as: UTF8.self)
                let inDoubt = instantsReported(in: log, containing: Self.inDoubtReport)
                for key in instantsReported(in: log, containing: "missed: ").keys {
                    found[key] = found[key, default: false] || inDoubt[key] != nil
                }
            }
        }
        return found
    }

    private func auditRuns(from: Int64, to: Int64) -> ChaosAudit {
        var result = ChaosAudit()
        let all = lines()
        let starts = all.filter { $0.kind == "run" || $0.kind == "start" }
        var count: [String: Int] = [:]
        for line in starts { count["\(line.job)@\(line.instant)", default: 0] += 1 }
        result.duplicated = count.filter { $0.value > 1 }.keys.sorted()
        result.duplicateIDRefused = duplicateIDRefused
        result.duplicateIDRan = starts.filter { duplicateProcesses.contains($0.pid) }.count
        result.slowStops = slowStops

        // The documented window: an instant claimed by a node SIGKILLed before its exec, which
        // includes the next one when the kill came within the lead of it (claimed ahead).
        var window: Set<String> = []
        let lead = Int64(
            Daemon.startLead.components.seconds * 1000 + Daemon.startLead.components.attoseconds / 1_000_000_000_000_000
        )
        for kill in kills {
            let second = kill.atMs / 1000
            let claimedAhead = (kill.atMs + lead) / 1000
            let victimJobs = Set(
                allowJobs.filter { job in
                    starts.filter { $0.job == job && $0.ms < kill.atMs }.max { $0.ms < $1.ms }?.node == kill.node
                }
            )
            for job in victimJobs { for instant in (second - 1)...claimedAhead { window.insert("\(job)@\(instant)") } }
        }
        let alarmed = alarms()
        for key in count.keys where alarmed[key] != nil { result.falseAlarms.append(key) }
        result.falseAlarms.sort()
        for job in allowJobs {
            for instant in from...to {
                let key = "\(job)@\(instant)"
                let disabled = disabledWindows.first { $0.job == job && instant >= $0.from && instant <= $0.to }
                if let disabled {
                    if instant >= disabled.strictFrom && instant <= disabled.strictTo && count[key] != nil {
                        result.replayedWhileDisabled.append(key)
                    }
                    continue
                }
                result.expected += 1
                if count[key] == nil {
                    if window.contains(key) {
                        result.lostInWindow.append(key)
                    } else if alarmed[key] == true {
                        result.lostInDoubt.append(key)
                    } else {
                        result.lost.append(key)
                    }
                    if alarmed[key] == nil { result.unalarmed.append(key) }
                }
            }
        }
        let audited = starts.filter { $0.instant >= from && $0.instant <= to && allowJobs.contains($0.job) }
        result.ran = audited.count
        let lateness = audited.map { $0.ms - $0.instant * 1000 }.sorted()
        result.late = lateness.filter { $0 > 1000 }.count
        result.maxLatenessMs = lateness.last ?? 0
        result.p99LatenessMs = lateness.isEmpty ? 0 : lateness[min(lateness.count - 1, lateness.count * 99 / 100)]

        for job in Self.forbidJobs {
            var ends: [Int64: Int64] = [:]
            for line in all where line.job == job && line.kind == "end" { ends[line.instant] = line.ms }
            let runs = starts.filter { $0.job == job }.sorted { $0.ms < $1.ms }
            for (previous, current) in zip(runs, runs.dropFirst()) {
                guard let end = ends[previous.instant] else {
                    result.forbidOverlaps.append(
                        "\(job)@\(previous.instant) on \(previous.node) never ended before \(current.instant)"
                    )
                    continue
                }
                if current.ms < end {
                    result.forbidOverlaps.append(
                        "\(job)@\(current.instant) on \(current.node) started while \(previous.instant) on \(previous.node) ran"
                    )
                }
            }
        }
        return result
    }
}

/// SplitMix64: a seeded generator, so a chaos run can be repeated (`--seed`).
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return StableHash.mix64(state)
    }
}

package func wallSeconds() -> Int64 { realtimeNanoseconds() / 1_000_000_000 }
