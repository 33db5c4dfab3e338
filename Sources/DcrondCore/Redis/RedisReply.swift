/// A reply from the server.
///
/// An error reply (`-ERR ...`, `-NOSCRIPT ...`) is data: the command failed, the connection is fine.
/// Failures of the connection itself are thrown as ``RedisConnectionError`` instead.
package enum RedisReply: Sendable, Hashable {
    case status(String)
    case error(RedisServerError)
    case integer(Int64)
    case bulk([UInt8])
    case null
    case array([RedisReply])

    /// The reply itself, or its server error thrown.
    func orThrow() throws(RedisServerError) -> RedisReply {
        if case .error(let error) = self { throw error }
        return self
    }

    package var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// A bulk or status reply as text (bulk bytes decoded as UTF-8).
    package var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    var bytes: [UInt8]? {
        if case .bulk(let bytes) = self { return bytes }
        return nil
    }

    var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    var isNull: Bool { self == .null }
}

/// An error reply from the server, such as `WRONGTYPE Operation against a key holding the wrong kind of value`.
package struct RedisServerError: Error, Sendable, Hashable, CustomStringConvertible {
    let message: String

    init(message: String) { self.message = message }

    /// The first word of the message: `ERR`, `WRONGTYPE`, `NOSCRIPT`, `WRONGPASS`, ...
    var code: Substring { message.prefix { $0 != " " } }

    package var description: String { message }
}

/// The connection to the server failed or was never made; it will be rebuilt on the next call.
package struct RedisConnectionError: Error, Sendable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        /// The server could not be reached or refused the connection.
        case connect
        /// The server did not answer within the I/O timeout (or connect timeout).
        case timeout
        /// The server closed the connection.
        case closed
        /// Another socket error.
        case io
        /// The server sent something that is not RESP.
        case protocolViolation
        /// `AUTH` was refused.
        case authentication
        /// `SELECT` of the database was refused.
        case selectDatabase
        /// The password file could not be read.
        case passwordFile
        /// An earlier attempt failed recently; the client waits before trying again.
        case backingOff
        /// The server is a replica (`ROLE`, or a `READONLY` reply): it takes no writes. A sentinel
        /// endpoint asks the sentinels again at the next connect.
        case notMaster
        /// No sentinel of the group could name a master.
        case sentinel
    }

    let kind: Kind
    /// The endpoint, password masked.
    let endpoint: String
    let message: String

    init(kind: Kind, endpoint: String, message: String) {
        self.kind = kind
        self.endpoint = endpoint
        self.message = message
    }

    package var description: String { "\(endpoint): \(message)" }
}
