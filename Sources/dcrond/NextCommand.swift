import ArgumentParser
import DcrondCore

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

    @Option(help: "How many instants to print (at most \(Commands.nextMaximumCount)).")
    var count = 5

    @Option(help: "Job name: hashed for H in the expression, or the job of --config to show.")
    var job: String?

    @Option(help: "Daemon configuration whose job table holds --job.")
    var config: String?

    func run() throws {
        try Commands.next(
            expression: expression,
            timeZone: timeZone,
            after: after,
            count: count,
            job: job,
            config: config
        )
    }
}
