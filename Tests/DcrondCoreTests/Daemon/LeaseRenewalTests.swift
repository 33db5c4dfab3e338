import Logging
import Synchronization
import Testing

@testable import DcrondCore

/// The renewal policy with a fake renewal of our own: what Redis answers, and when, is scripted.
///
/// Other unit tests run beside these and may hold both threads of the cooperative pool for a
/// while, so each test waits for what it expects (up to 10 s) instead of for a fixed time, and
/// bounds are set where the old behaviour and the right one are seconds apart.
@Suite("lease renewal: when a run holding an overlap lease is ended")
struct LeaseRenewalTests {
    struct TestFailure: Error {}

    /// What the fake renewal answers to its n-th call (from 0), after how long.
    typealias Script = @Sendable (Int) -> (delay: Duration, result: Result<(Bool, Bool), TestFailure>)

    /// When each renewal was sent and each termination asked for, from the start (when the lease
    /// was taken), and the send times of the renewals that succeeded, as they were answered.
    struct Trace: Sendable {
        var calls: [Duration] = []
        var terminations: [Duration] = []
        var confirmed: [(sentAt: Duration, answeredAt: Duration)] = []

        /// How long after the last confirmation it knew of (or the lease's taking) the run was
        /// ended: never less than the deadline. A loaded machine may delay the renewals, never
        /// the other way round.
        var unconfirmedAtTermination: Duration? {
            guard let at = terminations.first else { return nil }
            // An answer only just before the end may not have reached the renewal yet; the
            // renewal takes its send time a moment before the fake does (the 1 ms below).
            return at - (confirmed.filter { $0.answeredAt + .milliseconds(50) <= at }.map(\.sentAt).max() ?? .zero)
        }
    }

    /// Runs a renewal under `script` until `done` holds of its trace (or 10 s pass) and `settle`
    /// more, then stops it.
    private func renewal(
        _ script: @escaping Script,
        deadline: Duration,
        until done: (Trace) -> Bool,
        settle: Duration = .zero
    ) async -> Trace {
        let start = ContinuousClock.now
        let trace = Mutex(Trace())
        let over = Atomic(false)
        let renewal = LeaseRenewal(
            renew: {
                let sentAt = ContinuousClock.now - start
                let n = trace.withLock { trace in
                    defer { trace.calls.append(sentAt) }
                    return trace.calls.count
                }
                let (delay, result) = script(n)
                // Not cancellable, as a blocked hiredis call is not; it gives up when the test ends.
                let until = ContinuousClock.now + delay
                while ContinuousClock.now < until, !over.load(ordering: .relaxed) {
                    try? await Task.sleep(for: .milliseconds(5))
                }
                let (held, stop) = try result.get()
                trace.withLock { $0.confirmed.append((sentAt, ContinuousClock.now - start)) }
                return (held, stop)
            },
            terminate: { trace.withLock { $0.terminations.append(ContinuousClock.now - start) } },
            acquiredAt: start,
            heartbeat: .milliseconds(100),
            deadline: deadline,
            retryDelay: .milliseconds(20),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            metadata: [:]
        )
        let task = Task { await renewal.run() }
        let limit = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < limit, !done(trace.withLock { $0 }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        try? await Task.sleep(for: settle)
        task.cancel()
        over.store(true, ordering: .relaxed)
        return trace.withLock { $0 }
    }

    @Test("an attempt that hangs is not waited for: the run is ended a deadline after the last renewal was sent")
    func hungAttempt() async {
        // Renewed once, then an attempt that fails only after 30 s (a reconnect whose every step
        // answers just inside its timeout, or a link that trickles): the lease may expire 400 ms +
        // grace + margin after that renewal, so waiting for the failure leaves the run going past it.
        let trace = await renewal(
            { n in n == 0 ? (.zero, .success((true, false))) : (.seconds(30), .failure(TestFailure())) },
            deadline: .milliseconds(400),
            until: { !$0.terminations.isEmpty }
        )
        #expect(trace.terminations.count == 1, "terminated while the attempt hung")
        if let unconfirmed = trace.unconfirmedAtTermination {
            #expect(unconfirmed >= .milliseconds(399), "ended \(unconfirmed) after the last renewal it knew of")
        }
    }

    @Test("attempts that succeed slowly still end the run when none is confirmed within the deadline")
    func slowSuccesses() async {
        // Each renewal answers after 450 ms: confirmed renewals are sent 550 ms apart, more than the
        // 400 ms deadline, so the holder cannot know that its lease lives.
        let trace = await renewal(
            { n in n == 0 ? (.zero, .success((true, false))) : (.milliseconds(450), .success((true, false))) },
            deadline: .milliseconds(400),
            until: { !$0.terminations.isEmpty }
        )
        #expect(trace.terminations.count == 1, "terminated although every renewal succeeded, late")
        if let unconfirmed = trace.unconfirmedAtTermination {
            #expect(unconfirmed >= .milliseconds(399), "ended \(unconfirmed) after the last renewal it knew of")
        }
    }

    @Test("failures shorter than the deadline are retried and ridden out")
    func blip() async {
        // Fails from the 2nd to the 6th call (20 ms retries: about 150 ms), then renews again.
        let trace = await renewal(
            { n in (1...5).contains(n) ? (.milliseconds(10), .failure(TestFailure())) : (.zero, .success((true, false)))
            },
            deadline: .seconds(5),
            until: { $0.calls.count >= 9 }
        )
        #expect(trace.terminations.isEmpty)
        #expect(trace.calls.count >= 9, "retried after the failures, then renewed every heartbeat")
    }

    @Test("a lost lease ends the run at once and stops renewing")
    func lost() async {
        let trace = await renewal(
            { n in n < 2 ? (.zero, .success((true, false))) : (.zero, .success((false, false))) },
            deadline: .seconds(30),
            until: { !$0.terminations.isEmpty },
            settle: .milliseconds(300)
        )
        #expect(trace.terminations.count == 1, "terminated long before the 30 s deadline")
        #expect(trace.calls.count == 3, "no renewal after the lease was found lost")
    }

    @Test("a stop asked for by a newer run ends the run; the lease is renewed while it ends")
    func stopRequested() async {
        let trace = await renewal(
            { n in (.zero, .success((true, n == 1))) },
            deadline: .seconds(30),
            until: { $0.calls.count >= 4 }
        )
        #expect(trace.terminations.count == 1)
        #expect(trace.calls.count >= 4, "renewed after the stop was asked for")
    }
}
