import ArgumentParser
import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

struct NextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next",
        abstract: "Print the next instants of a schedule or of a job of the table.",
        discussion: """
            Instants are printed one per line as ISO-8601 with the zone's offset at that instant \
            (2025-10-26T02:30:00+02:00), strictly after --after (default: now). With --config and \
            --job, the job's own schedule, time zone and DST policy are used.
            """
    )

    @Argument(help: "A cron expression (5 or 6 fields, seconds first), an @macro or \"@every <duration>\".")
    var expression: String?

    @Option(name: .customLong("time-zone"), help: "tz database zone for the expression (default: the host's).")
    var timeZone: String?

    @Option(help: "Start after this instant, ISO-8601 with offset or Z (default: now).")
    var after: String?

    @Option(help: "How many instants to print (at most \(NextCommand.maximumCount)).")
    var count = 5

    static let maximumCount = 100_000

    @Option(help: "Job name: hashed for H in the expression, or the job of --config to show.")
    var job: String?

    @Option(help: "Daemon configuration whose job table holds --job.")
    var config: String?

    func run() throws {
        let start: Int64
        if let after {
            guard let parsed = parseInstant(after) else {
                throw CommandFailure(
                    status: 2,
                    messages: [
                        "--after \"\(after)\" is not an ISO-8601 instant with an offset, such as 2025-03-30T01:00:00+01:00 or 2025-03-30T00:00:00Z"
                    ]
                )
            }
            start = parsed
        } else {
            start = currentUnixSeconds()
        }
        guard (1...Self.maximumCount).contains(count) else {
            throw CommandFailure(status: 2, messages: ["--count must be from 1 to \(Self.maximumCount)"])
        }

        let schedule: Schedule
        let zone: TimeZoneRules
        let policy: DSTPolicy
        if let config {
            guard expression == nil, timeZone == nil else {
                throw CommandFailure(
                    status: 2,
                    messages: ["give either an expression or --config with --job, not both"]
                )
            }
            guard let job else { throw CommandFailure(status: 2, messages: ["--config needs --job NAME"]) }
            let table = try loadConfiguration(config, trust: .unchecked).table
            guard let definition = table.job(named: job) else {
                throw CommandFailure(status: 2, messages: ["\(table.path): no job named \"\(job)\""])
            }
            (schedule, zone, policy) = (definition.schedule, definition.timeZone, definition.dstPolicy)
        } else {
            guard let expression else {
                throw CommandFailure(status: 2, messages: ["give a cron expression, or --config FILE --job NAME"])
            }
            do {
                schedule = try Schedule(parsing: expression, jobName: job)
            } catch {
                throw CommandFailure(status: 2, messages: error.problems.map { "\"\(expression)\": \($0)" })
            }
            do {
                zone = try TimeZoneRules.named(timeZone ?? TimeZoneRules.hostZoneName())
            } catch {
                throw CommandFailure(
                    status: 2,
                    messages: [
                        timeZone == nil ? "the environment's TZ: time zone \(error)" : "--time-zone: time zone \(error)"
                    ]
                )
            }
            policy = schedule.defaultDSTPolicy
        }
        // One at a time, as computed: the first lines appear at once whatever the count.
        var last = start
        for _ in 0..<count {
            guard let instant = schedule.next(after: last, in: zone, policy: policy) else { break }
            print(formatInstant(instant, offset: zone.offset(at: instant)))
            last = instant
        }
    }
}

/// Prints its messages to stderr as `dcrond: error: ...` lines and exits with `status`.
struct CommandFailure: Error, CustomStringConvertible {
    let status: Int32
    let messages: [String]
    var description: String { messages.joined(separator: "\n") }
}

func currentUnixSeconds() -> Int64 { realtimeNanoseconds() / 1_000_000_000 }

func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
}
