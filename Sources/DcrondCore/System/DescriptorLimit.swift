import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon's `RLIMIT_NOFILE`: raised to the hard limit at start, so that a node with many
/// runs (each holds a pidfd and two pipes) does not hit a soft limit of 1024, while children get
/// back the limit the daemon started with.
enum DescriptorLimit {
    /// The limit the process started with; zero until ``raise()`` ran.
    private static let startedSoft = Atomic<UInt64>(0)
    private static let startedHard = Atomic<UInt64>(0)

    /// Raises the soft limit to the hard one. Returns the soft limit before and after, or nil if
    /// the limit could not be read or set.
    @discardableResult
    static func raise() -> (from: UInt64, to: UInt64)? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        startedSoft.store(UInt64(limit.rlim_cur), ordering: .relaxed)
        startedHard.store(UInt64(limit.rlim_max), ordering: .relaxed)
        let from = UInt64(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return (from, from) }
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return (from, UInt64(limit.rlim_max))
    }

    /// What a child gets: the limit the daemon started with, or (0, 0) (unchanged) if it never raised its own.
    static var forChildren: (soft: UInt64, hard: UInt64) {
        (startedSoft.load(ordering: .relaxed), startedHard.load(ordering: .relaxed))
    }
}
