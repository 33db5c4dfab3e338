import CDcrondSystem
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What to start: a program, its whole environment and identity, and how long it may run.
struct LaunchRequest: Sendable {
    /// Path of the program (absolute, or relative to `workingDirectory`).
    var executable: String
    /// argv, including argv[0].
    var arguments: [String]
    /// `NAME=value` entries: the child's whole environment.
    var environment: [String]
    var workingDirectory: String?
    /// Switch to this identity before exec (the daemon must be root); nil keeps the daemon's.
    var identity: ProcessIdentity?
    /// SIGTERM to the process group after this long; nil: no limit.
    var timeout: Duration?
    /// Between SIGTERM and SIGKILL.
    var killGrace: Duration
    /// The child's file-creation mask.
    var umask: mode_t
    /// Not before this wall-clock instant (Unix nanoseconds): the spawner thread waits for it
    /// itself, so a start prepared ahead of its instant costs no thread hand-over at the instant.
    /// nil: at once. One more than ``ProcessSupervisor/longestWait`` away is started at once: the
    /// clock was set back after the start was prepared, and the thread must not wait for hours.
    var notBefore: Int64?
    /// Gives up this start if it is still waiting for `notBefore` (a reload disabled the job).
    var cancellation: StartCancellation?

    init(
        executable: String,
        arguments: [String],
        environment: [String],
        workingDirectory: String? = nil,
        identity: ProcessIdentity? = nil,
        timeout: Duration? = nil,
        killGrace: Duration = .seconds(10),
        umask: mode_t = JobDefinition.defaultUmask
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.identity = identity
        self.timeout = timeout
        self.killGrace = killGrace
        self.umask = umask
    }
}

/// Cancels one start that waits for its instant (``LaunchRequest/notBefore``): it then fails with
/// `ECANCELED` within 10 ms, or at once if it has not begun to wait. No effect once it started.
package final class StartCancellation: @unchecked Sendable {
    // @unchecked Sendable: `childFlag` is written once, by dcrond_flag_set (atomic), and read by a
    // child with an atomic load; `flag` is an atomic.
    private let flag = Atomic<Bool>(false)
    /// The same, for a child waiting for the instant itself (it shares the daemon's memory).
    let childFlag: UnsafeMutablePointer<Int32> = {
        let flag = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        flag.initialize(to: 0)
        return flag
    }()

    deinit { childFlag.deallocate() }

    func cancel() {
        flag.store(true, ordering: .releasing)
        dcrond_flag_set(childFlag)
    }

    var isCancelled: Bool { flag.load(ordering: .acquiring) }
}

struct ProcessIdentity: Sendable, Hashable {
    var uid: uid_t
    var gid: gid_t
    var supplementaryGroups: [gid_t]

    init(uid: uid_t, gid: gid_t, supplementaryGroups: [gid_t]) {
        self.uid = uid
        self.gid = gid
        self.supplementaryGroups = supplementaryGroups
    }
}

/// A child that could not be started, with the step that failed: `chdir /srv/x: No such file or directory`.
struct SpawnError: Error, Sendable, Equatable, CustomStringConvertible {
    let step: String
    let errno: Errno

    init(step: String, code: Int32) {
        self.step = step
        self.errno = Errno(rawValue: code)
    }

    var description: String { "\(step): \(errno)" }
}

/// How a process ended.
enum ProcessTermination: Sendable, Hashable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    var succeeded: Bool { self == .exited(0) }

    var description: String {
        switch self {
        case .exited(let status): "exit status \(status)"
        case .signaled(let signal): "killed by signal \(signal) (\(signalName(signal)))"
        }
    }
}

struct ProcessExit: Sendable, Hashable {
    let termination: ProcessTermination
    /// The timeout expired and the process group was terminated.
    let timedOut: Bool
    /// ``RunningProcess/terminate(grace:)`` was called before it ended.
    let terminated: Bool
    /// From the spawn to the reaping of the process.
    let duration: Duration
}

/// One line a child wrote, without its newline.
package struct OutputLine: Sendable, Hashable {
    enum Stream: String, Sendable, Hashable { case stdout, stderr }
    let stream: Stream
    let text: String
    /// The line was longer than the cap and was cut; the rest up to its newline was dropped.
    let truncated: Bool
}

/// A started child. Its exit is reported once; output may go on after it (from background
/// processes that kept the pipes) and is still delivered.
final class RunningProcess: Sendable {
    let pid: Int32
    /// Wall-clock time of the spawn, in nanoseconds since the epoch.
    let startedAtNanoseconds: Int64
    private let id: UInt64
    private let completion: OneShot<ProcessExit>
    private let supervisor: ProcessSupervisor

    init(
        pid: Int32,
        startedAtNanoseconds: Int64,
        id: UInt64,
        completion: OneShot<ProcessExit>,
        supervisor: ProcessSupervisor
    ) {
        self.pid = pid
        self.startedAtNanoseconds = startedAtNanoseconds
        self.id = id
        self.completion = completion
        self.supervisor = supervisor
    }

    /// Waits for the process to end.
    func exit() async -> ProcessExit { await completion.value }

    /// `signal` (SIGTERM unless said) to the whole process group now, SIGKILL after `grace` to
    /// whatever of it is left.
    func terminate(grace: Duration, signal: Int32 = SIGTERM) {
        supervisor.send(.terminate(id: id, grace: grace, signal: signal))
    }
}

/// Starts children and watches them on one thread of its own: it reaps each child through its
/// pidfd (never another process's child), streams their output line by line, and enforces
/// timeouts on whole process groups.
///
/// - Children start in a new session: their process group is their pid, and a kill reaches every
///   process they started that did not leave the group.
/// - Output lines longer than ``maximumLineLength`` are cut and the rest of the line dropped; the
///   pipes are read for as long as any writer holds them, so memory stays bounded and no writer
///   gets SIGPIPE because dcrond stopped reading.
/// - Spawning runs on two spawner threads, not on the caller's and not on the watcher's, so many
///   children due at once do not queue behind one another's exec more than the cores require.
package final class ProcessSupervisor: Sendable {
    static let maximumLineLength = 16 * 1024

    enum Command: Sendable {
        case register(ChildRegistration)
        case terminate(id: UInt64, grace: Duration, signal: Int32)
        /// The watcher's last command: see ``shutdown()``.
        case shutdown
    }

    private let epollDescriptor: Int32
    private let wakeDescriptor: Int32
    private let devNull: Int32
    /// The watcher's commands, and whether it still takes any (false once it took `shutdown`).
    private let commands = Mutex<(queue: [Command], open: Bool)>(([], true))
    private let shutDown = Atomic<Bool>(false)
    private let traffic = StartTraffic()
    /// Fulfilled by the watcher's thread as it ends: the join of ``shutdown()``.
    private let watcherEnded = OneShot<Void>()
    private let nextID = Atomic<UInt64>(1)
    private let spawners: [Spawner]
    private let nextSpawner = Atomic<Int>(0)

    package init(spawnerThreads: Int = 2) {
        epollDescriptor = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeDescriptor = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        precondition(
            epollDescriptor >= 0 && wakeDescriptor >= 0 && devNull >= 0,
            "cannot set up the process supervisor: \(errnoDescription())"
        )
        spawners = (0..<max(1, spawnerThreads)).map { Spawner(index: $0) }
        var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: UInt64(wakeDescriptor)))
        precondition(
            epoll_ctl(epollDescriptor, EPOLL_CTL_ADD, wakeDescriptor, &event) == 0,
            "cannot set up the process supervisor: epoll_ctl: \(errnoDescription())"
        )
        let watcher = Watcher(supervisor: self)
        let ended = watcherEnded
        startDetachedThread(name: "dcrond-children") {
            watcher.run()
            ended.fulfill(())
        }
    }

    /// Ends the supervisor, like a monitor thread's shutdown and join: no launch succeeds after
    /// it; every child still running is killed (SIGKILL to its process group) and reaped, its
    /// output read to the end and delivered, its descriptors closed; the watcher's thread ends,
    /// and it returns once that thread is past its last step (the join); the spawner threads end
    /// once the spawns queued before it are done. The daemon calls it last, once
    /// every run is recorded, so normally nothing is left to kill. Calling it again waits the same.
    func shutdown() async {
        if !shutDown.exchange(true, ordering: .acquiringAndReleasing) {
            for spawner in spawners { spawner.shutdown() }
            send(.shutdown)
            await watcherEnded.value
            close(epollDescriptor)
            close(wakeDescriptor)
            close(devNull)
        }
        await watcherEnded.value
    }

    /// How far ahead a `notBefore` is waited for.
    static let longestWait: Int64 = 1_000_000_000

    /// Launches still waiting for their `notBefore` instant fail with `ECANCELED` instead of
    /// starting (within 10 ms), and so does every later one with a `notBefore` in the future:
    /// the daemon stops, and a run it has not started yet must not start.
    func cancelWaitingStarts() {
        traffic.cancellation.cancel()
    }

    /// Starts a child. Its stdout and stderr are delivered to `onOutput`, one line at a time, on
    /// the supervisor's thread (keep `onOutput` quick: a slow one slows the reading of every child).
    func launch(
        _ request: LaunchRequest,
        onOutput: @escaping @Sendable (OutputLine) -> Void
    ) async throws(SpawnError) -> RunningProcess {
        guard !shutDown.load(ordering: .acquiring) else {
            throw SpawnError(step: "spawn: the process supervisor is shut down", code: ESHUTDOWN)
        }
        let spawner = spawners[nextSpawner.add(1, ordering: .relaxed).newValue % spawners.count]
        traffic.queued.add(1, ordering: .relaxed)
        let spawned = try await spawner.spawn(request, stdin: devNull, traffic: traffic)
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let completion = OneShot<ProcessExit>()
        let taken = send(
            .register(
                ChildRegistration(
                    id: id,
                    pid: spawned.pid,
                    pidfd: spawned.pidfd,
                    stdout: spawned.stdout,
                    stderr: spawned.stderr,
                    startedAt: spawned.startedAt,
                    timeout: request.timeout,
                    killGrace: request.killGrace,
                    onOutput: onOutput,
                    completion: completion
                )
            )
        )
        guard taken else {
            // Shut down while this one was being spawned: nobody would reap it.
            _ = dcrond_kill_group(spawned.pid, SIGKILL)
            var exited: Int32 = 0
            var code: Int32 = 0
            var signaled: Int32 = 0
            var ready = pollfd(fd: spawned.pidfd, events: Int16(POLLIN), revents: 0)
            _ = poll(&ready, 1, 5000)
            _ = dcrond_pidfd_reap(spawned.pidfd, &exited, &code, &signaled)
            for fd in [spawned.pidfd, spawned.stdout, spawned.stderr] { close(fd) }
            throw SpawnError(step: "spawn: the process supervisor is shut down", code: ESHUTDOWN)
        }
        return RunningProcess(
            pid: spawned.pid,
            startedAtNanoseconds: spawned.startedAtNanoseconds,
            id: id,
            completion: completion,
            supervisor: self
        )
    }

    /// Queues a command for the watcher; false once it has shut down (nothing will handle it).
    @discardableResult
    func send(_ command: Command) -> Bool {
        let queued = commands.withLock { commands in
            guard commands.open else { return false }
            commands.queue.append(command)
            return true
        }
        guard queued else { return false }
        var one: UInt64 = 1
        // Fails only with the eventfd's counter at its maximum (EAGAIN): a wake-up is pending then.
        _ = write(wakeDescriptor, &one, 8)
        return true
    }

    /// The queued commands, up to and including a `shutdown`, after which no more are taken.
    fileprivate func takeCommands() -> [Command] {
        var drained: UInt64 = 0
        // Nonblocking: EAGAIN means no wake-up was pending, and there is nothing to undo.
        _ = read(wakeDescriptor, &drained, 8)
        return commands.withLock { commands in
            defer { commands.queue.removeAll(keepingCapacity: true) }
            if let last = commands.queue.firstIndex(where: { if case .shutdown = $0 { true } else { false } }) {
                commands.open = false
                return Array(commands.queue[...last])
            }
            return commands.queue
        }
    }

    fileprivate var epoll: Int32 { epollDescriptor }
    fileprivate var startTraffic: StartTraffic { traffic }
    fileprivate var wake: Int32 { wakeDescriptor }
}

struct ChildRegistration: Sendable {
    let id: UInt64
    let pid: Int32
    let pidfd: Int32
    let stdout: Int32
    let stderr: Int32
    let startedAt: ContinuousClock.Instant
    let timeout: Duration?
    let killGrace: Duration
    let onOutput: @Sendable (OutputLine) -> Void
    let completion: OneShot<ProcessExit>
}

/// Runs `dcrond_spawn` on a thread of its own: the parent thread is suspended until the child
/// executes (CLONE_VFORK), which must not hold the caller's or the watcher's thread.
private actor Spawner {
    private let executor: DedicatedThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    init(index: Int) {
        executor = DedicatedThreadExecutor(name: "dcrond-spawn-\(index)")
    }

    /// Its thread ends once the spawns queued before this are done.
    nonisolated func shutdown() { executor.shutdown() }

    struct Spawned: Sendable {
        let pid: Int32
        let pidfd: Int32
        let stdout: Int32
        let stderr: Int32
        let startedAt: ContinuousClock.Instant
        let startedAtNanoseconds: Int64
    }

    /// Spawns `request` once its `notBefore` has come, unless the starts are cancelled first.
    fileprivate func spawn(
        _ request: LaunchRequest,
        stdin: Int32,
        traffic: StartTraffic
    ) throws(SpawnError) -> Spawned {
        defer { traffic.ended() }
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        let outStatus = dcrond_pipe_cloexec(&outPipe)
        guard outStatus == 0 else { throw SpawnError(step: "pipe", code: outStatus) }
        let errStatus = dcrond_pipe_cloexec(&errPipe)
        guard errStatus == 0 else {
            close(outPipe[0])
            close(outPipe[1])
            throw SpawnError(step: "pipe", code: errStatus)
        }
        // Before the wait: the child's set-up is then a dozen system calls.
        let resetSignals = dcrond_signals_not_default_recent()
        var startedAt = ContinuousClock.now
        var startedAtNanoseconds: Int64 = 0
        var cancelled = false
        var pid: pid_t = 0
        var pidfd: Int32 = -1
        var step: Int32 = 0
        let status = withCStrings(request.arguments) { argv in
            withCStrings(request.environment) { envp in
                let groups = request.identity?.supplementaryGroups ?? []
                return groups.withUnsafeBufferPointer { groupBuffer in
                    request.executable.withCString { path in
                        withOptionalCString(request.workingDirectory) { directory in
                            var spawnRequest = dcrond_spawn_request(
                                path: path,
                                argv: argv,
                                envp: envp,
                                working_directory: directory,
                                stdin_fd: stdin,
                                stdout_fd: outPipe[1],
                                stderr_fd: errPipe[1],
                                change_identity: request.identity == nil ? 0 : 1,
                                uid: request.identity?.uid ?? 0,
                                gid: request.identity?.gid ?? 0,
                                groups: groupBuffer.baseAddress,
                                group_count: groupBuffer.count,
                                umask: request.umask,
                                descriptor_soft_limit: DescriptorLimit.forChildren.soft,
                                descriptor_hard_limit: DescriptorLimit.forChildren.hard,
                                reset_signals: resetSignals,
                                not_before: request.notBefore ?? 0,
                                cancelled: traffic.cancellation.childFlag,
                                cancelled_too: request.cancellation?.childFlag
                            )
                            // Everything is ready. The thread waits until just before the
                            // instant; the child, cloned and set up, waits for the rest, so that
                            // at the instant only its exec is left.
                            if let notBefore = request.notBefore {
                                guard
                                    Self.wait(
                                        until: notBefore - Self.childWaits,
                                        unless: {
                                            traffic.cancellation.isCancelled
                                                || request.cancellation?.isCancelled == true
                                        }
                                    )
                                else {
                                    cancelled = true
                                    return ECANCELED
                                }
                            }
                            let status = dcrond_spawn(&spawnRequest, &pid, &pidfd, &step)
                            // The child executes (CLONE_VFORK): the run's start.
                            startedAt = ContinuousClock.now
                            startedAtNanoseconds = realtimeNanoseconds()
                            if status == ECANCELED, step == Int32(DCROND_SPAWN_STEP_WAIT.rawValue) { cancelled = true }
                            return status
                        }
                    }
                }
            }
        }
        close(outPipe[1])
        close(errPipe[1])
        guard status == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            if cancelled { throw SpawnError(step: "spawn: cancelled before its instant", code: ECANCELED) }
            throw SpawnError(step: spawnStepDescription(step, request), code: status)
        }
        for fd in [outPipe[0], errPipe[0]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return Spawned(
            pid: pid,
            pidfd: pidfd,
            stdout: outPipe[0],
            stderr: errPipe[0],
            startedAt: startedAt,
            startedAtNanoseconds: startedAtNanoseconds
        )
    }
}

/// What the spawner threads tell the watcher: how many launches are queued, and when the last
/// spawn ended. While spawns follow one another with more queued (many runs due at once), the
/// watcher leaves exits and output for after them: with two cores and the children's execs to
/// run, every reap, read and record done meanwhile delays the next start, and none of them is
/// urgent for a few hundred milliseconds (a pipe holds 64 KiB; a writer blocks, it loses nothing).
private final class StartTraffic: Sendable {
    let queued = Atomic<Int>(0)
    let lastEnded = Atomic<Int64>(0)
    /// Every waiting start's: ``ProcessSupervisor/cancelWaitingStarts()``.
    let cancellation = StartCancellation()

    /// A gap longer than this between spawns ends a burst (one spawn takes 0.1–0.5 ms here).
    static let burstGap: Int64 = 2_000_000

    func ended() {
        lastEnded.store(monotonicNanoseconds(), ordering: .relaxed)
        queued.subtract(1, ordering: .relaxed)
    }

    /// Spawns are under way with more queued behind them.
    func inBurst(at now: Int64) -> Bool {
        queued.load(ordering: .relaxed) > 0 && now - lastEnded.load(ordering: .relaxed) < Self.burstGap
    }
}

extension Spawner {
    /// The last part of a wait for `notBefore`, left to the child (nanoseconds): more than a clone
    /// and a child's set-up take, little enough that a child exists only briefly before its exec.
    static let childWaits: Int64 = 2_000_000

    /// Sleeps on this thread until the wall clock reads `unixNanoseconds` (an absolute sleep
    /// follows a clock that is set), in slices of at most 10 ms so that `cancelled` is seen; false
    /// if it was. The timer slack is 1 µs, as for the scheduler's own timer.
    fileprivate static func wait(until unixNanoseconds: Int64, unless cancelled: () -> Bool) -> Bool {
        dcrond_set_timer_slack(1000)
        while true {
            if cancelled() { return false }
            let now = realtimeNanoseconds()
            if now >= unixNanoseconds || unixNanoseconds - now > ProcessSupervisor.longestWait { return true }
            let wake = min(unixNanoseconds, now + 10_000_000)
            var at = timespec(tv_sec: Int(wake / 1_000_000_000), tv_nsec: Int(wake % 1_000_000_000))
            _ = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, nil)  // EINTR: checked again above
        }
    }
}

private func spawnStepDescription(_ step: Int32, _ request: LaunchRequest) -> String {
    switch UInt32(step) {
    case DCROND_SPAWN_STEP_CLONE.rawValue: "clone"
    case DCROND_SPAWN_STEP_SETSID.rawValue: "setsid"
    case DCROND_SPAWN_STEP_SIGNALS.rawValue: "resetting signals"
    case DCROND_SPAWN_STEP_STDIO.rawValue: "redirecting stdio"
    case DCROND_SPAWN_STEP_SETGROUPS.rawValue: "setgroups"
    case DCROND_SPAWN_STEP_SETGID.rawValue: "setgid \(request.identity?.gid ?? 0)"
    case DCROND_SPAWN_STEP_SETUID.rawValue: "setuid \(request.identity?.uid ?? 0)"
    case DCROND_SPAWN_STEP_CHDIR.rawValue: "chdir \(request.workingDirectory ?? "")"
    case DCROND_SPAWN_STEP_CLOSE.rawValue: "closing descriptors"
    case DCROND_SPAWN_STEP_WAIT.rawValue: "waiting for the instant"
    default: "exec \(request.executable)"
    }
}

/// The watcher loop and its state: touched only on the supervisor's thread.
private final class Watcher: @unchecked Sendable {
    // @unchecked Sendable: created on one thread and then used only by `run()`, on the watcher's.
    let supervisor: ProcessSupervisor

    final class Child {
        let registration: ChildRegistration
        var exited = false
        /// The streams' pipes are open (descriptor numbers are reused once closed: never trust one
        /// without this).
        var stdoutOpen = true
        var stderrOpen = true
        var timeoutDeadline: ContinuousClock.Instant?
        var killDeadline: ContinuousClock.Instant?
        /// After the main process exited with its pipes still held (by processes it left in the
        /// background): when the pipes are closed, so that orphans cannot hold the daemon's
        /// descriptors for ever.
        var outputDeadline: ContinuousClock.Instant?
        var timedOut = false
        var terminated = false
        var stdout = LineSplitter(stream: .stdout)
        var stderr = LineSplitter(stream: .stderr)

        init(_ registration: ChildRegistration) {
            self.registration = registration
            timeoutDeadline = registration.timeout.map { registration.startedAt + $0 }
        }
    }

    /// By id; and each open descriptor's number, to its child.
    var children: [UInt64: Child] = [:]
    var descriptors: [Int32: Child] = [:]
    /// Descriptors epoll refused: looked at every ``pollInterval`` instead.
    var polled: Set<Int32> = []
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    /// ``ProcessSupervisor/shutdown()`` was asked: the loop ends after this round of commands.
    var stopping = false

    init(supervisor: ProcessSupervisor) { self.supervisor = supervisor }

    func run() {
        // Allocated once: passing a Swift array as `&events` made it copy its buffer at every
        // wait, and heaptrack found each copy kept (800 bytes per wake, ~1.7 KB per run).
        let capacity = 64
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        events.initialize(repeating: epoll_event(), count: capacity)
        var heldSince: Int64?
        while true {
            let now = ContinuousClock.now
            handleDeadlines(now)
            // A burst of starts: exits are reaped and output read as ever (every descriptor held
            // costs each spawn: a child closes all the daemon's before its exec), but the runs
            // are told of their ends only after it, for at most ``maximumHold`` at a time.
            let monotonic = monotonicNanoseconds()
            if supervisor.startTraffic.inBurst(at: monotonic),
                monotonic - (heldSince ?? monotonic) < Self.maximumHold
            {
                if heldSince == nil { heldSince = monotonic }
                holdingCompletions = true
            } else {
                heldSince = nil
                holdingCompletions = false
                for (completion, exit) in heldCompletions { completion.fulfill(exit) }
                heldCompletions.removeAll(keepingCapacity: true)
            }
            let timeout =
                nextDeadline().map { deadline -> Int32 in
                    let wait = deadline - now
                    return wait <= .zero ? 0 : Int32(min(60_000, wait.seconds * 1000 + 1))
                } ?? -1
            var pollTimeout = polled.isEmpty ? timeout : Int32(Self.pollInterval.wholeMilliseconds)
            // Looks again at the burst within 2 ms while completions are held.
            if holdingCompletions { pollTimeout = pollTimeout < 0 ? 2 : min(pollTimeout, 2) }
            let count = epoll_wait(
                supervisor.epoll,
                events,
                Int32(capacity),
                timeout < 0 ? pollTimeout : min(timeout, pollTimeout)
            )
            for fd in polled { handle(ready: fd) }
            if count < 0 { continue }  // EINTR
            for index in 0..<Int(count) {
                let event = events[index]
                let fd = Int32(truncatingIfNeeded: event.data.u64)
                if fd == supervisor.wake {
                    for command in supervisor.takeCommands() { handle(command) }
                    if stopping {
                        finish()
                        events.deallocate()
                        return
                    }
                } else {
                    handle(ready: fd)
                }
            }
        }
    }

    /// The longest a burst of starts holds back the runs' completions (then they are delivered).
    static let maximumHold: Int64 = 500_000_000
    var holdingCompletions = false
    var heldCompletions: [(OneShot<ProcessExit>, ProcessExit)] = []

    /// How often a descriptor that epoll could not take is looked at.
    static let pollInterval = Duration.milliseconds(100)

    /// A child's pidfd or pipe is ready (or, for a polled one, may be).
    func handle(ready fd: Int32) {
        guard let child = descriptors[fd] else { return }
        if fd == child.registration.pidfd {
            reap(child)
        } else if (fd == child.registration.stdout && child.stdoutOpen)
            || (fd == child.registration.stderr && child.stderrOpen)
        {
            drain(fd, child)
        }
    }

    func handle(_ command: ProcessSupervisor.Command) {
        switch command {
        case .register(let registration):
            let child = Child(registration)
            children[registration.id] = child
            var failure: Int32?
            for fd in [registration.pidfd, registration.stdout, registration.stderr] {
                descriptors[fd] = child
                var event = epoll_event(
                    events: EPOLLIN.rawValue,
                    data: epoll_data_t(u64: UInt64(UInt32(bitPattern: fd)))
                )
                if epoll_ctl(supervisor.epoll, EPOLL_CTL_ADD, fd, &event) != 0 {
                    // ENOMEM, or ENOSPC at fs.epoll.max_user_watches: without a fallback the run
                    // would never be reaped and its pipes never read. Polled instead.
                    failure = errno
                    polled.insert(fd)
                }
            }
            if let failure {
                let text =
                    "[dcrond: cannot watch this run (epoll_ctl: \(errnoDescription(failure))): "
                    + "its end and output are polled every \(Self.pollInterval.wholeMilliseconds) ms]"
                registration.onOutput(OutputLine(stream: .stderr, text: text, truncated: false))
            }
        case .shutdown:
            stopping = true
        case .terminate(let id, let grace, let signal):
            guard let child = children[id] else { return }
            if !child.exited { child.terminated = true }
            signalGroup(child, signal)
            child.timeoutDeadline = nil
            let deadline = ContinuousClock.now + grace
            child.killDeadline = min(child.killDeadline ?? deadline, deadline)
        }
    }

    func signalGroup(_ child: Child, _ signal: Int32) {
        // The group outlives its leader while its other members run; ESRCH means it is gone.
        _ = dcrond_kill_group(child.registration.pid, signal)
    }

    func handleDeadlines(_ now: ContinuousClock.Instant) {
        for child in children.values {
            if let deadline = child.timeoutDeadline, deadline <= now {
                child.timeoutDeadline = nil
                if !child.exited {
                    child.timedOut = true
                    signalGroup(child, SIGTERM)
                    child.killDeadline = now + child.registration.killGrace
                }
            }
            if let deadline = child.killDeadline, deadline <= now {
                child.killDeadline = nil
                signalGroup(child, SIGKILL)
                forgetIfDone(child)
            }
            if let deadline = child.outputDeadline, deadline <= now {
                child.outputDeadline = nil
                closeOutput(child)
            }
        }
    }

    /// Stops reading a child's output: what arrived so far is delivered, then one line that says
    /// why the rest is not, and both pipes are closed (a writer left behind gets EPIPE).
    func closeOutput(_ child: Child) {
        let registration = child.registration
        var closed = false
        for fd in [registration.stdout, registration.stderr] {
            let isStdout = fd == registration.stdout
            guard isStdout ? child.stdoutOpen : child.stderrOpen else { continue }
            drain(fd, child)
            if isStdout ? child.stdoutOpen : child.stderrOpen {
                closeStream(fd, child)
                closed = true
            }
        }
        if closed {
            registration.onOutput(
                OutputLine(
                    stream: .stderr,
                    text: """
                        [dcrond: output no longer read: processes the run left in the background still held it \
                        \(formatDuration(registration.killGrace)) (killGrace) after its main process exited]
                        """,
                    truncated: false
                )
            )
        }
        forgetIfDone(child)
    }

    func nextDeadline() -> ContinuousClock.Instant? {
        var earliest: ContinuousClock.Instant?
        for child in children.values {
            for deadline in [child.timeoutDeadline, child.killDeadline, child.outputDeadline] {
                if let deadline, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
            }
        }
        return earliest
    }

    func reap(_ child: Child) {
        let registration = child.registration
        var exited: Int32 = 0
        var code: Int32 = 0
        var signaled: Int32 = 0
        let result = dcrond_pidfd_reap(registration.pidfd, &exited, &code, &signaled)
        guard result != 0 else { return }  // still running
        release(registration.pidfd)
        child.exited = true
        child.timeoutDeadline = nil
        // Everything the process wrote before it exited is in the pipes now.
        if child.stdoutOpen { drain(registration.stdout, child) }
        if child.stderrOpen { drain(registration.stderr, child) }
        if child.stdoutOpen || child.stderrOpen { child.outputDeadline = ContinuousClock.now + registration.killGrace }
        let termination: ProcessTermination =
            result < 0 ? .exited(-1) : (signaled != 0 ? .signaled(code) : .exited(code))
        let exit = ProcessExit(
            termination: termination,
            timedOut: child.timedOut,
            terminated: child.terminated,
            duration: ContinuousClock.now - registration.startedAt
        )
        if holdingCompletions {
            heldCompletions.append((registration.completion, exit))
        } else {
            registration.completion.fulfill(exit)
        }
        forgetIfDone(child)
    }

    /// Reads what is available (up to 1 MiB per call, to stay fair between children); closes the
    /// pipe at end of file.
    func drain(_ fd: Int32, _ child: Child) {
        let isStdout = fd == child.registration.stdout
        var budget = 1 << 20
        while budget > 0 {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                budget -= count
                buffer.withUnsafeBytes { bytes in
                    let chunk = UnsafeRawBufferPointer(rebasing: bytes[0..<count])
                    if isStdout {
                        child.stdout.feed(chunk, child.registration.onOutput)
                    } else {
                        child.stderr.feed(chunk, child.registration.onOutput)
                    }
                }
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
            // End of file (or a read error on our own pipe): no writer is left.
            closeStream(fd, child)
            forgetIfDone(child)
            return
        }
    }

    /// Delivers the stream's unfinished last line and closes its pipe.
    func closeStream(_ fd: Int32, _ child: Child) {
        if fd == child.registration.stdout {
            child.stdout.finish(child.registration.onOutput)
            child.stdoutOpen = false
        } else {
            child.stderr.finish(child.registration.onOutput)
            child.stderrOpen = false
        }
        release(fd)
    }

    /// Leaves the epoll set explicitly, then closes: a child being cloned at this moment holds a
    /// copy of the descriptor, and epoll would otherwise keep reporting the old file under a
    /// number that may already name a new one.
    func release(_ fd: Int32) {
        descriptors[fd] = nil
        // A polled descriptor was never added; closing removes the others from the set anyway.
        if polled.remove(fd) == nil { epoll_ctl(supervisor.epoll, EPOLL_CTL_DEL, fd, nil) }
        close(fd)
    }

    /// The end of ``ProcessSupervisor/shutdown()``: every child left is killed, reaped and read
    /// to the end, and every descriptor of theirs closed.
    func finish() {
        for child in Array(children.values) {
            if !child.exited {
                child.terminated = true
                signalGroup(child, SIGKILL)
                // SIGKILL cannot be caught or ignored: the leader is gone within moments.
                var ready = pollfd(fd: child.registration.pidfd, events: Int16(POLLIN), revents: 0)
                _ = poll(&ready, 1, 5000)
                reap(child)
            }
            let registration = child.registration
            for fd in [registration.stdout, registration.stderr]
            where fd == registration.stdout ? child.stdoutOpen : child.stderrOpen {
                drain(fd, child)
                if fd == registration.stdout ? child.stdoutOpen : child.stderrOpen { closeStream(fd, child) }
            }
            if !child.exited { release(registration.pidfd) }
        }
        children = [:]
        for (completion, exit) in heldCompletions { completion.fulfill(exit) }
        heldCompletions = []
    }

    func forgetIfDone(_ child: Child) {
        if child.exited && !child.stdoutOpen && !child.stderrOpen && child.killDeadline == nil {
            children[child.registration.id] = nil
        }
    }
}

/// Splits a byte stream into lines of at most ``ProcessSupervisor/maximumLineLength`` bytes.
struct LineSplitter {
    let stream: OutputLine.Stream
    private var pending: [UInt8] = []
    /// Dropping the rest of a line that was too long.
    private var discarding = false

    init(stream: OutputLine.Stream) { self.stream = stream }

    mutating func feed(_ raw: UnsafeRawBufferPointer, _ emit: (OutputLine) -> Void) {
        guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let limit = ProcessSupervisor.maximumLineLength
        var start = 0
        while start < raw.count {
            let found: UnsafeMutableRawPointer? = memchr(base + start, 10, raw.count - start)
            var end = raw.count
            if let found { end = UnsafeRawPointer(found) - UnsafeRawPointer(base) }
            if discarding {
                if found != nil { discarding = false }
            } else {
                let room = limit - pending.count
                let take = min(end - start, room)
                pending.append(contentsOf: UnsafeBufferPointer(start: base + start, count: take))
                if end - start > room {
                    flush(emit, truncated: true)
                    discarding = found == nil
                } else if found != nil {
                    flush(emit, truncated: false)
                }
            }
            start = end + (found == nil ? 0 : 1)
        }
    }

    mutating func finish(_ emit: (OutputLine) -> Void) {
        if !pending.isEmpty { flush(emit, truncated: false) }
        discarding = false
    }

    private mutating func flush(_ emit: (OutputLine) -> Void, truncated: Bool) {
        emit(OutputLine(stream: stream, text: String(decoding: pending, as: UTF8.self), truncated: truncated))
        pending.removeAll(keepingCapacity: pending.capacity <= 4096)
    }
}

/// A value delivered once to any number of waiters.
final class OneShot<Value: Sendable>: Sendable {
    private let state = Mutex<(value: Value?, waiters: [CheckedContinuation<Value, Never>])>((nil, []))

    /// The first value given is the one every waiter gets; later ones are ignored (a race between
    /// an answer and its timeout fulfils from both sides).
    func fulfill(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    var isFulfilled: Bool { state.withLock { $0.value != nil } }

    var value: Value {
        get async {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Value? in
                    if let value = state.value { return value }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}

func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGHUP: "SIGHUP"
    case SIGINT: "SIGINT"
    case SIGQUIT: "SIGQUIT"
    case SIGILL: "SIGILL"
    case SIGABRT: "SIGABRT"
    case SIGBUS: "SIGBUS"
    case SIGFPE: "SIGFPE"
    case SIGKILL: "SIGKILL"
    case SIGSEGV: "SIGSEGV"
    case SIGPIPE: "SIGPIPE"
    case SIGALRM: "SIGALRM"
    case SIGTERM: "SIGTERM"
    case SIGUSR1: "SIGUSR1"
    case SIGUSR2: "SIGUSR2"
    default: "signal \(signal)"
    }
}

/// Calls `body` with a NULL-terminated C array of the strings, freed afterwards.
func withCStrings<Result>(
    _ strings: [String],
    _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Result
) -> Result {
    var pointers = strings.map { strdup($0) } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeMutableBufferPointer { body(UnsafePointer($0.baseAddress!)) }
}

func withOptionalCString<Result>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> Result) -> Result {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
