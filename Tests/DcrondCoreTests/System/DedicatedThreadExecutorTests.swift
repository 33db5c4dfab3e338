import Synchronization
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

private actor Recorder {
    let executor = DedicatedThreadExecutor(name: "test-recorder")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    var values: [Int] = []
    var threads: Set<UInt> = []

    func record(_ value: Int) {
        values.append(value)
        threads.insert(UInt(pthread_self()))
        #expect(executor.isCurrentThread)
    }

    /// Blocks its thread, as a hiredis call waiting on a dead server does, until `count` callers
    /// are blocked at once or 10 s pass; returns whether they all were.
    func blockUntil(_ blocked: borrowing Atomic<Int>, reach count: Int) -> Bool {
        blocked.add(1, ordering: .relaxed)
        for _ in 0..<10_000 {
            if blocked.load(ordering: .relaxed) >= count { return true }
            usleep(1000)
        }
        return false
    }
}

private let blockedActors = Atomic<Int>(0)

@Suite("Dedicated-thread executor")
struct DedicatedThreadExecutorTests {
    @Test("an actor on it runs every call on one thread that is not the caller's")
    func oneThread() async {
        let recorder = Recorder()
        for value in 0..<1000 { await recorder.record(value) }
        #expect(await recorder.values == Array(0..<1000))
        #expect(await recorder.threads.count == 1)
        #expect(await !recorder.threads.contains(UInt(pthread_self())))
        #expect(!recorder.executor.isCurrentThread)
    }

    @Test("blocked actors do not hold the cooperative pool")
    func blockingDoesNotStarveThePool() async {
        // Three actors block their threads until all three are blocked at the same time. On the
        // two-thread cooperative pool the third could never start while two others block, and
        // all would give up; on threads of their own they meet. No timing is measured.
        let recorders = [Recorder(), Recorder(), Recorder()]
        let results = await withTaskGroup(of: Bool.self) { group in
            for recorder in recorders { group.addTask { await recorder.blockUntil(blockedActors, reach: 3) } }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == [true, true, true])
    }

    @Test("jobs enqueued after shutdown still run")
    func afterShutdown() async {
        let recorder = Recorder()
        await recorder.record(1)
        recorder.executor.shutdown()
        try? await Task.sleep(for: .milliseconds(20))
        await recorder.record(2)
        #expect(await recorder.values == [1, 2])
    }
}
