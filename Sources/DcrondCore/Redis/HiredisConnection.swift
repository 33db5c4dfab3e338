import CDcrondSystem
import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Timeouts and socket options for one connection.
package struct RedisConnectionOptions: Sendable, Hashable {
    /// Bounds the TCP or unix connect.
    package var connectTimeout: Duration = .seconds(2)
    /// Bounds every read and write after the connect (`SO_RCVTIMEO`/`SO_SNDTIMEO`).
    package var ioTimeout: Duration = .seconds(2)
    /// `SO_KEEPALIVE` on TCP connections, so a silently dead peer is found.
    var keepAlive = true
    /// Shown by `CLIENT LIST`; nil leaves the connection unnamed.
    var clientName: String?
    /// Commands sent before replies are read, per chunk of a pipeline: bounds the memory a long
    /// pipeline holds in hiredis's buffers (a few hundred KB for typical commands). 4096 measured
    /// fastest for 10,000 SETs (`dcrond-bench redis --chunk N`); smaller chunks wait more round trips.
    package var pipelineChunk = 4096

    package init() {}
}

/// One blocking hiredis connection, set up for a daemon: close-on-exec, read and write timeouts,
/// keepalive, `AUTH` and `SELECT` done. For a `redis+sentinel://` endpoint, the sentinels are asked
/// for the master first and the server is checked to be one (`ROLE`).
///
/// Not thread-safe and blocking: only ``RedisClient`` uses it, on the client's own thread. Once any
/// call has thrown, the connection is broken and must be discarded.
final class HiredisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    /// What errors name: the endpoint, password masked, and for a sentinel endpoint the master it reached.
    let label: String
    /// `host:port` or the socket path of the server this connection reached.
    let peer: String

    private init(context: UnsafeMutablePointer<redisContext>, label: String, peer: String) {
        self.context = context
        self.label = label
        self.peer = peer
    }

    deinit { redisFree(context) }

    /// Connects, then authenticates and selects the database. A sentinel endpoint's master is
    /// looked up at every connect, so a reconnect follows a failover.
    static func connect(
        to endpoint: RedisEndpoint,
        options: RedisConnectionOptions
    ) throws(RedisConnectionError) -> HiredisConnection {
        ignoreSIGPIPE()
        let label = endpoint.description
        func failure(_ kind: RedisConnectionError.Kind, _ message: String) -> RedisConnectionError {
            RedisConnectionError(kind: kind, endpoint: label, message: message)
        }
        let password = try readPassword(
            file: endpoint.passwordFile,
            inline: endpoint.password,
            what: "password file",
            label: label
        )
        let connection: HiredisConnection
        switch endpoint.address {
        case .tcp(let host, let port):
            connection = try open(host: host, port: port, path: nil, options: options, label: label)
        case .unix(let path):
            connection = try open(host: nil, port: 0, path: path, options: options, label: label)
        case .sentinel(let group):
            let master = try SentinelDirectory.shared(for: group).lookUpMaster(options: options, label: label)
            connection = try open(
                host: master.host,
                port: master.port,
                path: nil,
                options: options,
                label: "\(label) (master \(master))"
            )
        }
        try connection.logIn(username: endpoint.username, password: password)
        if endpoint.database != 0 {
            if case .error(let error) = try connection.execute(RedisCommand("SELECT", endpoint.database)) {
                throw failure(.selectDatabase, "cannot select database \(endpoint.database): \(error.message)")
            }
        }
        if case .sentinel(let group) = endpoint.address {
            // A sentinel's answer can be stale (a failover in progress, a partitioned sentinel):
            // never write to a server that is not a master.
            if case .array(let parts) = try connection.execute(RedisCommand("ROLE")), let role = parts.first?.string,
                role != "master"
            {
                throw RedisConnectionError(
                    kind: .notMaster,
                    endpoint: connection.label,
                    message: "the sentinels named \(connection.peer) as master \"\(group.master)\", but it is a \(role)"
                )
            }
        }
        if let name = options.clientName {
            // A refused name (spaces, old server) is harmless; the connection stays usable.
            _ = try connection.execute(RedisCommand("CLIENT", "SETNAME", name))
        }
        return connection
    }

    /// Connects to a sentinel and logs in with the group's credentials.
    static func connect(
        toSentinel address: SentinelGroup.Address,
        of group: SentinelGroup,
        options: RedisConnectionOptions
    ) throws(RedisConnectionError) -> HiredisConnection {
        ignoreSIGPIPE()
        let label = "sentinel \(address)"
        let password = try readPassword(
            file: group.passwordFile,
            inline: group.password,
            what: "sentinel password file",
            label: label
        )
        let connection = try open(host: address.host, port: address.port, path: nil, options: options, label: label)
        try connection.logIn(username: group.username, password: password)
        return connection
    }

    private static func readPassword(
        file: String?,
        inline: String?,
        what: String,
        label: String
    ) throws(RedisConnectionError) -> String? {
        guard let file else { return inline }
        do {
            let bytes = try FileSystem.readFile(file, limit: 64 << 10)
            return String(decoding: bytes.prefix { $0 != 10 && $0 != 13 }, as: UTF8.self)
        } catch {
            throw RedisConnectionError(kind: .passwordFile, endpoint: label, message: "\(what): \(error)")
        }
    }

    /// A TCP (`path` nil) or unix connection with close-on-exec, the I/O timeout and keepalive set.
    private static func open(
        host: String?,
        port: Int,
        path: String?,
        options: RedisConnectionOptions,
        label: String
    ) throws(RedisConnectionError) -> HiredisConnection {
        func failure(_ kind: RedisConnectionError.Kind, _ message: String) -> RedisConnectionError {
            RedisConnectionError(kind: kind, endpoint: label, message: message)
        }
        let connectTimeout = timeval(options.connectTimeout)
        let raw: UnsafeMutablePointer<redisContext>?
        if let path {
            raw = redisConnectUnixWithTimeout(path, connectTimeout)
        } else {
            raw = redisConnectWithTimeout(host ?? "", Int32(port), connectTimeout)
        }
        guard let raw else { throw failure(.connect, "cannot allocate a connection") }
        // From here on the context is owned by the connection object, which frees it on any throw.
        let peer = path ?? SentinelGroup.Address(host: host ?? "", port: port).description
        let connection = HiredisConnection(context: raw, label: label, peer: peer)
        if raw.pointee.err != 0 {
            let reason = connection.errorString
            let timedOut =
                raw.pointee.err == REDIS_ERR_IO
                && (reason.contains("timed out") || reason.contains("temporarily unavailable"))
            throw failure(
                timedOut ? .timeout : .connect,
                timedOut ? "connect timed out after \(options.connectTimeout)" : "cannot connect: \(reason)"
            )
        }

        // A job forked later must not inherit the socket.
        let fd = raw.pointee.fd
        let flags = fcntl(fd, F_GETFD)
        if flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0 {
            throw failure(.io, "cannot set close-on-exec: \(errnoDescription())")
        }
        // The connect timeout does not bound later reads and writes; this does.
        guard redisSetTimeout(raw, timeval(options.ioTimeout)) == REDIS_OK else {
            throw failure(.io, "cannot set the I/O timeout: \(connection.errorString)")
        }
        if path == nil, options.keepAlive {
            guard redisEnableKeepAlive(raw) == REDIS_OK else {
                throw failure(.io, "cannot enable TCP keepalive: \(connection.errorString)")
            }
        }
        return connection
    }

    private func logIn(username: String?, password: String?) throws(RedisConnectionError) {
        guard let password else { return }
        let auth = username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password)
        if case .error(let error) = try execute(auth) {
            let who = username.map { "user \"\($0)\"" } ?? "the default user"
            throw RedisConnectionError(
                kind: .authentication,
                endpoint: label,
                message: "authentication as \(who) failed: \(error.message)"
            )
        }
    }

    /// The socket, for tests and diagnostics.
    var fileDescriptor: Int32 { context.pointee.fd }

    /// Sends one command and waits for its reply.
    func execute(_ command: RedisCommand) throws(RedisConnectionError) -> RedisReply {
        let reply = withArgv(command) { argc, argv, lengths in
            redisCommandArgv(context, argc, argv, lengths)
        }
        return try take(reply)
    }

    /// Sends the commands in chunks of `chunk`, reading each chunk's replies before the next, and
    /// returns one reply per command in order.
    func execute(pipeline commands: [RedisCommand], chunk: Int) throws(RedisConnectionError) -> [RedisReply] {
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        var start = 0
        while start < commands.count {
            let end = min(start + max(1, chunk), commands.count)
            for index in start..<end {
                let status = withArgv(commands[index]) { argc, argv, lengths in
                    redisAppendCommandArgv(context, argc, argv, lengths)
                }
                guard status == REDIS_OK else { throw connectionError() }
            }
            for _ in start..<end {
                var reply: UnsafeMutableRawPointer?
                guard redisGetReply(context, &reply) == REDIS_OK else { throw connectionError() }
                replies.append(try take(reply))
            }
            start = end
        }
        return replies
    }

    /// Reads the next reply without sending anything (for a subscribed connection).
    func readReply() throws(RedisConnectionError) -> RedisReply {
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(context, &reply) == REDIS_OK else { throw connectionError() }
        return try take(reply)
    }

    /// Whether the server has already closed the connection (or sent something unasked), checked
    /// without blocking before a command is written: a connection that died while idle is then
    /// replaced before use instead of failing the command.
    var isDeadWhileIdle: Bool {
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, 0)
        if ready == 0 { return false }
        if ready < 0 { return errno != EINTR }
        var byte: UInt8 = 0
        let peeked = recv(context.pointee.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if peeked < 0 { return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR }
        // 0: orderly close. > 0: bytes nobody asked for; the stream is out of step.
        return true
    }

    private var errorString: String {
        withUnsafeBytes(of: context.pointee.errstr) { buffer in
            String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private func connectionError() -> RedisConnectionError {
        let code = errno
        let reason = errorString
        let kind: RedisConnectionError.Kind
        switch context.pointee.err {
        case REDIS_ERR_EOF: kind = .closed
        case REDIS_ERR_PROTOCOL: kind = .protocolViolation
        case REDIS_ERR_IO where code == EAGAIN || code == EWOULDBLOCK || code == ETIMEDOUT: kind = .timeout
        case REDIS_ERR_IO where code == EPIPE || code == ECONNRESET: kind = .closed
        default: kind = .io
        }
        let message =
            switch kind {
            case .timeout: "no reply within the I/O timeout"
            case .closed: "the server closed the connection (\(reason))"
            default: reason.isEmpty ? "connection error \(context.pointee.err)" : reason
            }
        return RedisConnectionError(kind: kind, endpoint: label, message: message)
    }

    private func take(_ reply: UnsafeMutableRawPointer?) throws(RedisConnectionError) -> RedisReply {
        guard let reply else { throw connectionError() }
        defer { freeReplyObject(reply) }
        return Self.convert(reply.assumingMemoryBound(to: redisReply.self))
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            return .bulk(Array(UnsafeRawBufferPointer(start: value.str, count: value.len)))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: UnsafeRawBufferPointer(start: value.str, count: value.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(
                RedisServerError(
                    message: String(decoding: UnsafeRawBufferPointer(start: value.str, count: value.len), as: UTF8.self)
                )
            )
        case REDIS_REPLY_INTEGER:
            return .integer(value.integer)
        case REDIS_REPLY_ARRAY:
            return .array((0..<value.elements).map { convert(value.element[$0]!) })
        default:
            return .null
        }
    }

    /// Calls `body` with argc, argv and argvlen pointing into the command's flat storage; argv and
    /// argvlen live on the stack for the call.
    private func withArgv<Result>(
        _ command: RedisCommand,
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Result
    ) -> Result {
        let count = command.argumentCount
        return command.storage.withUnsafeBufferPointer { bytes in
            // A valid base pointer even when every argument is empty.
            let base = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!).assumingMemoryBound(
                to: CChar.self
            )
            return withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: count) { argv in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { lengths in
                    var start = 0
                    for (index, end) in command.ends.enumerated() {
                        argv[index] = base + start
                        lengths[index] = end - start
                        start = end
                    }
                    return body(Int32(count), argv.baseAddress!, UnsafePointer(lengths.baseAddress!))
                }
            }
        }
    }
}

private func timeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
}

/// A write to a socket whose peer is gone raises SIGPIPE, whose default action kills the daemon.
/// Ignored, the write fails with EPIPE and the connection is rebuilt. Children get the default
/// disposition back when they are spawned.
func ignoreSIGPIPE() {
    _ = sigpipeIgnored
}

private let sigpipeIgnored: Void = {
    _ = signal(SIGPIPE, SIG_IGN)
    dcrond_signals_changed()
}()
