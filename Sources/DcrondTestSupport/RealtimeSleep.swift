import CDcrondSystem
import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// Suspends the caller until the wall clock reads `unixNanoseconds`.
///
/// The wait is `clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME)` on a thread of its own with a
/// timer slack of 1 µs: it ends within the kernel's timer resolution, and when the wall clock is stepped (NTP, an operator), the kernel moves the wake-up
/// with it instead of sleeping for a stale interval. Returns at once for a time already past.
package func sleepUntilRealtime(_ unixNanoseconds: Int64) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        startDetachedThread(name: "dcrond-sleep") {
            // Runs are due at exact instants: no batching of this wake-up with others.
            dcrond_set_timer_slack(1000)
            var target = timespec(
                tv_sec: Int(unixNanoseconds / 1_000_000_000),
                tv_nsec: Int(unixNanoseconds % 1_000_000_000)
            )
            while clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &target, nil) == EINTR {}
            continuation.resume()
        }
    }
}
