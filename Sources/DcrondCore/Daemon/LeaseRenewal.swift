import Logging
import Synchronization

/// Keeps one run's overlap lease renewed while the run lasts, and ends the run when the lease is
/// lost, a `replace` elsewhere asks for it, or no renewal has been confirmed for ``deadline``.
///
/// The lease's TTL is the deadline plus the run's kill grace plus ``RunLeases/margin``, counted
/// from when Redis ran the last renewal, which is no earlier than when it was sent. So the run has
/// to be told to end `deadline` after the last confirmed renewal was *sent*, whatever the attempt
/// in flight is doing: one that is slow to fail, or slow to succeed, must not decide when.
struct LeaseRenewal: Sendable {
    /// One renewal: whether the lease is still this run's, and whether a newer run asks it to stop.
    let renew: @Sendable () async throws -> (held: Bool, stopRequested: Bool)
    /// Ends the run: SIGTERM, then SIGKILL after its kill grace.
    let terminate: @Sendable () async -> Void
    /// When the request that took the lease was sent: the first deadline counts from there.
    let acquiredAt: ContinuousClock.Instant
    /// The wait between renewals that succeed.
    let heartbeat: Duration
    /// How long the run may go on without a confirmed renewal: the node timeout.
    let deadline: Duration
    /// The wait after a failed renewal before the next.
    let retryDelay: Duration
    let logger: Logger
    let metadata: Logger.Metadata

    /// Renews until cancelled, or until the run has been told to end because its lease was lost
    /// or could not be renewed in time.
    func run() async {
        let confirmed = Confirmations(Confirmation(sentAt: acquiredAt))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await renewing(confirmed) }
            group.addTask { await watching(confirmed) }
            // Either ends only when the run has been told to end (or on cancellation): the other
            // has nothing left to do. A renewal in flight is left to finish on its own.
            await group.next()
            group.cancelAll()
        }
    }

    /// The last renewal Redis confirmed, and the failure since, if any.
    private struct Confirmation: Sendable {
        var sentAt: ContinuousClock.Instant
        var failure: String?
    }

    /// Shared by the renewing and the watching task of one run.
    private final class Confirmations: Sendable {
        private let state: Mutex<Confirmation>
        init(_ initial: Confirmation) { state = Mutex(initial) }
        func withLock<T>(_ body: (inout Confirmation) -> T) -> T { state.withLock { body(&$0) } }
    }

    private func renewing(_ confirmed: Confirmations) async {
        var pause = heartbeat
        while !Task.isCancelled {
            try? await Task.sleep(for: pause)
            if Task.isCancelled { break }
            let sentAt = ContinuousClock.now
            do {
                let state = try await renew()
                if Task.isCancelled { break }
                if !state.held {
                    logger.error(
                        "the overlap lease was lost while the run went on: terminating it, so no second copy overlaps",
                        metadata: metadata
                    )
                    await terminate()
                    break
                }
                let previous = confirmed.withLock { confirmation in
                    defer { confirmation = Confirmation(sentAt: sentAt) }
                    return confirmation
                }
                if previous.failure != nil {
                    logger.info(
                        "renewed the overlap lease again; the run went on",
                        metadata: metadata.merging([
                            "unrenewedFor": "\(formatDuration(sentAt - previous.sentAt))"
                        ]) { $1 }
                    )
                }
                pause = heartbeat
                if state.stopRequested {
                    logger.info("terminating: a newer run replaces this one", metadata: metadata)
                    await terminate()
                }
            } catch {
                if Task.isCancelled { break }
                // Retried soon, so a blip is ridden out; warned once per outage.
                pause = min(heartbeat, retryDelay)
                let first = confirmed.withLock { confirmation in
                    defer { confirmation.failure = "\(error)" }
                    return confirmation.failure == nil
                }
                if first {
                    logger.warning(
                        "cannot renew the overlap lease; the run goes on",
                        metadata: metadata.merging(["error": "\(error)"]) { $1 }
                    )
                }
            }
        }
    }

    /// Ends the run once ``deadline`` has passed since the last confirmed renewal was sent, without
    /// waiting for the attempt in flight.
    private func watching(_ confirmed: Confirmations) async {
        while !Task.isCancelled {
            let last = confirmed.withLock { $0 }
            let due = last.sentAt + deadline
            if ContinuousClock.now >= due {
                logger.error(
                    "cannot renew the overlap lease for \(formatDuration(ContinuousClock.now - last.sentAt)): terminating the run before the lease can expire elsewhere",
                    metadata: metadata.merging(["error": "\(last.failure ?? "no answer from Redis")"]) { $1 }
                )
                await terminate()
                return
            }
            try? await Task.sleep(until: due, clock: .continuous)
        }
    }
}
