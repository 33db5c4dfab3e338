/// Where a Redis server listens, and how to log in to it.
///
/// Parsed from an address of one of three forms:
/// - `redis://[user:password@]host[:port][/db]`: TCP; `host` may be a name, an IPv4 address or an
///   IPv6 address in brackets; `port` defaults to 6379 and `db` to 0. `user` and `password` are
///   percent-decoded. A password alone is written `redis://:password@host`.
/// - `unix:///path/to/redis.sock[?db=N]`: a unix-domain socket.
/// - `redis+sentinel://[user:password@]host[:port][,host[:port]...]/MASTER[/db]`: the master that
///   Redis Sentinels at those addresses (port 26379 by default) name `MASTER`, asked at every connect.
///   The credentials are the data nodes'; the sentinels' own are ``SentinelGroup/username`` and
///   ``SentinelGroup/password`` (or ``SentinelGroup/passwordFile``).
///
/// The password may instead come from a file (``passwordFile``), read at every connect so that a
/// rotated secret takes effect on the next reconnect. A description never shows the password.
package struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    package enum Address: Sendable, Hashable {
        case tcp(host: String, port: Int)
        case unix(path: String)
        /// Whichever server the sentinels name as the group's master.
        case sentinel(SentinelGroup)
    }

    /// The group's sentinels, if the address is a `redis+sentinel://` one. Setting it changes the
    /// group of a sentinel address (its credentials, say); on another address it does nothing.
    var sentinelGroup: SentinelGroup? {
        get { if case .sentinel(let group) = address { group } else { nil } }
        set { if case .sentinel = address, let newValue { address = .sentinel(newValue) } }
    }

    package var address: Address
    var username: String?
    var password: String?
    /// A file whose first line is the password; overrides ``password``.
    var passwordFile: String?
    var database: Int

    package init(
        address: Address,
        username: String? = nil,
        password: String? = nil,
        passwordFile: String? = nil,
        database: Int = 0
    ) {
        self.address = address
        self.username = username
        self.password = password
        self.passwordFile = passwordFile
        self.database = database
    }

    /// Parses a `redis://` or `unix://` address.
    package init(parsing text: String) throws(RedisEndpointError) {
        func fail(_ reason: String) -> RedisEndpointError { RedisEndpointError(address: text, reason: reason) }
        if let byte = text.utf8.first(where: { $0 <= 0x20 || $0 == 0x7F }) {
            throw fail(
                byte == 0x20
                    ? "contains a space"
                    : "contains a control character (U+00\(byte < 16 ? "0" : "")\(String(byte, radix: 16, uppercase: true)))"
            )
        }
        if text.hasPrefix("unix://") {
            var rest = Substring(text.dropFirst("unix://".count))
            var database = 0
            if let question = rest.firstIndex(of: "?") {
                let query = rest[rest.index(after: question)...]
                rest = rest[..<question]
                for pair in query.split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2, parts[0] == "db" else {
                        // Only the name: the value may be a secret (`?password=...`).
                        throw fail(
                            "unknown parameter \"\(shortened(String(parts[0]), limit: 40))\" (only db=N is understood)"
                        )
                    }
                    database = try Self.parseDatabase(parts[1], fail)
                }
            }
            guard rest.hasPrefix("/"), rest.count > 1 else {
                throw fail("a unix address needs an absolute socket path, as in unix:///run/redis/redis.sock")
            }
            self.init(address: .unix(path: String(rest)), database: database)
            return
        }
        if text.hasPrefix("redis+sentinel://") {
            try self.init(parsingSentinel: Substring(text.dropFirst("redis+sentinel://".count)), fail)
            return
        }
        if text.hasPrefix("rediss://") {
            throw fail("TLS (rediss://) is not supported; use a local TLS tunnel or a unix socket")
        }
        guard text.hasPrefix("redis://") else {
            throw fail(
                "expected redis://[user:password@]host[:port][/db], unix:///path/to/redis.sock[?db=N] or redis+sentinel://host[:port][,host[:port]...]/MASTER[/db]"
            )
        }
        var rest = Substring(text.dropFirst("redis://".count))
        let (username, password) = try Self.splitCredentials(&rest, fail)
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty { database = try Self.parseDatabase(path, fail) }
        }
        let (host, port) = try Self.parseHostPort(rest, defaultPort: 6379, fail)
        self.init(
            address: .tcp(host: host, port: port),
            username: username,
            password: password,
            database: database
        )
    }

    private init(parsingSentinel text: Substring, _ fail: (String) -> RedisEndpointError) throws(RedisEndpointError) {
        var rest = text
        let (username, password) = try Self.splitCredentials(&rest, fail)
        guard let slash = rest.firstIndex(of: "/") else {
            throw fail("the master name is missing, as in redis+sentinel://host:26379/mymaster")
        }
        let hosts = rest[..<slash]
        let path = rest[rest.index(after: slash)...].split(separator: "/", omittingEmptySubsequences: false)
        guard let master = path.first, !master.isEmpty else {
            throw fail("the master name is missing, as in redis+sentinel://host:26379/mymaster")
        }
        guard path.count <= 2 else {
            throw fail("unexpected \"\(path.dropFirst(2).joined(separator: "/"))\" after the database")
        }
        var database = 0
        if path.count == 2, !path[1].isEmpty { database = try Self.parseDatabase(path[1], fail) }
        var sentinels: [SentinelGroup.Address] = []
        for part in hosts.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw fail("an empty sentinel address in the list") }
            let (host, port) = try Self.parseHostPort(part, defaultPort: 26379, fail)
            let address = SentinelGroup.Address(host: host, port: port)
            if !sentinels.contains(address) { sentinels.append(address) }
        }
        guard !sentinels.isEmpty else { throw fail("no sentinel address before the master name") }
        self.init(
            address: .sentinel(SentinelGroup(sentinels: sentinels, master: String(master))),
            username: username,
            password: password,
            database: database
        )
    }

    /// Removes `[user:password@]` from the front of `rest` and decodes it.
    private static func splitCredentials(
        _ rest: inout Substring,
        _ fail: (String) -> RedisEndpointError
    ) throws(RedisEndpointError) -> (String?, String?) {
        guard let at = rest.lastIndex(of: "@") else { return (nil, nil) }
        let credentials = rest[..<at]
        rest = rest[rest.index(after: at)...]
        if let colon = credentials.firstIndex(of: ":") {
            let user = credentials[..<colon]
            return (
                user.isEmpty ? nil : try percentDecoded(user, fail),
                try percentDecoded(credentials[credentials.index(after: colon)...], fail)
            )
        }
        // `redis://secret@host` is the older password-only form.
        return (nil, try percentDecoded(credentials, fail))
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    private static func parseHostPort(
        _ text: Substring,
        defaultPort: Int,
        _ fail: (String) -> RedisEndpointError
    ) throws(RedisEndpointError) -> (String, Int) {
        let host: Substring
        var port = defaultPort
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw fail("unterminated IPv6 address") }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected \"\(after)\" after the IPv6 address") }
                port = try parsePort(after.dropFirst(), fail)
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            port = try parsePort(text[text.index(after: colon)...], fail)
        } else {
            host = text
        }
        guard !host.isEmpty else { throw fail("the host is missing") }
        return (String(host), port)
    }

    /// The address with the password masked, for logs and error messages.
    package var description: String {
        switch address {
        case .tcp(let host, let port):
            var credentials = ""
            if username != nil || password != nil {
                credentials = "\(username ?? ""):\(password == nil ? "" : "***")@"
            }
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "redis://\(credentials)\(shownHost):\(port)/\(database)"
        case .unix(let path):
            return database == 0 ? "unix://\(path)" : "unix://\(path)?db=\(database)"
        case .sentinel(let group):
            var credentials = ""
            if username != nil || password != nil {
                credentials = "\(username ?? ""):\(password == nil ? "" : "***")@"
            }
            return
                "redis+sentinel://\(credentials)\(group.sentinels.map(\.description).joined(separator: ","))/\(group.master)/\(database)"
        }
    }

    private static func parsePort(
        _ text: Substring,
        _ fail: (String) -> RedisEndpointError
    ) throws(RedisEndpointError) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw fail("port \"\(text)\" is not a number from 1 to 65535")
        }
        return port
    }

    private static func parseDatabase(
        _ text: Substring,
        _ fail: (String) -> RedisEndpointError
    ) throws(RedisEndpointError) -> Int {
        guard let database = Int(text), database >= 0 else {
            throw fail("database \"\(text)\" is not a number from 0 up")
        }
        return database
    }

    private static func percentDecoded(
        _ text: Substring,
        _ fail: (String) -> RedisEndpointError
    ) throws(RedisEndpointError) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw fail("bad percent-escape in the credentials")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// A Redis address that cannot be used, with the reason.
package struct RedisEndpointError: Error, Sendable, Equatable, CustomStringConvertible {
    let address: String
    let reason: String
    package var description: String { "invalid Redis address \"\(Self.masked(address))\": \(reason)" }

    /// Hides the credentials of anything written like an address with them, whatever its scheme or
    /// typo (`Redis://`, `redis//`, `http://`, `user:password@host`): everything before the last
    /// `@`, but for a scheme and a user name before a colon, and every query value but `db`. Control
    /// characters are shown escaped.
    static func masked(_ address: String) -> String {
        var shown = address
        if let at = address.lastIndex(of: "@") {
            var start = address.startIndex
            if let slashes = address.firstRange(of: "//"), slashes.upperBound <= at { start = slashes.upperBound }
            let credentials = address[start..<at]
            if start != address.startIndex, let colon = credentials.firstIndex(of: ":") {
                shown = address[..<colon] + ":***" + address[at...]
            } else {
                shown = address[..<start] + "***" + address[at...]
            }
        }
        // Query values too (`?password=...`), but for the database number.
        if let question = shown.firstIndex(of: "?") {
            let pairs = shown[shown.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false)
                .map { pair in
                    guard let equals = pair.firstIndex(of: "="), pair[..<equals] != "db" else { return String(pair) }
                    return pair[...equals] + "***"
                }
            shown = shown[...question] + pairs.joined(separator: "&")
        }
        return shortened(
            String(
                shown.unicodeScalars.map { scalar in
                    scalar.value < 0x20 || scalar.value == 0x7F
                        ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
                }.joined()
            )
        )
    }
}

/// The Redis Sentinels that watch one master, and how to log in to them (sentinels may have a
/// password of their own, `requirepass` in sentinel.conf, distinct from the data nodes').
package struct SentinelGroup: Sendable, Hashable {
    struct Address: Sendable, Hashable, CustomStringConvertible {
        var host: String
        var port: Int
        init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// Asked in order; the first that names a master answers.
    var sentinels: [Address]
    /// The name the sentinels monitor the master under (`sentinel monitor NAME ...`).
    var master: String
    var username: String?
    var password: String?
    /// A file whose first line is the sentinels' password; overrides ``password``; read at every lookup.
    var passwordFile: String?

    init(
        sentinels: [Address],
        master: String,
        username: String? = nil,
        password: String? = nil,
        passwordFile: String? = nil
    ) {
        self.sentinels = sentinels
        self.master = master
        self.username = username
        self.password = password
        self.passwordFile = passwordFile
    }
}
