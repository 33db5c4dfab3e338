import Logging

/// A Redis client that owns one connection and rebuilds it when it breaks.
///
/// Every call runs on the client's own thread (a ``DedicatedThreadExecutor``), because hiredis
/// blocks: a slow or dead server holds that thread for up to the I/O timeout, never one of Swift's
/// cooperative threads. Calls are served one at a time, in the order they arrive.
///
/// Failure semantics:
/// - A server error reply is returned as ``RedisReply/error(_:)``; the connection stays.
/// - A broken connection (closed, timed out, reset) throws ``RedisConnectionError`` and is dropped;
///   the command may or may not have been executed. The next call connects again.
/// - A connection that died while idle (server restarted, `CLIENT KILL`) is noticed before a command
///   is written and replaced first, so that command succeeds.
/// - A `READONLY` reply (the server is a replica now) is thrown as ``RedisConnectionError/Kind/notMaster``
///   and drops the connection: to every caller, a master that stepped down is a master that went away.
/// - For a `redis+sentinel://` endpoint every connect asks the sentinels for the master, and a
///   connection is dropped before use when the group's failover epoch moved (``SentinelDirectory``).
/// - After a failed connect, further calls fail at once with ``RedisConnectionError/Kind/backingOff``
///   until a delay has passed, growing exponentially with jitter up to a cap; so a thousand callers
///   cannot hammer a server that is down. A successful connect resets the delay.
package actor RedisClient {
    nonisolated let endpoint: RedisEndpoint
    nonisolated let options: RedisConnectionOptions
    private let reconnectBackoff: ExponentialBackoff
    private let logger: Logger
    /// The client's own thread (tests check that its calls run there).
    let executor: DedicatedThreadExecutor

    private var connection: HiredisConnection?
    private var failedConnects = 0
    private var nextConnectAllowed: ContinuousClock.Instant?
    private var lastConnectError: RedisConnectionError?
    private var everConnected = false
    private let sentinels: SentinelDirectory?
    /// The failover epoch when the connection was made, and the master it reached.
    private var connectionEpoch = 0
    private var lastPeer: String?

    package nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    package init(
        endpoint: RedisEndpoint,
        options: RedisConnectionOptions = RedisConnectionOptions(),
        reconnectBackoff: ExponentialBackoff = ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(5)),
        logger: Logger = Logger(label: "dcrond.redis")
    ) {
        self.endpoint = endpoint
        self.options = options
        self.reconnectBackoff = reconnectBackoff
        self.logger = logger
        self.executor = DedicatedThreadExecutor(name: "dcrond-redis")
        self.sentinels = endpoint.sentinelGroup.map { SentinelDirectory.shared(for: $0) }
    }

    deinit {
        executor.shutdown()
    }

    /// Sends one command and returns its reply. An `EVALSHA` built with
    /// ``RedisCommand/evaluate(_:keys:arguments:)`` is resent as `EVAL` if the server answers `NOSCRIPT`.
    package func send(_ command: RedisCommand) throws(RedisConnectionError) -> RedisReply {
        let connection = try connected()
        var reply = try guarded { () throws(RedisConnectionError) in try connection.execute(command) }
        if let fallback = command.evalFallback, case .error(let error) = reply, error.code == "NOSCRIPT" {
            reply = try guarded { () throws(RedisConnectionError) in try connection.execute(fallback) }
        }
        try refuseReplica(reply, connection)
        return reply
    }

    /// Sends `command`, then `WAIT replicas timeout` on the same connection, in one round trip.
    /// Returns the command's reply and how many replicas acknowledged every write this connection
    /// made up to it (so the command's own, when it wrote). A new connection after a failure would
    /// count replicas that have seen none of the earlier connection's writes, so both go together.
    func sendAcknowledged(
        _ command: RedisCommand,
        replicas: Int,
        timeout: Duration
    )
        throws(RedisConnectionError) -> (reply: RedisReply, acknowledged: Int)
    {
        let connection = try connected()
        let wait = RedisCommand("WAIT", replicas, timeout.wholeMilliseconds)
        var replies = try guarded { () throws(RedisConnectionError) in
            try connection.execute(pipeline: [command, wait], chunk: 2)
        }
        if let fallback = command.evalFallback, case .error(let error) = replies[0], error.code == "NOSCRIPT" {
            replies = try guarded { () throws(RedisConnectionError) in
                try connection.execute(pipeline: [fallback, wait], chunk: 2)
            }
        }
        try refuseReplica(replies[0], connection)
        try refuseReplica(replies[1], connection)
        guard case .integer(let acknowledged) = replies[1] else {
            throw RedisConnectionError(
                kind: .protocolViolation,
                endpoint: connection.label,
                message: "unexpected reply to WAIT: \(replies[1])"
            )
        }
        return (replies[0], Int(acknowledged))
    }

    package func send(_ arguments: any RedisArgument...) throws(RedisConnectionError) -> RedisReply {
        try send(RedisCommand(arguments))
    }

    /// Sends all commands before reading replies (in chunks of ``RedisConnectionOptions/pipelineChunk``)
    /// and returns one reply per command, in order. Scripts answered with `NOSCRIPT` are resent as
    /// `EVAL` in one more round trip.
    package func pipeline(_ commands: [RedisCommand]) throws(RedisConnectionError) -> [RedisReply] {
        if commands.isEmpty { return [] }
        let connection = try connected()
        var replies = try guarded { () throws(RedisConnectionError) in
            try connection.execute(pipeline: commands, chunk: options.pipelineChunk)
        }
        let unknownScripts = replies.indices.filter { index in
            if case .error(let error) = replies[index], error.code == "NOSCRIPT" {
                return commands[index].script != nil
            }
            return false
        }
        if !unknownScripts.isEmpty {
            let retried = try guarded { () throws(RedisConnectionError) in
                try connection.execute(
                    pipeline: unknownScripts.map { commands[$0].evalFallback! },
                    chunk: options.pipelineChunk
                )
            }
            for (index, reply) in zip(unknownScripts, retried) { replies[index] = reply }
        }
        for reply in replies { try refuseReplica(reply, connection) }
        return replies
    }

    /// Runs a Lua script with `EVALSHA`, falling back to `EVAL` on `NOSCRIPT`.
    func evaluate(
        _ script: RedisScript,
        keys: [any RedisArgument] = [],
        arguments: [any RedisArgument] = []
    ) throws(RedisConnectionError) -> RedisReply {
        try send(.evaluate(script, keys: keys, arguments: arguments))
    }

    /// Closes the connection now; the next call opens a new one.
    func disconnect() {
        connection = nil
    }

    /// `host:port` or the socket of the server the open connection reached (for a sentinel
    /// endpoint, the master they named), nil when not connected.
    var connectedPeer: String? { connection?.peer }

    /// Whether a connection is open (it may still turn out to be dead on the next call).
    var isConnected: Bool { connection != nil }

    /// The socket of the current connection, for tests and diagnostics.
    var fileDescriptor: Int32? { connection?.fileDescriptor }

    /// Whether the caller runs on the client's own thread (it always does inside the actor).
    func runsOnOwnThread() -> Bool { executor.isCurrentThread }

    // MARK: - Connection management

    private func connected() throws(RedisConnectionError) -> HiredisConnection {
        let epoch = sentinels?.epoch ?? 0
        if let connection {
            if epoch != connectionEpoch {
                let was = connection.peer
                logger.info(
                    "the sentinels named a new master; reconnecting",
                    metadata: ["redis": "\(endpoint)", "was": "\(was)"]
                )
                self.connection = nil
            } else if connection.isDeadWhileIdle {
                logger.info("Redis connection closed while idle; reconnecting", metadata: ["redis": "\(endpoint)"])
                self.connection = nil
            } else {
                return connection
            }
        }
        let now = ContinuousClock.now
        // A failover since the last failed connect: the new master may answer now.
        if epoch != connectionEpoch { nextConnectAllowed = nil }
        if let nextConnectAllowed, now < nextConnectAllowed, let lastConnectError {
            let wait = nextConnectAllowed - now
            throw RedisConnectionError(
                kind: .backingOff,
                endpoint: endpoint.description,
                message: "\(lastConnectError.message); next attempt in \(wait.wholeMilliseconds) ms"
            )
        }
        do {
            let connection = try HiredisConnection.connect(to: endpoint, options: options)
            let peer = connection.peer
            if sentinels != nil, lastPeer != peer {
                let was = lastPeer ?? "-"
                logger.notice(
                    "connected to the master the sentinels name",
                    metadata: [
                        "redis": "\(endpoint)", "master": "\(peer)", "was": "\(was)",
                    ]
                )
            } else if failedConnects > 0 || everConnected {
                logger.info(
                    "Redis connection restored",
                    metadata: ["redis": "\(endpoint)", "failedAttempts": "\(failedConnects)"]
                )
            }
            lastPeer = peer
            connectionEpoch = sentinels?.epoch ?? 0
            self.connection = connection
            everConnected = true
            failedConnects = 0
            nextConnectAllowed = nil
            lastConnectError = nil
            return connection
        } catch {
            failedConnects += 1
            let delay = reconnectBackoff.delay(forRetry: failedConnects)
            nextConnectAllowed = ContinuousClock.now + delay
            lastConnectError = error
            connectionEpoch = epoch
            logger.warning(
                "Redis connect failed",
                metadata: [
                    "redis": "\(endpoint)", "error": "\(error.message)",
                    "attempt": "\(failedConnects)", "retryInMs": "\(delay.wholeMilliseconds)",
                ]
            )
            throw error
        }
    }

    /// A `READONLY` error: the server became a replica (a failover demoted it, or the address names
    /// one). Thrown as a lost connection, so callers fence and retry as for any other, and for a
    /// sentinel endpoint the next connect asks the sentinels again.
    private func refuseReplica(_ reply: RedisReply, _ connection: HiredisConnection) throws(RedisConnectionError) {
        guard case .error(let refusal) = reply,
            refusal.code == "READONLY" || refusal.message.contains("-READONLY")
                || refusal.message.contains("READONLY You can't write")
        else { return }
        self.connection = nil
        let peer = connection.peer
        let error = RedisConnectionError(
            kind: .notMaster,
            endpoint: connection.label,
            message: "\(peer) is a replica and refuses writes (\(refusal.message))"
        )
        logger.warning("Redis connection dropped", metadata: ["redis": "\(endpoint)", "error": "\(error.message)"])
        throw error
    }

    /// Runs `body`; a connection error drops the connection so the next call rebuilds it.
    private func guarded<T>(_ body: () throws(RedisConnectionError) -> T) throws(RedisConnectionError) -> T {
        do {
            return try body()
        } catch {
            connection = nil
            logger.warning("Redis connection lost", metadata: ["redis": "\(endpoint)", "error": "\(error.message)"])
            throw error
        }
    }
}

extension RedisClient {
    /// One command, a server error reply thrown (``RedisServerError``) like a broken connection.
    /// (Typed throws are caught here: the Swift 6.3 optimizer crashes on them inside untyped
    /// async throwing functions, so callers of this one never see them.)
    nonisolated func checkedSend(_ command: RedisCommand) async throws -> RedisReply {
        let reply: RedisReply
        do {
            reply = try await send(command)
        } catch {
            throw error as any Error
        }
        if case .error(let error) = reply { throw error as any Error }
        return reply
    }

    /// A pipeline whose first server error reply is thrown.
    nonisolated func checkedPipeline(_ commands: [RedisCommand]) async throws -> [RedisReply] {
        let replies: [RedisReply]
        do {
            replies = try await pipeline(commands)
        } catch {
            throw error as any Error
        }
        for case .error(let error) in replies { throw error as any Error }
        return replies
    }
}
