import Synchronization
import Testing

@testable import DcrondCore

/// A send that records each batch and, while `held`, waits until released.
private final class RecordingSend: Sendable {
    let batches = Mutex<[[Int]]>([])
    let gate = Mutex<(held: Bool, waiters: [CheckedContinuation<Void, Never>])>((true, []))
    let failing = Mutex<Set<Int>>([])

    func send(_ items: [Int]) async throws -> [String] {
        let first = batches.withLock { batches in
            batches.append(items)
            return batches.count == 1
        }
        if first {
            await withCheckedContinuation { continuation in
                let wait = gate.withLock { gate in
                    if gate.held { gate.waiters.append(continuation) }
                    return gate.held
                }
                if !wait { continuation.resume() }
            }
        }
        if !failing.withLock({ $0.isDisjoint(with: items) }) { throw RedisServerError(message: "ERR batch failed") }
        return items.map { "result-\($0)" }
    }

    func release() {
        let waiters = gate.withLock { gate in
            gate.held = false
            defer { gate.waiters = [] }
            return gate.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

@Suite("Group commit of claims and run records")
struct GroupCommitTests {
    /// Waits (a real wait on a real task, bounded) until `condition` holds.
    private func eventually(_ condition: () -> Bool) async {
        for _ in 0..<2_000 where !condition() { try? await Task.sleep(for: .milliseconds(1)) }
    }

    @Test("a submission to an idle batcher goes at once; those made meanwhile go together, each gets its own results")
    func batches() async throws {
        let send = RecordingSend()
        let commit = GroupCommit<Int, String>(limit: 100) { try await send.send($0) }
        async let first = commit.submit([0])
        await eventually { send.batches.withLock { $0.count } == 1 }
        // The first batch is in flight: these wait for it.
        let later = Task {
            try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
                for item in 1...50 { group.addTask { (item, try await commit.submit([item, item + 1000])) } }
                var answers: [Int: [String]] = [:]
                for try await (item, results) in group { answers[item] = results }
                return answers
            }
        }
        await eventually { send.gate.withLock { $0.waiters.count } == 1 }
        try await Task.sleep(for: .milliseconds(50))  // let all 50 submissions queue
        send.release()
        #expect(try await first == ["result-0"])
        let answers = try await later.value
        for item in 1...50 { #expect(answers[item] == ["result-\(item)", "result-\(item + 1000)"]) }
        let batches = send.batches.withLock { $0 }
        #expect(
            batches.count == 2,
            "the 50 submissions made during the first batch went as one: \(batches.map(\.count))"
        )
        #expect(batches.dropFirst().first?.count == 100)
        #expect(commit.sent.batches == 2 && commit.sent.items == 101)
    }

    @Test("a batch holds at most `limit` items; a larger submission goes alone")
    func limit() async throws {
        let send = RecordingSend()
        send.release()
        let commit = GroupCommit<Int, String>(limit: 3) { try await send.send($0) }
        #expect(try await commit.submit(Array(0..<7)) == (0..<7).map { "result-\($0)" })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for item in 10..<30 { group.addTask { _ = try await commit.submit([item]) } }
            try await group.waitForAll()
        }
        let sizes = send.batches.withLock { $0.map(\.count) }
        #expect(sizes.first == 7)
        #expect(sizes.dropFirst().allSatisfy { $0 <= 3 })
        #expect(sizes.reduce(0, +) == 27)
    }

    @Test("a failed batch fails each of its submitters, and only them")
    func failure() async throws {
        let send = RecordingSend()
        send.failing.withLock { $0 = [5] }
        let commit = GroupCommit<Int, String>(limit: 100) { try await send.send($0) }
        async let first = commit.submit([0])
        await eventually { send.batches.withLock { $0.count } == 1 }
        let failed = Task { try await commit.submit([5]) }
        let alsoFailed = Task { try await commit.submit([6]) }
        await eventually { send.gate.withLock { $0.waiters.count } == 1 }
        try await Task.sleep(for: .milliseconds(50))
        send.release()
        #expect(try await first == ["result-0"])
        await #expect(throws: RedisServerError.self) { try await failed.value }
        await #expect(throws: RedisServerError.self) { try await alsoFailed.value }
        #expect(try await commit.submit([7]) == ["result-7"])
    }
}
