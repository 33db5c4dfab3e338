/// Which instants a daemon's log reports, read back from its lines.
///
/// A line of the daemon's console log ends with its metadata as `key=value` fields, sorted, a run's
/// job as `job=` and its instant as `scheduledAt=` (Unix seconds). Each line that contains `text`
/// and names both counts once for its `"<job>@<instant>"`; lines that name no instant (a summary,
/// a warning) are not counted.
///
/// ```swift
/// instantsReported(in: log, containing: "missed: claimed by node a")  // ["k1@1796302367": 1]
/// ```
package func instantsReported(in log: some StringProtocol, containing text: String) -> [String: Int] {
    var found: [String: Int] = [:]
    for line in log.split(separator: "\n") where line.contains(text) {
        let fields = line.split(separator: " ")
        guard let job = fields.first(where: { $0.hasPrefix("job=") })?.dropFirst(4),
            let instant = fields.first(where: { $0.hasPrefix("scheduledAt=") })?.dropFirst(12)
        else { continue }
        found["\(job)@\(instant)", default: 0] += 1
    }
    return found
}
