import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Listens on the cluster's `membership` channel on a thread and a connection of its own, and
/// calls `onChange` with each published epoch, so a node rebuilds its ring as soon as another node
/// joins, leaves or drains instead of at its next heartbeat. Heartbeats remain the source of
/// truth: a lost message only delays the rebuild to the next heartbeat.
///
/// On the same connection it listens on the `control` channel too (operator requests: `trigger`,
/// `kill`), handed to `onControl` as published; those requests are also kept in Redis and polled,
/// so a lost message only delays them.
final class MembershipSubscriber: Sendable {
    private let stopped = Atomic<Bool>(false)

    init(
        endpoint: RedisEndpoint,
        channel: String,
        controlChannel: String? = nil,
        logger: Logger,
        onControl: @escaping @Sendable (String) -> Void = { _ in },
        onChange: @escaping @Sendable (Int64) -> Void
    ) {
        // The thread holds the subscriber until it ends.
        startDetachedThread(name: "dcrond-membership") { [self] in
            var options = RedisConnectionOptions()
            // Idle channels are normal: a read timeout only makes the thread check whether it should stop.
            options.ioTimeout = .seconds(5)
            options.clientName = "dcrond-membership"
            var failures = 0
            let backoff = ExponentialBackoff(initial: .milliseconds(200), maximum: .seconds(5))
            while !self.stopped.load(ordering: .relaxed) {
                do {
                    let connection = try HiredisConnection.connect(to: endpoint, options: options)
                    // With two channels the second confirmation comes as the next reply (skipped below).
                    _ = try connection.execute(
                        controlChannel.map { RedisCommand("SUBSCRIBE", channel, $0) }
                            ?? RedisCommand("SUBSCRIBE", channel)
                    )
                    failures = 0
                    while !self.stopped.load(ordering: .relaxed) {
                        let message = try connection.readReply()
                        guard let parts = message.array, parts.count == 3, parts[0].string == "message" else {
                            continue
                        }
                        if parts[1].string == channel, let epoch = parts[2].string.flatMap({ Int64($0) }) {
                            onChange(epoch)
                        } else if parts[1].string == controlChannel, let text = parts[2].string {
                            onControl(text)
                        }
                    }
                } catch let error as RedisConnectionError where error.kind == .timeout {
                    continue  // reconnect and subscribe again
                } catch {
                    failures += 1
                    logger.debug("membership subscription lost; retrying", metadata: ["error": "\(error)"])
                    let delay = backoff.delay(forRetry: failures)
                    let (seconds, attoseconds) = delay.components
                    var pause = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
                    nanosleep(&pause, nil)
                }
            }
        }
    }

    /// The thread ends at its next read timeout (within 5 s).
    func stop() { stopped.store(true, ordering: .relaxed) }
}
