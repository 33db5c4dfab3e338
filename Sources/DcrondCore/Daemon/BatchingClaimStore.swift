import Synchronization

/// A ``ClaimStore`` whose claims asked for at about the same time go to the store together
/// (group commit): while one batch is in flight, the claims asked for meanwhile wait and go as the
/// next one, in one script and one round trip. A single claim on a quiet node goes at once.
///
/// When many jobs are due at the same instant, each run's claim would otherwise be a round trip of
/// its own on the claims connection, one after another: 1,000 jobs, 1,000 round trips, each a
/// context switch on the connection's thread and on the server, on the cores that are starting the
/// runs. Claims are independent compare-and-sets per job, so claiming them in one script decides
/// each exactly as claiming them one by one in that order would. A failed batch fails each of its
/// callers, which retry with the same tokens (a retry of a claim that was in fact written is
/// answered as won).
final class BatchingClaimStore: ClaimStore {
    private let store: any ClaimStore
    private let claims: GroupCommit<ClaimRequest, ClaimResult>
    private let records: GroupCommit<RunRecord, RedisServerError?>

    /// At most `limit` claims per script (Redis runs nothing else while a script runs), and as
    /// many run records per pipeline.
    init(_ store: any ClaimStore, limit: Int = 256) {
        self.store = store
        claims = GroupCommit(limit: limit) { try await store.claim($0) }
        records = GroupCommit(limit: limit) { try await store.record($0) }
    }

    /// Batches sent, and claims in them (for tests and the benchmark's account).
    var claimBatches: (batches: Int, items: Int) { claims.sent }
    var recordBatches: (batches: Int, items: Int) { records.sent }

    func claim(_ requests: [ClaimRequest]) async throws -> [ClaimResult] {
        try await claims.submit(requests)
    }

    func record(_ run: RunRecord) async throws {
        if let error = try await records.submit([run])[0] { throw error }
    }

    func record(_ runs: [RunRecord]) async throws -> [RedisServerError?] {
        try await records.submit(runs)
    }

    /// Batched already (``StartMarks``).
    func markStarted(_ requests: [ClaimRequest]) async throws {
        try await store.markStarted(requests)
    }

    func release(_ request: ClaimRequest, previous: Int64?) async throws -> ClaimRelease {
        try await store.release(request, previous: previous)
    }

    func lastClaimed(_ jobs: [String]) async throws -> ClaimedInstants {
        try await store.lastClaimed(jobs)
    }

    func reportMissed(_ instants: [(job: String, instant: Int64)]) async throws -> [MissedCheck] {
        try await store.reportMissed(instants)
    }

    func sweepNotStarted(through: Int64) async throws -> [NotStartedClaim] {
        try await store.sweepNotStarted(through: through)
    }

    func checkHistory(generation: Int64, sequence: Int64) async {
        await store.checkHistory(generation: generation, sequence: sequence)
    }

    func seenHistory() async -> ClaimHistory {
        await store.seenHistory()
    }
}

/// Group commit: items submitted while a batch is in flight wait and go together as the next
/// one (up to `limit` items; a submission larger than that goes alone); a submission to an idle
/// one goes at once. Each submitter gets its own items' results, or the batch's error.
final class GroupCommit<Item: Sendable, Result: Sendable>: Sendable {
    private struct Waiter {
        let items: [Item]
        let continuation: CheckedContinuation<[Result], any Error>
    }

    private struct State {
        var waiting: [Waiter] = []
        var flushing = false
        var sent = (batches: 0, items: 0)
    }

    private let limit: Int
    private let send: @Sendable ([Item]) async throws -> [Result]
    private let state = Mutex(State())

    init(limit: Int, send: @escaping @Sendable ([Item]) async throws -> [Result]) {
        self.limit = max(1, limit)
        self.send = send
    }

    var sent: (batches: Int, items: Int) { state.withLock { $0.sent } }

    func submit(_ items: [Item]) async throws -> [Result] {
        guard !items.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            let leads = state.withLock { state -> Bool in
                state.waiting.append(Waiter(items: items, continuation: continuation))
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            // Not a stored task: it ends when nothing waits, and every submitter awaits its answer.
            if leads { Task { await self.flush() } }
        }
    }

    /// Sends batches until nothing waits.
    private func flush() async {
        while true {
            let batch = state.withLock { state -> [Waiter] in
                var taken: [Waiter] = []
                var size = 0
                while let next = state.waiting.first, taken.isEmpty || size + next.items.count <= limit {
                    taken.append(next)
                    size += next.items.count
                    state.waiting.removeFirst()
                }
                if taken.isEmpty {
                    state.flushing = false
                } else {
                    state.sent.batches += 1
                    state.sent.items += size
                }
                return taken
            }
            guard !batch.isEmpty else { return }
            let items = batch.flatMap(\.items)
            do {
                let results = try await send(items)
                guard results.count == items.count else {
                    throw RedisServerError(message: "\(results.count) results for a batch of \(items.count)")
                }
                var offset = 0
                for waiter in batch {
                    waiter.continuation.resume(returning: Array(results[offset..<offset + waiter.items.count]))
                    offset += waiter.items.count
                }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}
