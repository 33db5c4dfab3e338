/// Where a Redis server listens, and how to log in to it.
///
/// Parsed from an address of one of two forms:
/// - `redis://[user:password@]host[:port][/db]`: TCP; `host` may be a name, an IPv4 address or an
///   IPv6 address in brackets; `port` defaults to 6379 and `db` to 0. `user` and `password` are
///   percent-decoded. A password alone is written `redis://:password@host`.
/// - `unix:///path/to/redis.sock[?db=N]`: a unix-domain socket.
///
/// The password may instead come from a file (``passwordFile``), read at every connect so that a
/// rotated secret takes effect on the next reconnect. A description never shows the password.
package struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    package enum Address: Sendable, Hashable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    package var address: Address
    package var username: String?
    package var password: String?
    /// A file whose first line is the password; overrides ``password``.
    package var passwordFile: String?
    package var database: Int

    package init(address: Address, username: String? = nil, password: String? = nil,
                 passwordFile: String? = nil, database: Int = 0) {
        self.address = address
        self.username = username
        self.password = password
        self.passwordFile = passwordFile
        self.database = database
    }

    /// Parses a `redis://` or `unix://` address.
    package init(parsing text: String) throws(RedisEndpointError) {
        func fail(_ reason: String) -> RedisEndpointError { RedisEndpointError(address: text, reason: reason) }
        if text.hasPrefix("unix://") {
            var rest = Substring(text.dropFirst("unix://".count))
            var database = 0
            if let question = rest.firstIndex(of: "?") {
                let query = rest[rest.index(after: question)...]
                rest = rest[..<question]
                for pair in query.split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2, parts[0] == "db" else {
                        throw fail("unknown parameter \"\(pair)\" (only db=N is understood)")
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
        if text.hasPrefix("rediss://") {
            throw fail("TLS (rediss://) is not supported; use a local TLS tunnel or a unix socket")
        }
        guard text.hasPrefix("redis://") else {
            throw fail("expected redis://[user:password@]host[:port][/db] or unix:///path/to/redis.sock[?db=N]")
        }
        var rest = Substring(text.dropFirst("redis://".count))
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon]
                username = user.isEmpty ? nil : try Self.percentDecoded(user, fail)
                password = try Self.percentDecoded(credentials[credentials.index(after: colon)...], fail)
            } else {
                // `redis://secret@host` is the older password-only form.
                password = try Self.percentDecoded(credentials, fail)
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty { database = try Self.parseDatabase(path, fail) }
        }
        let host: Substring
        var port = 6379
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("unterminated IPv6 address") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected \"\(after)\" after the IPv6 address") }
                port = try Self.parsePort(after.dropFirst(), fail)
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            port = try Self.parsePort(rest[rest.index(after: colon)...], fail)
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw fail("the host is missing") }
        self.init(address: .tcp(host: String(host), port: port), username: username,
                  password: password, database: database)
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
        }
    }

    private static func parsePort(_ text: Substring, _ fail: (String) -> RedisEndpointError) throws(RedisEndpointError) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw fail("port \"\(text)\" is not a number from 1 to 65535")
        }
        return port
    }

    private static func parseDatabase(_ text: Substring, _ fail: (String) -> RedisEndpointError) throws(RedisEndpointError) -> Int {
        guard let database = Int(text), database >= 0 else {
            throw fail("database \"\(text)\" is not a number from 0 up")
        }
        return database
    }

    private static func percentDecoded(_ text: Substring, _ fail: (String) -> RedisEndpointError) throws(RedisEndpointError) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
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
    package let address: String
    package let reason: String
    package var description: String { "invalid Redis address \"\(Self.masked(address))\": \(reason)" }

    /// Hides the password of a `redis://user:password@` address.
    private static func masked(_ address: String) -> String {
        guard address.hasPrefix("redis://"), let at = address.lastIndex(of: "@") else { return address }
        let start = address.index(address.startIndex, offsetBy: "redis://".count)
        let credentials = address[start..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return "redis://***" + address[at...] }
        return "redis://" + credentials[...colon] + "***" + address[at...]
    }
}
