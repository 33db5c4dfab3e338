import Testing

@testable import DcrondCore

@Suite("Exponential backoff")
struct ExponentialBackoffTests {
    @Test("nominal delays double up to the cap")
    func nominal() {
        let backoff = ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(5))
        #expect(
            (1...8).map { backoff.nominalDelay(forRetry: $0) } == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                .milliseconds(1600), .milliseconds(3200), .seconds(5), .seconds(5),
            ]
        )
        #expect(backoff.nominalDelay(forRetry: 10_000) == .seconds(5))
    }

    @Test("jittered delays stay between half the nominal delay and all of it, and vary")
    func jitter() {
        let backoff = ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(5))
        for retry in 1...10 {
            let nominal = backoff.nominalDelay(forRetry: retry)
            let delays = (0..<200).map { _ in backoff.delay(forRetry: retry) }
            #expect(delays.allSatisfy { $0 >= nominal / 2 && $0 <= nominal })
            #expect(Set(delays).count > 100, "delays must be spread, not identical")
        }
    }
}
