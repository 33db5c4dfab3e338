#if canImport(Glibc)
import Glibc
#endif

/// What the `dcrond` commands do, one call per command: the executable parses the arguments and
/// calls one of these, which prints its report to stdout and throws a ``CommandFailure`` for the
/// exit status. Keeping them here leaves the library's types internal to it.
package enum Commands {
    /// The daemon configuration's default path (`--config`).
    package static var defaultConfigPath: String { DaemonConfiguration.defaultPath }

    /// The most records `history --limit` shows: the length of a job's history in Redis.
    package static var historyLimit: Int { RunHistory.length }

    /// The most instants `next --count` prints.
    package static let nextMaximumCount = 100_000

    /// A signal given by name (TERM, SIGTERM, any case) or number, as `kill --signal` takes it.
    package static func signalNumber(_ text: String) -> Int32? {
        if let number = Int32(text), number > 0, number < 65 { return number }
        let name = text.uppercased().hasPrefix("SIG") ? String(text.uppercased().dropFirst(3)) : text.uppercased()
        let known: [String: Int32] = [
            "TERM": SIGTERM, "INT": SIGINT, "HUP": SIGHUP, "KILL": SIGKILL, "QUIT": SIGQUIT,
            "USR1": SIGUSR1, "USR2": SIGUSR2, "ABRT": SIGABRT, "ALRM": SIGALRM,
        ]
        return known[name]
    }

    /// The first of `names` (`--trusted-owner`) that is no user of this host.
    package static func unknownUser(among names: [String]) -> String? {
        names.first { Accounts.user($0) == nil }
    }

    /// Whether `text` is a duration as the configuration writes them (`60s`, `1m30s`); the
    /// message says why not.
    package static func durationProblem(_ text: String) -> String? {
        do {
            _ = try parseDuration(text)
            return nil
        } catch {
            return error.message
        }
    }

    /// The wait between two looks at what a daemon answered.
    static func sleep(milliseconds: Int) async { try? await Task.sleep(for: .milliseconds(milliseconds)) }

    /// Whether `text` is Unix seconds or an ISO 8601 instant with its offset.
    package static func isInstant(_ text: String) -> Bool { Int64(text) != nil || parseInstant(text) != nil }
}

/// Prints its messages to stderr as `dcrond: error: ...` lines and exits with `status`.
package struct CommandFailure: Error, CustomStringConvertible {
    package let status: Int32
    let messages: [String]
    package var description: String { messages.joined(separator: "\n") }

    package init(status: Int32, messages: [String]) {
        self.status = status
        self.messages = messages
    }

    /// Writes the messages to stderr; the caller exits with ``status``.
    package func report() {
        for message in messages { printError("dcrond: error: \(message)") }
    }
}

/// Trusted owners of the files by name (`--trusted-owner`); names no user has are left out (the
/// command line refuses them first).
func fileTrust(_ trustedOwners: [String]) -> FileTrust {
    FileTrust(trustedOwners: Set(trustedOwners.compactMap { Accounts.user($0)?.uid }))
}

/// Both configuration files, or a failure (exit status 1) listing every problem. Commands that run
/// nothing (`status`, `next`, `drain`) pass ``FileTrust/unchecked``.
func loadConfiguration(_ path: String, trust: FileTrust) throws(CommandFailure) -> LoadedConfiguration {
    do {
        return try ConfigurationLoader.load(configPath: path, trust: trust)
    } catch {
        throw CommandFailure(status: 1, messages: error.lines)
    }
}

/// A Redis error in words an operator can act on (a missing password named as such).
func describeRedisError(_ error: any Error) -> String {
    let wantsPassword =
        switch error {
        // AUTH refused (a wrong password or user)
        case let failure as RedisConnectionError: failure.kind == .authentication
        // no AUTH sent, and the server requires one
        case let refusal as RedisServerError: refusal.code == "NOAUTH" || refusal.code == "WRONGPASS"
        default: false
        }
    guard wantsPassword else { return "\(error)" }
    return
        "\(error) (Redis wants a password: set \"redisPasswordFile\" in the daemon configuration, or fix the one it names)"
}

func currentUnixSeconds() -> Int64 { realtimeNanoseconds() / 1_000_000_000 }

/// One line to stderr, written at once (stdout may be a pipe that buffers).
func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
}

/// Rows of cells in columns as wide as their widest cell, two spaces apart; `after` prints the
/// lines that follow a row (its index from 0, the header included).
func printTable(_ rows: [[String]], after: (Int) -> [String] = { _ in [] }) {
    let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    for (index, row) in rows.enumerated() {
        print(
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }.joined(separator: "  ")
        )
        for line in after(index) { print("    \(line)") }
    }
}
