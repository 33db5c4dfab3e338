#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Delays that grow exponentially from `initial` up to `maximum`, with "equal jitter": each delay
/// is half the exponential value plus a random part of the other half, so many nodes that failed
/// together do not retry together, and no delay is shorter than half the nominal one.
package struct ExponentialBackoff: Sendable, Hashable {
    var initial: Duration
    var maximum: Duration
    var multiplier: Double

    init(initial: Duration, maximum: Duration, multiplier: Double = 2) {
        precondition(initial > .zero && maximum >= initial && multiplier >= 1)
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
    }

    /// The delay before attempt `retry` (1 for the first retry).
    func delay(forRetry retry: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let nominal = nominalDelay(forRetry: retry)
        let half = nominal / 2
        let jitter = Double.random(in: 0...1, using: &generator)
        return half + half * jitter
    }

    func delay(forRetry retry: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(forRetry: retry, using: &generator)
    }

    /// The delay without jitter: `initial × multiplier^(retry-1)`, capped at `maximum`.
    func nominalDelay(forRetry retry: Int) -> Duration {
        let exponent = Double(max(0, retry - 1))
        let seconds = initial.seconds * pow(multiplier, exponent)
        return seconds >= maximum.seconds ? maximum : .nanoseconds(Int64(seconds * 1e9))
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    package var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
