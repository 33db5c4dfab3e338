#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A serial executor that runs every job on one thread of its own.
///
/// Actors that make blocking system calls (a hiredis connection blocks in `read(2)` for up to its
/// I/O timeout) use it as their executor, so that the blocking never occupies one of the few threads
/// of Swift's cooperative pool (two on a two-core machine): a stalled Redis must not stall the
/// scheduler.
///
/// Jobs run in the order they were enqueued. The thread exits once ``shutdown()`` has been called
/// and its queue is empty; a job enqueued after that starts a new thread that runs it and exits,
/// so shutting down never strands a task.
final class DedicatedThreadExecutor: SerialExecutor, @unchecked Sendable {
    // @unchecked Sendable: `queue` and `stopping` are only touched with `mutex` held; the mutex and
    // condition live at stable heap addresses for the object's whole lifetime.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var queue: [UnownedJob] = []
    private var stopping = false
    private var thread: pthread_t?
    let name: String

    /// Starts the thread. `name` appears in `top -H` and debuggers (truncated to 15 bytes).
    init(name: String) {
        self.name = name
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
        pthread_mutex_lock(mutex)
        startThreadLocked()
        pthread_mutex_unlock(mutex)
    }

    /// The thread keeps the executor alive while it runs; it drops that reference when it exits.
    private func startThreadLocked() {
        thread = startDetachedThread(name: name) { [self] in runLoop() }
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        pthread_mutex_lock(mutex)
        queue.append(unowned)
        let wake = queue.count == 1
        if thread == nil { startThreadLocked() }
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets the thread exit once its queue is empty.
    func shutdown() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_mutex_unlock(mutex)
        pthread_cond_signal(condition)
    }

    /// Whether the caller runs on this executor's thread.
    var isCurrentThread: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard let thread else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    private func runLoop() {
        var batch: [UnownedJob] = []
        while true {
            pthread_mutex_lock(mutex)
            while queue.isEmpty && !stopping {
                pthread_cond_wait(condition, mutex)
            }
            if queue.isEmpty && stopping {
                thread = nil
                pthread_mutex_unlock(mutex)
                return
            }
            swap(&batch, &queue)
            pthread_mutex_unlock(mutex)
            for job in batch {
                job.runSynchronously(on: asUnownedSerialExecutor())
            }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
