import Logging
import Synchronization

// Runs the real job runner in a process of its own and reports what only a whole process can
// show: its descriptors, its zombie children and its peak memory. The integration tests start it;
// inside the shared test process, other tests' sockets, pipes and allocations would blur these.
//
//   dcrond-test-helper many-runs COUNT      runs COUNT `/bin/true` jobs (64 at a time)
//   dcrond-test-helper burst COUNT          starts COUNT jobs at once, through the shell
//   dcrond-test-helper output BYTES         runs one job that writes BYTES bytes in 1000-byte lines
//   dcrond-test-helper orphans COUNT        runs COUNT jobs (killGrace 1s) that leave a process holding
//                                           their output pipes, and reports 2.5 s after the last ended
//   dcrond-test-helper shutdown COUNT       a second supervisor starts COUNT `sleep 30` and shuts down;
//                                           reports its threads and descriptors before and after, how
//                                           the children ended, and whether a launch after it failed
//
// Both print one line: `fds-before=N fds-after=N zombies=N peak-rss-kb-before=N peak-rss-kb-after=N runs-ok=N lines=N`.
@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

func descriptorCount() -> Int {
    guard let directory = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(directory) }
    var count = 0
    while readdir(directory) != nil { count += 1 }
    return count - 3  // ".", ".." and the directory's own descriptor
}

/// Children of this process that are zombies (exited, not reaped).
func zombieChildren() -> Int {
    let me = getpid()
    guard let directory = opendir("/proc") else { return -1 }
    defer { closedir(directory) }
    var zombies = 0
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard Int32(name) != nil, let bytes = try? FileSystem.readFile("/proc/\(name)/stat") else { continue }
        let text = String(decoding: bytes, as: UTF8.self)
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        guard let close = text.lastIndex(of: ")") else { continue }
        let fields = text[text.index(after: close)...].split(separator: " ")
        if fields.count > 2, fields[0] == "Z", Int32(fields[1]) == me { zombies += 1 }
    }
    return zombies
}

func peakRSSKilobytes() -> Int {
    guard let bytes = try? FileSystem.readFile("/proc/self/status") else { return -1 }
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
    return -1
}

/// Threads of this process named for a supervisor: its watcher and its spawners.
func supervisorThreads() -> Int {
    guard let directory = opendir("/proc/self/task") else { return -1 }
    defer { closedir(directory) }
    var count = 0
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard Int32(name) != nil, let bytes = try? FileSystem.readFile("/proc/self/task/\(name)/comm") else { continue }
        let comm = String(decoding: bytes, as: UTF8.self)
        if comm.hasPrefix("dcrond-children") || comm.hasPrefix("dcrond-spawn") { count += 1 }
    }
    return count
}

/// `shutdown COUNT`: see the usage above.
func shutdownReport(count: Int) async throws -> String {
    // Warm up: the runtime opens a descriptor or two the first time a supervisor's work runs.
    let first = ProcessSupervisor()
    _ = await (try first.launch(LaunchRequest(executable: "/bin/true", arguments: ["true"], environment: [])) { _ in })
        .exit()
    await first.shutdown()
    for _ in 0..<200 where supervisorThreads() > 0 { usleep(10_000) }
    let threadsBefore = supervisorThreads()
    let fdsBefore = descriptorCount()
    let second = ProcessSupervisor()
    var processes: [RunningProcess] = []
    for _ in 0..<count {
        let request = LaunchRequest(executable: "/bin/sleep", arguments: ["sleep", "30"], environment: [])
        processes.append(try await second.launch(request) { _ in })
    }
    let threadsRunning = supervisorThreads()
    await second.shutdown()
    var killed = 0
    for process in processes {
        let exit = await process.exit()
        if exit.termination == .signaled(SIGKILL) && exit.terminated { killed += 1 }
    }
    let alive = processes.filter { kill($0.pid, 0) == 0 }.count
    // The threads are past their last instruction that matters, not yet gone from /proc.
    for _ in 0..<200 where supervisorThreads() > threadsBefore { usleep(10_000) }
    var refused = 0
    do {
        _ = try await second.launch(LaunchRequest(executable: "/bin/true", arguments: ["true"], environment: [])) { _ in
        }
    } catch {
        if error.errno.rawValue == ESHUTDOWN { refused = 1 }
    }
    return "threads-before=\(threadsBefore) threads-running=\(threadsRunning) threads-after=\(supervisorThreads()) "
        + "fds-before=\(fdsBefore) fds-after=\(descriptorCount()) killed=\(killed) alive=\(alive) "
        + "zombies=\(zombieChildren()) refused=\(refused)"
}

func job(_ name: String, _ command: String) throws -> JobDefinition {
    JobDefinition(name: name, schedule: try Schedule(parsing: "* * * * *"), command: command, workingDirectory: "/")
}

let arguments = CommandLine.arguments
if arguments.count == 7, arguments[1] == "pool" {
    // pool REDIS-URL CLUSTER NODE HEARTBEAT-MS TIMEOUT-MS: joins, then prints a line on every change
    // of the view (`view a:active,b:active`) and each time the node rejoins after being fenced
    // (`rejoined after fencing N`).
    await runPool(
        redis: arguments[2],
        cluster: arguments[3],
        node: arguments[4],
        heartbeat: .milliseconds(Int(arguments[5])!),
        timeout: .milliseconds(Int(arguments[6])!)
    )
}
if arguments.count == 3, arguments[1] == "shutdown", let count = Int(arguments[2]) {
    print(try await shutdownReport(count: count))
    exit(0)
}
guard arguments.count == 3, let count = Int(arguments[2]) else {
    print("usage: dcrond-test-helper many-runs COUNT | burst COUNT | output BYTES")
    exit(2)
}
let lines = Atomic<Int>(0)
let supervisor = ProcessSupervisor()
let runner = JobRunner(
    supervisor: supervisor,
    settings: RunnerSettings(node: "helper", cluster: "test", maxConcurrentRuns: 64),
    logger: .init(label: "helper", factory: { _ in SwiftLogNoOpLogHandler() }),
    outputHandler: { _, _ in lines.add(1, ordering: .relaxed) }
)
let now = Int64(realtimeSeconds())

// Warm up: the first run creates the supervisor's threads and descriptors.
_ = await runner.run(try job("warm-up", "/bin/true"), scheduledAt: now)
let fdsBefore = descriptorCount()
let rssBefore = peakRSSKilobytes()
var succeeded = 0
switch arguments[1] {
case "many-runs":
    let definition = try job("many", "/bin/true")
    succeeded = await withTaskGroup(of: Bool.self) { group in
        var started = 0
        var ok = 0
        while started < min(count, 64) {
            group.addTask { await runner.run(definition, scheduledAt: now).outcome == .succeeded }
            started += 1
        }
        for await result in group {
            if result { ok += 1 }
            if started < count {
                group.addTask { await runner.run(definition, scheduledAt: now).outcome == .succeeded }
                started += 1
            }
        }
        return ok
    }
case "burst":
    succeeded = await burst(count: count, runner: runner, job: try job("burst", "/bin/true"), scheduledAt: now)
case "output":
    let lineCount = count / 1000
    let record = await runner.run(
        try job("output", "yes \"$(printf '%0999d' 0)\" | head -n \(lineCount)"),
        scheduledAt: now
    )
    succeeded = record.outcome == .succeeded ? 1 : 0
case "orphans":
    var orphaned = try job("orphans", "setsid sleep 30 & echo started")
    orphaned.killGrace = .seconds(1)
    succeeded = await burst(count: count, runner: runner, job: orphaned, scheduledAt: now)
    // The output is read for killGrace after each main process exits, then closed.
    usleep(2_400_000)
default:
    print("unknown mode \(arguments[1])")
    exit(2)
}
// Let the watcher close the last pipes.
usleep(100_000)
print(
    "fds-before=\(fdsBefore) fds-after=\(descriptorCount()) zombies=\(zombieChildren()) peak-rss-kb-before=\(rssBefore) peak-rss-kb-after=\(peakRSSKilobytes()) runs-ok=\(succeeded) lines=\(lines.load(ordering: .relaxed))"
)

func realtimeSeconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return now.tv_sec
}

/// `count` runs started at the same moment, through the shell. A run that never returns ends
/// the process by SIGALRM after 60 s (no timer of the process's own, which would add a descriptor).
nonisolated func burst(count: Int, runner: JobRunner, job: JobDefinition, scheduledAt: Int64) async -> Int {
    alarm(60)
    defer { alarm(0) }
    return await withTaskGroup(of: Bool.self) { group in
        for _ in 0..<count {
            group.addTask { await runner.run(job, scheduledAt: scheduledAt, forceShell: true).outcome == .succeeded }
        }
        var ok = 0
        for await result in group where result { ok += 1 }
        return ok
    }
}

nonisolated func runPool(
    redis: String,
    cluster: String,
    node: String,
    heartbeat: Duration,
    timeout: Duration
) async -> Never {
    let client = RedisClient(
        endpoint: try! RedisEndpoint(parsing: redis),
        logger: .init(label: "helper", factory: { _ in SwiftLogNoOpLogHandler() })
    )
    let pool = NodePool(
        settings: PoolSettings(cluster: cluster, node: node, heartbeat: heartbeat, nodeTimeout: timeout),
        redis: client,
        description: NodeDescription(fingerprint: "helper", timeZone: "UTC"),
        logger: .init(label: "helper", factory: { _ in SwiftLogNoOpLogHandler() }),
        onChange: { view, _ in
            emit("view " + view.members.map { "\($0.id):\($0.state.rawValue)" }.joined(separator: ","))
        }
    )
    await pool.start()
    var rejoins = 0
    while true {
        let now = await pool.rejoinsAfterFencing
        if now != rejoins {
            rejoins = now
            emit("rejoined after fencing \(now)")
        }
        try? await Task.sleep(for: .milliseconds(20))
    }
}

/// Writes a line to stdout at once (the test reads the file while this process runs).
@Sendable nonisolated func emit(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}
