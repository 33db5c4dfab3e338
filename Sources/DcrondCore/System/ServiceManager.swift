import CSystemd
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The service manager that supervises this process (systemd with `Type=notify`), told through
/// `sd_notify(3)`: readiness, a status line, the watchdog's keep-alive, reloads and the stop.
///
/// Without `$NOTIFY_SOCKET` (a shell, a test, another supervisor) every call does nothing. The
/// watchdog is on when `$WATCHDOG_USEC` is set for this process (`WatchdogSec=` in the unit);
/// the keep-alive must come from the scheduling loop itself, so that a stuck loop is restarted.
final class ServiceManager: Sendable {
    /// How often the manager wants `WATCHDOG=1`, if it wants it at all. Keep-alives are sent at
    /// half that interval, as `sd_watchdog_enabled(3)` advises.
    let watchdogInterval: Duration?
    /// A manager listens (`$NOTIFY_SOCKET` is set).
    let isSupervised: Bool
    private let lastStatus = Mutex<String?>(nil)

    /// Reads the environment once: call before ``ProcessEnvironment/scrub(keeping:)``, which keeps
    /// these variables anyway.
    init() {
        isSupervised = getenv("NOTIFY_SOCKET") != nil
        var microseconds: UInt64 = 0
        if sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 {
            watchdogInterval = .microseconds(Int64(microseconds))
        } else {
            watchdogInterval = nil
        }
    }

    /// The table is loaded and the first pool attempt was made.
    func ready(status: String) { send(["READY=1", "STATUS=\(status)"], status: status) }

    /// A reload began; ``ready(status:)`` ends it (a rejected one included: the old table runs).
    func reloading() {
        let microseconds = monotonicNanoseconds() / 1000
        send(
            ["RELOADING=1", "MONOTONIC_USEC=\(microseconds)", "STATUS=reloading the configuration"],
            status: "reloading the configuration"
        )
    }

    /// The stop began. `needs` is how long the daemon may still take (running jobs' grace and
    /// kill grace): the manager's stop timeout is extended to it, so that `TimeoutStopSec` and
    /// `shutdownGrace` cannot contradict each other.
    func stopping(status: String, needs: Duration?) {
        var assignments = ["STOPPING=1", "STATUS=\(status)"]
        if let needs { assignments.append("EXTEND_TIMEOUT_USEC=\(max(1, needs.wholeMicroseconds))") }
        send(assignments, status: status)
    }

    /// A new status line; nothing is sent if it did not change.
    func status(_ text: String) {
        guard isSupervised,
            lastStatus.withLock({ previous in
                defer { previous = text }
                return previous != text
            })
        else { return }
        send(["STATUS=\(text)"], status: nil)
    }

    /// The watchdog's keep-alive. Only the scheduling loop calls it.
    func keepAlive() {
        guard watchdogInterval != nil else { return }
        send(["WATCHDOG=1"], status: nil)
    }

    private func send(_ assignments: [String], status: String?) {
        guard isSupervised else { return }
        if let status { lastStatus.withLock { $0 = status } }
        // A failed send (the manager went away) changes nothing for the daemon: not worth a log.
        _ = sd_notify(0, assignments.joined(separator: "\n"))
    }
}

extension Duration {
    var wholeMicroseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}
