import Logging
import Synchronization

/// Takes this node's won claims out of Redis's `starting` once their runs have started, a few
/// at a time, off the path of the starts.
///
/// A claim is entered in `starting` by the claim script itself, so there is no moment at which an
/// instant is claimed and not accounted for: either its run started (and the mark removed it), or
/// the claim is still in `starting` under the process that won it. The missed-run check reports
/// the instants whose claim is still there after the grace while that process is gone (a crash or
/// a SIGKILL between the claim and the start, the window that starting ahead of the instant,
/// ``Daemon/startLead``, widens). The mark trails the start: marks go in one `HDEL` per batch
/// whenever none is in flight, so a burst of 1,000 starts costs a handful of commands.
final class StartMarks: Sendable {
    private struct State {
        var queued: [ClaimRequest] = []
        var flushing = false
        var failing = false
    }

    private let store: any ClaimStore
    private let logger: Logger
    private let batchLimit: Int
    private let queueLimit: Int
    private let state = Mutex(State())

    init(store: any ClaimStore, logger: Logger, batchLimit: Int = 1024, queueLimit: Int = 100_000) {
        self.store = store
        self.logger = logger
        self.batchLimit = batchLimit
        self.queueLimit = queueLimit
    }

    /// The run of a won claim started, failed to start or was skipped after its claim (each of
    /// which is logged and recorded): its claim leaves `starting`. Called once per won claim.
    func mark(_ request: ClaimRequest) {
        let leads = state.withLock { state -> Bool in
            state.queued.append(request)
            if state.queued.count > queueLimit { state.queued.removeFirst(state.queued.count - queueLimit) }
            guard !state.flushing else { return false }
            state.flushing = true
            return true
        }
        // Not a stored task: it ends when nothing is queued.
        if leads { Task { await self.flush() } }
    }

    /// Nothing queued and nothing in flight.
    var isIdle: Bool { state.withLock { $0.queued.isEmpty && !$0.flushing } }

    private func flush() async {
        while true {
            let batch = state.withLock { state -> [ClaimRequest] in
                let batch = Array(state.queued.prefix(batchLimit))
                state.queued.removeFirst(batch.count)
                if batch.isEmpty { state.flushing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await store.markStarted(batch)
                let recovered = state.withLock { state -> Bool in
                    defer { state.failing = false }
                    return state.failing
                }
                if recovered { logger.info("start marks reach Redis again") }
            } catch {
                let first = state.withLock { state -> Bool in
                    // Back in front, in order: sent again once Redis answers.
                    state.queued.insert(contentsOf: batch, at: 0)
                    if state.queued.count > queueLimit { state.queued.removeLast(state.queued.count - queueLimit) }
                    defer { state.failing = true }
                    return !state.failing
                }
                if first {
                    logger.warning(
                        "cannot mark started runs in Redis; retrying (until then the missed-run check waits for this node)",
                        metadata: ["runs": "\(batch.count)", "error": "\(error)"]
                    )
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
