@testable import DcrondCore
import Testing

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

    /// Blocks its thread, as a hiredis call waiting on a dead server does.
    func block(for microseconds: UInt32) { usleep(microseconds) }
}

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

    @Test("a blocked actor leaves the cooperative pool free")
    func blockingDoesNotStarveThePool() async {
        let recorders = [Recorder(), Recorder(), Recorder()]
        // Three actors each block their own thread for 1 s. Were they on the two-thread cooperative
        // pool, both its threads would be held for seconds; on their own threads the pool stays free.
        let started = ContinuousClock.now
        async let blocked: Void = withTaskGroup(of: Void.self) { group in
            for recorder in recorders { group.addTask { await recorder.block(for: 1_000_000) } }
        }
        var poolTicks = 0
        for _ in 0..<10 {
            await Task.yield()
            poolTicks += 1
        }
        let poolFree = ContinuousClock.now - started
        await blocked
        #expect(poolTicks == 10)
        #expect(poolFree < .milliseconds(500), "the cooperative pool was held for \(poolFree)")
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
