import Synchronization

/// Attempts that could not start a process on this node (spawn failures: descriptors used up,
/// a working directory that is gone, ...), kept for a minute so that the node can say so in
/// `dcrond status` (published with its heartbeat) instead of looking healthy while nothing starts.
package final class StartFailures: Sendable {
    private struct Failure: Sendable {
        let at: ContinuousClock.Instant
        let job: String
        let message: String
    }

    private let failures = Mutex<[Failure]>([])
    static let window = Duration.seconds(60)
    private static let kept = 100

    init() {}

    func record(job: String, message: String) {
        let now = ContinuousClock.now
        failures.withLock { failures in
            failures.removeAll { now - $0.at > Self.window }
            if failures.count >= Self.kept { failures.removeFirst() }
            failures.append(Failure(at: now, job: job, message: message))
        }
    }

    /// `3 in the last minute; last: job backup: pipe: Too many open files (EMFILE)`, or nil.
    func summary(now: ContinuousClock.Instant = .now) -> String? {
        failures.withLock { failures in
            let recent = failures.filter { now - $0.at <= Self.window }
            guard let last = recent.last else { return nil }
            return
                "\(recent.count == Self.kept ? "\(Self.kept)+" : String(recent.count)) in the last minute; last: job \(last.job): \(shortened(last.message, limit: 200))"
        }
    }
}
