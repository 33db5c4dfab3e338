/// One Redis command: its name and arguments as raw bytes, so values may hold any byte (NUL
/// included). Sent with `redisCommandArgv`/`redisAppendCommandArgv`, never through a format string.
package struct RedisCommand: Sendable, Hashable, CustomStringConvertible {
    /// Every argument's bytes, back to back: one allocation however many arguments there are.
    private(set) var storage: [UInt8] = []
    /// Where each argument ends in ``storage``.
    private(set) var ends: [Int] = []
    /// For an `EVALSHA` built by ``evaluate(_:keys:arguments:)``: the script, so that the client can
    /// fall back to `EVAL` when the server answers `NOSCRIPT`.
    private(set) var script: RedisScript?

    package init(_ arguments: [any RedisArgument]) {
        ends.reserveCapacity(arguments.count)
        for argument in arguments { append(argument) }
    }

    /// Adds one argument at the end.
    mutating func append(_ argument: some RedisArgument) {
        argument.appendRedisBytes(to: &storage)
        ends.append(storage.count)
    }

    var argumentCount: Int { ends.count }

    /// The arguments, each as its own array (for tests and logs; sending uses the flat storage).
    var arguments: [[UInt8]] {
        var start = 0
        return ends.map { end in
            defer { start = end }
            return Array(storage[start..<end])
        }
    }

    package init(_ arguments: any RedisArgument...) {
        self.init(arguments)
    }

    /// `EVALSHA sha numkeys keys... arguments...`, falling back to `EVAL` on `NOSCRIPT`.
    static func evaluate(
        _ script: RedisScript,
        keys: [any RedisArgument] = [],
        arguments: [any RedisArgument] = []
    ) -> RedisCommand {
        var command = RedisCommand(["EVALSHA", script.sha1, keys.count] + keys + arguments)
        command.script = script
        return command
    }

    /// The same call as `EVAL source ...`, which also loads the script into the server's cache.
    var evalFallback: RedisCommand? {
        guard let script, ends.count >= 2 else { return nil }
        var command = RedisCommand("EVAL", script.source)
        command.storage.append(contentsOf: storage[ends[1]...])
        command.ends.append(contentsOf: ends[2...].map { $0 - ends[1] + command.ends[1] })
        return command
    }

    /// The command name, for logs; arguments are left out (they may hold secrets).
    package var description: String {
        ends.first.map { String(decoding: storage[..<$0], as: UTF8.self).uppercased() } ?? "(empty command)"
    }
}

/// A value that can be sent as one argument of a Redis command.
package protocol RedisArgument: Sendable {
    func appendRedisBytes(to buffer: inout [UInt8])
}

extension String: RedisArgument {
    package func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Substring: RedisArgument {
    package func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Array: RedisArgument where Element == UInt8 {
    package func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}

extension Int: RedisArgument {
    package func appendRedisBytes(to buffer: inout [UInt8]) { Int64(self).appendRedisBytes(to: &buffer) }
}

extension Int64: RedisArgument {
    package func appendRedisBytes(to buffer: inout [UInt8]) {
        if self < 0 { buffer.append(UInt8(ascii: "-")) }
        magnitude.appendRedisBytes(to: &buffer)
    }
}

extension UInt64: RedisArgument {
    package func appendRedisBytes(to buffer: inout [UInt8]) {
        // Decimal digits without building a String.
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var value = self
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[19 - count] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
                count += 1
            } while value > 0
            buffer.append(contentsOf: raw[(20 - count)...])
        }
    }
}
