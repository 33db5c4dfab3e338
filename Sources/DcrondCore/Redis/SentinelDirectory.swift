import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a process knows of one sentinel group: which sentinel answered last (asked first next
/// time), which master they named, and a **failover epoch** that changes whenever the master
/// changes. Every ``RedisClient`` of a `redis+sentinel://` endpoint compares the epoch before each
/// command and reconnects (asking the sentinels again) when it moved, so no client keeps writing to
/// a master that was replaced.
///
/// One directory per group and process (``shared(for:)``): the pool, claim and subscriber
/// connections of a daemon follow one failover together.
final class SentinelDirectory: Sendable {
    let group: SentinelGroup
    private let state: Mutex<(order: [SentinelGroup.Address], master: SentinelGroup.Address?, watching: Bool)>
    private let epochValue = Atomic<Int>(0)

    private static let registry = Mutex<[SentinelGroup: SentinelDirectory]>([:])

    private init(group: SentinelGroup) {
        self.group = group
        self.state = Mutex((group.sentinels, nil, false))
    }

    /// The directory of `group` in this process.
    static func shared(for group: SentinelGroup) -> SentinelDirectory {
        registry.withLock { directories in
            if let existing = directories[group] { return existing }
            let directory = SentinelDirectory(group: group)
            directories[group] = directory
            return directory
        }
    }

    /// Changes whenever the master changed (a `+switch-master` message, or a lookup that named
    /// another master than the last one).
    var epoch: Int { epochValue.load(ordering: .acquiring) }

    /// The master the sentinels named last, if any lookup succeeded.
    var lastKnownMaster: SentinelGroup.Address? { state.withLock { $0.master } }

    /// Asks the sentinels, in order, for the group's master (`SENTINEL get-master-addr-by-name`);
    /// the first that names one answers and is asked first next time. Blocking: call it only on a
    /// thread of one's own.
    func lookUpMaster(
        options: RedisConnectionOptions,
        label: String
    ) throws(RedisConnectionError) -> SentinelGroup.Address {
        var sentinelOptions = options
        sentinelOptions.clientName = nil
        // A dead sentinel must not hold up the lookup for long: the next one may answer.
        sentinelOptions.connectTimeout = min(options.connectTimeout, .seconds(1))
        sentinelOptions.ioTimeout = min(options.ioTimeout, .seconds(1))
        var reasons: [String] = []
        for sentinel in state.withLock({ $0.order }) {
            do {
                let connection = try HiredisConnection.connect(
                    toSentinel: sentinel,
                    of: group,
                    options: sentinelOptions
                )
                let reply = try connection.execute(RedisCommand("SENTINEL", "get-master-addr-by-name", group.master))
                if case .array(let parts) = reply, parts.count == 2, let host = parts[0].string,
                    let port = parts[1].string.flatMap({ Int($0) })
                {
                    let master = SentinelGroup.Address(host: host, port: port)
                    note(master: master, answeredBy: sentinel)
                    return master
                }
                switch reply {
                case .error(let error):
                    reasons.append("\(sentinel): \(error.message)")
                case .null:
                    reasons.append("\(sentinel): does not monitor a master named \"\(group.master)\"")
                default:
                    reasons.append("\(sentinel): unexpected reply \(reply)")
                }
            } catch {
                reasons.append("\(sentinel): \(error.message)")
            }
        }
        throw RedisConnectionError(
            kind: .sentinel,
            endpoint: label,
            message: "no sentinel named the master \"\(group.master)\" (\(reasons.joined(separator: "; ")))"
        )
    }

    /// Records the master a sentinel named; moves the epoch when it is another than the last.
    private func note(master: SentinelGroup.Address, answeredBy sentinel: SentinelGroup.Address?) {
        let changed = state.withLock { state in
            if let sentinel, let index = state.order.firstIndex(of: sentinel), index > 0 {
                state.order.remove(at: index)
                state.order.insert(sentinel, at: 0)
            }
            let changed = state.master != nil && state.master != master
            state.master = master
            return changed
        }
        if changed { epochValue.add(1, ordering: .releasing) }
    }

    /// Starts (once per process) a thread subscribed to `+switch-master` on one of the sentinels,
    /// so clients drop their connections to a replaced master at once instead of at their next
    /// error. Messages lost while the subscription is down are made up for by a lookup at each
    /// resubscription, and by every client's own lookup when its connection fails.
    func startWatching(logger: Logger) {
        let start = state.withLock { state in
            defer { state.watching = true }
            return !state.watching
        }
        guard start else { return }
        startDetachedThread(name: "dcrond-sentinel") { [self] in
            var options = RedisConnectionOptions()
            // Failovers are rare: a quiet channel is normal. The read timeout only makes the thread
            // resubscribe, which checks the master again.
            options.ioTimeout = .seconds(15)
            var failures = 0
            let backoff = ExponentialBackoff(initial: .milliseconds(200), maximum: .seconds(5))
            while true {
                do {
                    let before = self.lastKnownMaster
                    let master = try self.lookUpMaster(options: options, label: "sentinels of \"\(self.group.master)\"")
                    if let before, before != master {
                        logger.warning(
                            "the sentinels name a new master",
                            metadata: [
                                "master": "\(self.group.master)", "from": "\(before)", "to": "\(master)",
                            ]
                        )
                    }
                    let sentinel = self.state.withLock { $0.order[0] }
                    let connection = try HiredisConnection.connect(
                        toSentinel: sentinel,
                        of: self.group,
                        options: options
                    )
                    _ = try connection.execute(RedisCommand("SUBSCRIBE", "+switch-master"))
                    failures = 0
                    while true {
                        let message = try connection.readReply()
                        // "<name> <old ip> <old port> <new ip> <new port>"
                        guard let parts = message.array, parts.count == 3, parts[0].string == "message",
                            let fields = parts[2].string?.split(separator: " "), fields.count == 5,
                            fields[0] == self.group.master, let port = Int(fields[4])
                        else { continue }
                        let new = SentinelGroup.Address(host: String(fields[3]), port: port)
                        logger.warning(
                            "the sentinels switched master: reconnecting every connection",
                            metadata: [
                                "master": "\(self.group.master)", "from": "\(fields[1]):\(fields[2])", "to": "\(new)",
                                "sentinel": "\(sentinel)",
                            ]
                        )
                        self.note(master: new, answeredBy: nil)
                        // The first lookup may have missed the old master: move the epoch anyway.
                        self.epochValue.add(1, ordering: .releasing)
                    }
                } catch let error as RedisConnectionError where error.kind == .timeout {
                    continue
                } catch {
                    failures += 1
                    if failures == 1 {
                        logger.warning(
                            "cannot watch the sentinels for failovers; retrying",
                            metadata: ["error": "\(error)"]
                        )
                    }
                    let delay = backoff.delay(forRetry: failures)
                    let (seconds, attoseconds) = delay.components
                    var pause = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
                    nanosleep(&pause, nil)
                }
            }
        }
    }
}
