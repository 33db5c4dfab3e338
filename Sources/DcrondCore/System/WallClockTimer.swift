import CDcrondSystem

#if canImport(Glibc)
import Glibc
#endif

/// Waits until a wall-clock instant on a thread of its own, and can be woken early.
///
/// A `timerfd` on `CLOCK_REALTIME` with an absolute deadline and `TFD_TIMER_CANCEL_ON_SET`: the
/// wait ends at the instant within the kernel's timer resolution (timer slack 1 µs), and ends at
/// once with ``Wake/clockChanged`` when the wall clock is stepped (NTP, an operator), so the
/// scheduler can plan again instead of sleeping on a stale interval. Idle, it costs nothing: one
/// thread blocked in `epoll_wait`.
actor WallClockTimer {
    enum Wake: Sendable, Equatable {
        /// The instant came.
        case due
        /// The wall clock was set: re-plan.
        case clockChanged
        /// ``interrupt()`` was called.
        case interrupted
    }

    private let executor = DedicatedThreadExecutor(name: "dcrond-timer")
    private let timer: Int32
    private let wakeup: Int32
    private let epoll: Int32
    private var slackSet = false

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    init() {
        timer = timerfd_create(CLOCK_REALTIME, Int32(TFD_CLOEXEC))
        wakeup = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(
            timer >= 0 && wakeup >= 0 && epoll >= 0,
            "cannot create the wall-clock timer: \(errnoDescription())"
        )
        // Unwatched, the timer would never wake the loop: nothing would run, and nothing would say.
        for fd in [timer, wakeup] {
            var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: UInt64(fd)))
            precondition(
                epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0,
                "cannot set up the wall-clock timer: epoll_ctl: \(errnoDescription())"
            )
        }
    }

    deinit {
        close(timer)
        close(wakeup)
        close(epoll)
        executor.shutdown()
    }

    /// Blocks this actor's thread until `unixNanoseconds` (or a clock change, or an interrupt).
    func wait(until unixNanoseconds: Int64) -> Wake {
        if !slackSet {
            dcrond_set_timer_slack(1000)
            slackSet = true
        }
        var spec = itimerspec()
        spec.it_value = timespec(
            tv_sec: Int(max(0, unixNanoseconds) / 1_000_000_000),
            tv_nsec: Int(max(0, unixNanoseconds) % 1_000_000_000)
        )
        if spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0 { spec.it_value.tv_nsec = 1 }
        guard timerfd_settime(timer, Int32(TFD_TIMER_ABSTIME) | Int32(TFD_TIMER_CANCEL_ON_SET), &spec, nil) == 0 else {
            return .clockChanged
        }
        var event = epoll_event()
        while true {
            let count = epoll_wait(epoll, &event, 1, -1)
            if count < 0 { continue }  // EINTR
            if Int32(truncatingIfNeeded: event.data.u64) == wakeup {
                var value: UInt64 = 0
                // Nonblocking: EAGAIN means no wake-up was pending, and there is nothing to undo.
                _ = read(wakeup, &value, 8)
                return .interrupted
            }
            var expirations: UInt64 = 0
            if read(timer, &expirations, 8) < 0 {
                if errno == ECANCELED { return .clockChanged }
                if errno == EAGAIN || errno == EINTR { continue }
            }
            return .due
        }
    }

    /// Ends the current (or the next) wait early, from any thread.
    nonisolated func interrupt() {
        var one: UInt64 = 1
        // Fails only with the eventfd's counter at its maximum (EAGAIN): a wake-up is pending then.
        _ = write(wakeup, &one, 8)
    }
}
