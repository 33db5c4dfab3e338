import CDcrondSystem

#if canImport(Glibc)
import Glibc
#endif

/// The wall clock (`CLOCK_REALTIME`), in nanoseconds since the Unix epoch.
package func realtimeNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// `CLOCK_MONOTONIC`, in nanoseconds since an unspecified start: the clock systemd's
/// `MONOTONIC_USEC=` is read against, and one a step of the wall clock does not move.
func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}
