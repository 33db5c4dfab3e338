import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A node's state in the pool.
enum NodeState: String, Sendable, Hashable {
    /// On the ring: owns jobs.
    case active
    /// Alive but off the ring (upgrade, maintenance, shutdown): owns nothing, keeps running what it started.
    case draining
}

struct PoolMember: Sendable, Hashable {
    let id: String
    let state: NodeState
    /// Its placement weight; nil for a node of a version before weights (the pool then keeps the
    /// ring, see ``Placement``).
    let weight: Int?

    init(id: String, state: NodeState, weight: Int? = 1) {
        self.id = id
        self.state = state
        self.weight = weight
    }
}

/// A node id that another live process holds.
struct NodeIDInUse: Error, CustomStringConvertible {
    let node: String
    let pid: String
    let host: String
    /// Unix milliseconds.
    let startedAt: Int64

    var description: String {
        "node id \"\(node)\" is already in use by pid \(pid) on host \(host) (started \(formatInstant(startedAt / 1000, offset: 0))): "
            + "give each process its own \"node\" in dcrond.json, or stop the other one"
    }
}

/// What a node's pool reports to the daemon besides membership, each called on the pool's executor.
package struct PoolHooks: Sendable {
    /// The claim history Redis reported with a heartbeat (generation, sequence).
    var history: @Sendable (Int64, Int64) -> Void = { _, _ in }
    /// The node id is held by another live process: the pool has stopped; the daemon must exit.
    var idInUse: @Sendable (NodeIDInUse) -> Void = { _ in }
    /// Whether the daemon's scheduling loop is stuck: then the node heartbeats as `draining`, so the
    /// others take its jobs, until it runs again.
    var schedulerStuck: @Sendable () -> String? = { nil }
    /// Runs this node could not start lately (``StartFailures/summary(now:)``), published with
    /// each heartbeat for `dcrond status`.
    var startFailures: @Sendable () -> String? = { nil }
    /// A message on the cluster's `control` channel (operator requests).
    var control: (@Sendable (String) -> Void)?

    init() {}
}

/// The pool as a node last saw it.
package struct PoolView: Sendable, Equatable {
    /// Bumped in Redis by every membership change.
    let epoch: Int64
    /// Every live node, active or draining, sorted by id.
    let members: [PoolMember]
    /// Who owns what: the placement of the active nodes.
    let placement: Placement

    static let empty = PoolView(epoch: 0, members: [], placement: Placement(nodes: []))

    /// The placement of `members`' active nodes (the ring of `virtualNodes` while one of them is
    /// of a version before weights).
    static func placement(of members: [PoolMember], virtualNodes: Int) -> Placement {
        Placement(
            members: members.filter { $0.state == .active }.map { Placement.Member(id: $0.id, weight: $0.weight) },
            virtualNodes: virtualNodes
        )
    }
}

/// Settings of the pool, from the daemon configuration.
package struct PoolSettings: Sendable {
    var cluster: String
    var node: String
    var heartbeat: Duration
    var nodeTimeout: Duration
    /// Used only while a node of a version before weights is active (``Placement``).
    var virtualNodes: Int
    /// This node's share of the jobs relative to the others' (``Placement``).
    var weight: Int
    /// Warn when this node's clock and Redis's differ by more.
    var clockOffsetWarning: Duration

    package init(
        cluster: String,
        node: String,
        heartbeat: Duration = .seconds(1),
        nodeTimeout: Duration = .seconds(3),
        virtualNodes: Int = 160,
        weight: Int = 1,
        clockOffsetWarning: Duration = .seconds(1)
    ) {
        self.cluster = cluster
        self.node = node
        self.heartbeat = heartbeat
        self.nodeTimeout = nodeTimeout
        self.virtualNodes = virtualNodes
        self.weight = weight
        self.clockOffsetWarning = clockOffsetWarning
    }
}

/// What a node publishes about itself with every heartbeat (`dcrond status` shows it).
package struct NodeDescription: Sendable, Hashable {
    var version = DcrondVersion.current
    var pid = Int(getpid())
    var host = Accounts.hostName()
    /// Unix milliseconds.
    var startedAt = realtimeNanoseconds() / 1_000_000
    /// Tells this process apart from another one started with the same node id.
    var instance = NodeDescription.newInstance()
    var fingerprint: String
    var timeZone: String
    package init(fingerprint: String, timeZone: String) {
        self.fingerprint = fingerprint
        self.timeZone = timeZone
    }

    static func newInstance() -> String { String(UInt64.random(in: 0...UInt64.max), radix: 16) }
}

/// This node's membership in its cluster's pool in Redis.
///
/// - Every `heartbeat` one script refreshes the node and reads the live members (no `SCAN`).
/// - The node's identity is its configured id: after its key expired (Redis restarted empty, a long
///   pause, a partition) the next heartbeat registers it again under the same id.
/// - **Fencing**: the node is out of the pool, owning nothing, whenever its last acknowledged
///   heartbeat was *sent* more than `nodeTimeout` ago on its own monotonic clock. Its key in Redis
///   expires no earlier than that (the TTL starts when Redis runs the script, after the send), so
///   a node stops owning jobs before any other node can see it gone.
/// - The ring holds the `active` members and is rebuilt only when membership changes.
package actor NodePool {
    nonisolated let settings: PoolSettings
    private let redis: RedisClient
    private let keys: ClusterKeys
    private let logger: Logger
    private var description: NodeDescription
    private let onChange: @Sendable (PoolView, _ rejoined: Bool) -> Void
    private let hooks: PoolHooks
    /// When another process was first seen holding this node id (a crashed predecessor's key lives
    /// on for the node timeout, so that is waited out before giving up).
    private var conflictSince: ContinuousClock.Instant?
    private var stuckLogged = false

    private var wantedState = NodeState.active
    private(set) var lastAcknowledgedSend: ContinuousClock.Instant?
    private var loop: Task<Void, Never>?
    /// Fulfilled once the first heartbeat was attempted, whatever its result.
    private let firstHeartbeat = OneShot<Void>()
    private var subscriber: MembershipSubscriber?
    private var offsetWarned = false
    private var fenceLogged = false
    private var ringLogged = false

    /// The pool as last seen (it may be stale: use ``ownership()`` for decisions).
    private(set) var view = PoolView.empty
    /// Times this node came back into the pool after being fenced (its first join not counted).
    private(set) var rejoinsAfterFencing = 0
    /// Redis's clock minus this node's, measured at the last heartbeat.
    private(set) var clockOffset: Duration?

    /// `onChange` is called (on the pool's executor) each time the members or their states change
    /// (`rejoined` false), and when this node is back in the pool after being fenced (`rejoined`
    /// true: whatever it owns, it owns anew).
    package init(
        settings: PoolSettings,
        redis: RedisClient,
        description: NodeDescription,
        logger: Logger = Logger(label: "dcrond.pool"),
        hooks: PoolHooks = PoolHooks(),
        onChange: @escaping @Sendable (PoolView, _ rejoined: Bool) -> Void = { _, _ in }
    ) {
        self.settings = settings
        self.redis = redis
        self.keys = ClusterKeys(cluster: settings.cluster)
        self.logger = logger
        self.description = description
        self.onChange = onChange
        self.hooks = hooks
    }

    /// Starts heartbeating every `heartbeat`, the first one at once.
    /// Returns once the first heartbeat after ``start()`` was attempted (joined, fenced or failed):
    /// what readiness waits for.
    func firstAttempt() async { await firstHeartbeat.value }

    func start() {
        guard loop == nil else { return }
        // Another node's join, leave or drain wakes this one at once (a heartbeat now).
        subscriber = MembershipSubscriber(
            endpoint: redis.endpoint,
            channel: keys.membershipChannel,
            controlChannel: hooks.control == nil ? nil : keys.controlChannel,
            logger: logger,
            onControl: hooks.control ?? { _ in }
        ) { [weak self] epoch in
            guard let self else { return }
            Task { await self.heardEpoch(epoch) }
        }
        loop = Task { [settings] in
            var next = ContinuousClock.now
            while !Task.isCancelled {
                await self.heartbeat()
                self.firstHeartbeat.fulfill(())
                next += settings.heartbeat
                let now = ContinuousClock.now
                if next < now { next = now }  // after a pause: no burst of catch-up heartbeats
                try? await Task.sleep(until: next, clock: .continuous)
            }
        }
    }

    /// Stops heartbeating without leaving: the node disappears when its key expires (as after a crash).
    func stop() {
        loop?.cancel()
        loop = nil
        subscriber?.stop()
        subscriber = nil
    }

    private func heardEpoch(_ epoch: Int64) async {
        guard loop != nil, epoch != view.epoch else { return }
        await heartbeat()
    }

    /// Whether this node is fenced right now (see the type's documentation).
    func isFenced(at now: ContinuousClock.Instant = .now) -> Bool {
        guard let sent = lastAcknowledgedSend else { return true }
        return now - sent > settings.nodeTimeout
    }

    /// The ring to decide ownership with, or nil while this node is fenced or not active: then it
    /// owns nothing.
    func ownership() -> Placement? {
        if case .owner(let placement) = standing() { return placement }
        return nil
    }

    /// Where this node stands: on the ring, fenced (it may be back soon), or off the ring while
    /// reachable (draining, or not yet seen active).
    enum Standing: Sendable {
        case owner(Placement)
        case fenced
        case inactive
    }

    func standing() -> Standing {
        if isFenced() { return .fenced }
        guard wantedState == .active, view.placement.nodes.contains(settings.node) else { return .inactive }
        return .owner(view.placement)
    }

    /// This node is off the ring by an operator's drain (`dcrond drain`).
    var isDraining: Bool { wantedState == .draining }

    /// The pool as last seen, or nil while this node is fenced (its view may be stale).
    func currentView() -> PoolView? { isFenced() ? nil : view }

    /// The owner of `job` on the current ring, nil if this node is fenced.
    func owner(of job: String) -> String? {
        guard !isFenced() else { return nil }
        return view.placement.owner(of: job)
    }

    /// Moves this node off the ring (`true`) or back on it, from the next heartbeat (sent at once).
    func setDraining(_ draining: Bool) async {
        wantedState = draining ? .draining : .active
        await heartbeat()
    }

    func updateFingerprint(_ fingerprint: String) {
        description.fingerprint = fingerprint
    }

    /// Leaves the pool at once (graceful shutdown): stops heartbeating and removes the node, so
    /// the others rebuild their rings on their next heartbeat instead of after the timeout.
    func leave() async {
        stop()
        lastAcknowledgedSend = nil
        do {
            let reply = try await redis.evaluate(
                MembershipScripts.leave,
                keys: [keys.members, keys.states, keys.epoch, keys.node(settings.node)],
                arguments: [settings.node, keys.membershipChannel]
            )
            if case .error(let error) = reply {
                logger.error("leaving the pool failed: \(error.message)", metadata: ["node": "\(settings.node)"])
            } else {
                logger.info("left the pool", metadata: ["node": "\(settings.node)", "epoch": "\(reply.integer ?? 0)"])
            }
        } catch {
            logger.warning(
                "could not leave the pool (Redis unreachable); the node drops out when its key expires",
                metadata: ["error": "\(error)"]
            )
        }
    }

    /// One heartbeat. Returns whether it was acknowledged.
    @discardableResult
    package func heartbeat() async -> Bool {
        var state = wantedState
        if let stuck = hooks.schedulerStuck() {
            state = .draining
            if !stuckLogged {
                stuckLogged = true
                logger.error(
                    "\(stuck); heartbeating as draining so the other nodes take this node's jobs",
                    metadata: ["node": "\(settings.node)"]
                )
            }
        } else if stuckLogged {
            stuckLogged = false
            logger.info(
                "the scheduling loop runs again; back to \(wantedState.rawValue)",
                metadata: ["node": "\(settings.node)"]
            )
        }
        let sentAt = ContinuousClock.now
        let sentWallClock = realtimeNanoseconds()
        let ttl = settings.nodeTimeout.wholeMilliseconds
        var arguments: [any RedisArgument] = [
            settings.node, ttl, state.rawValue, keys.membershipChannel, description.instance, keys.nodePrefix,
        ]
        let offsetMilliseconds = clockOffset.map { Int64($0.seconds * 1000) } ?? 0
        for (field, value) in [
            ("version", description.version), ("pid", String(description.pid)), ("host", description.host),
            ("startedAt", String(description.startedAt)), ("fingerprint", description.fingerprint),
            ("timezone", description.timeZone), ("clockOffsetMs", String(offsetMilliseconds)),
            ("weight", String(settings.weight)),
        ] + (hooks.startFailures().map { [("startFailures", $0)] } ?? []) {
            arguments.append(field)
            arguments.append(value)
        }
        let reply: RedisReply
        do {
            reply = try await redis.evaluate(
                MembershipScripts.heartbeat,
                keys: [
                    keys.members, keys.states, keys.epoch, keys.node(settings.node), keys.drain(settings.node),
                    keys.history,
                ],
                arguments: arguments
            )
        } catch {
            logFenceIfNeeded(error: "\(error)")
            return false
        }
        let receivedWallClock = realtimeNanoseconds()
        if let parts = reply.array, parts.count == 4, parts[0].string == "conflict" {
            idInUse(
                NodeIDInUse(
                    node: settings.node,
                    pid: parts[1].string ?? "?",
                    host: parts[2].string ?? "?",
                    startedAt: parts[3].string.flatMap { Int64($0) } ?? 0
                )
            )
            return false
        }
        conflictSince = nil
        guard let parts = reply.array, parts.count == 8, let generation = parts[5].integer,
            let sequence = parts[6].integer,
            let seconds = parts[0].string.flatMap({ Int64($0) }),
            let microseconds = parts[1].string.flatMap({ Int64($0) }),
            let epoch = parts[2].integer, let ids = parts[3].array, let states = parts[4].array,
            let weights = parts[7].array, ids.count == states.count, ids.count == weights.count
        else {
            logger.error("unexpected heartbeat reply: \(reply)")
            return false
        }
        hooks.history(generation, sequence)
        let wasFenced = isFenced()
        let firstJoin = lastAcknowledgedSend == nil
        lastAcknowledgedSend = sentAt
        fenceLogged = false
        if wasFenced {
            if !firstJoin { rejoinsAfterFencing += 1 }
            logger.info(
                firstJoin ? "joined the pool" : "back in the pool after being fenced",
                metadata: ["node": "\(settings.node)", "epoch": "\(epoch)"]
            )
        }

        // Redis's clock against ours, at the middle of the round trip.
        let redisNanoseconds = seconds * 1_000_000_000 + microseconds * 1000
        let offset = Duration.nanoseconds(redisNanoseconds - (sentWallClock + receivedWallClock) / 2)
        clockOffset = offset
        let tooFar = abs(offset.seconds) > settings.clockOffsetWarning.seconds
        if tooFar != offsetWarned {
            offsetWarned = tooFar
            if tooFar {
                logger.warning(
                    "this node's clock is \(Int64(offset.seconds * 1000)) ms off Redis's; schedules run by the wall clock of each node, so keep clocks in sync (NTP)",
                    metadata: ["node": "\(settings.node)"]
                )
            } else {
                logger.info(
                    "this node's clock is back within \(formatDuration(settings.clockOffsetWarning)) of Redis's"
                )
            }
        }

        let known = Dictionary(view.members.map { ($0.id, $0.weight) }, uniquingKeysWith: { first, _ in first })
        let members = zip(ids, zip(states, weights)).compactMap { id, entry -> PoolMember? in
            guard let id = id.string else { return nil }
            let weight: Int?
            switch entry.1.string {
            // An info hash expiring with its member: keep what was known, so that the pool does not
            // flip to the ring and back for one heartbeat.
            case nil: weight = known[id] ?? 1
            case "": weight = nil
            case let text?:
                weight = Int(text).map { min(max($0, Placement.weights.lowerBound), Placement.weights.upperBound) } ?? 1
            }
            return PoolMember(id: id, state: NodeState(rawValue: entry.0.string ?? "") ?? .active, weight: weight)
        }.sorted { $0.id < $1.id }
        if members != view.members {
            let placement = PoolView.placement(of: members, virtualNodes: settings.virtualNodes)
            if case .ring = placement.scheme, !ringLogged {
                ringLogged = true
                logger.warning(
                    "an active node of an older version does not publish a weight: the pool places jobs on the ring of \(settings.virtualNodes) virtual nodes, without weights, until every node is upgraded",
                    metadata: ["nodes": "\(members.filter { $0.weight == nil }.map(\.id).joined(separator: ","))"]
                )
            } else if case .rendezvous = placement.scheme {
                ringLogged = false
            }
            view = PoolView(epoch: epoch, members: members, placement: placement)
            logger.info(
                "pool changed",
                metadata: [
                    "epoch": "\(epoch)", "active": "\(placement.nodes.joined(separator: ","))",
                    "draining": "\(members.filter { $0.state == .draining }.map(\.id).joined(separator: ","))",
                ]
            )
            onChange(view, wasFenced && !firstJoin)
        } else {
            if epoch != view.epoch { view = PoolView(epoch: epoch, members: view.members, placement: view.placement) }
            if wasFenced && !firstJoin { onChange(view, true) }
        }
        return true
    }

    /// Another process holds this node id. A crashed predecessor's key outlives it by up to the node
    /// timeout, so that long is waited out (nothing is written meanwhile); a holder still there after
    /// it keeps heartbeating, and this process gives up without ever having joined under that id.
    private func idInUse(_ conflict: NodeIDInUse) {
        let now = ContinuousClock.now
        guard let since = conflictSince else {
            conflictSince = now
            logger.warning(
                "node id \"\(settings.node)\" is held by pid \(conflict.pid) on host \(conflict.host); waiting up to \(formatDuration(settings.nodeTimeout + settings.heartbeat)) for it to expire"
            )
            return
        }
        guard now - since > settings.nodeTimeout + settings.heartbeat else { return }
        logger.critical("\(conflict)")
        stop()
        hooks.idInUse(conflict)
    }

    private func logFenceIfNeeded(error: String) {
        if isFenced() {
            guard !fenceLogged else { return }
            fenceLogged = true
            logger.error(
                "fenced: no heartbeat acknowledged for more than \(formatDuration(settings.nodeTimeout)); this node owns nothing until one is",
                metadata: [
                    "node": "\(settings.node)", "error": "\(error)", LogEvent.key: "\(LogEvent.nodeFenced.rawValue)",
                ]
            )
        } else {
            logger.warning("heartbeat failed", metadata: ["node": "\(settings.node)", "error": "\(error)"])
        }
    }
}
