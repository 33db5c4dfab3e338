extension Commands {
    /// `dcrond history`: the newest `limit` records of `job`, with their output unless `noOutput`.
    package static func history(config: String, job: String, limit: Int, noOutput: Bool, json: Bool) async throws {
        let context = try ClusterContext(config: config, what: "the history")
        let definition = try context.job(job)
        let records = try await context.reaching {
            RunHistory.records(in: try await context.redis.send(RunHistory.read(job, limit: limit, keys: context.keys)))
        }
        if json {
            print(JSONValue.array(records.map(\.json)).serialized)
            return
        }
        if records.isEmpty {
            print("no record of \(job) yet")
            return
        }
        let zone = definition.timeZone
        var rows = [["INSTANT", "TRIGGER", "NODE", "LATE", "DURATION", "RESULT"]]
        var outputs: [[String]] = []
        for record in records {
            var instant = formatInstant(record.scheduledAt, offset: zone.offset(at: record.scheduledAt))
            if let through = record.through {
                instant += " … \(formatInstant(through, offset: zone.offset(at: through))) (\(record.count))"
            }
            let late = record.startLatenessMilliseconds.map { "\($0) ms" } ?? "-"
            let duration =
                record.attempts.first.flatMap { first in
                    record.attempts.last.map { formatDuration(.milliseconds($0.endedAt - first.startedAt)) }
                } ?? "-"
            var result: String
            switch record.outcome {
            case .skipped(let reason): result = "skipped: \(reason)"
            case .missed(let reason): result = "MISSED: \(reason)"
            default: result = "\(record.outcome.word) (\(record.resultText))"
            }
            if record.attempts.count > 1 { result += ", \(record.attempts.count) attempts" }
            // Skipped and missed instants had no run, so no trigger.
            rows.append([
                instant, record.outcome.reason == nil ? record.trigger.rawValue : "-", record.node, late, duration,
                result,
            ])
            outputs.append(
                noOutput
                    ? []
                    : (record.outputDropped > 0 ? ["… \(record.outputDropped) earlier lines"] : [])
                        + record.output.map { "\($0.stream == .stderr ? "!" : "|") \($0.text)" }
            )
        }
        printTable(rows) { index in index > 0 ? outputs[index - 1] : [] }
    }
}
