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
