/// One problem in a configuration or jobs file, located as precisely as possible:
/// `jobs.json: job "backup": schedule: field 3 (day of month): "32" is out of range 1-31`.
package struct ConfigurationProblem: Sendable, Equatable, CustomStringConvertible {
    /// The file, as the operator named it (the jobs file: resolved against the config's folder).
    package let file: String
    /// `job "backup"`, or `job #3` for a job without a usable name; nil for the daemon file.
    package let job: String?
    /// The key, as in the file; nil for problems of the file as a whole.
    package let field: String?
    package let message: String

    package init(file: String, job: String? = nil, field: String? = nil, message: String) {
        self.file = file
        self.job = job
        self.field = field
        self.message = message
    }

    package var description: String {
        [file, job, field, message].compactMap { $0 }.joined(separator: ": ")
    }
}

/// Every problem found in the configuration; nothing is used until there are none.
package struct ConfigurationErrors: Error, Sendable, Equatable, CustomStringConvertible {
    package let problems: [ConfigurationProblem]
    package var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Collects problems for one file while it is read.
final class ProblemCollector {
    let file: String
    private(set) var problems: [ConfigurationProblem] = []

    init(file: String) { self.file = file }

    func report(job: String? = nil, field: String? = nil, _ message: String) {
        problems.append(ConfigurationProblem(file: file, job: job, field: field, message: message))
    }
}

/// Reads the members of one JSON object, reporting type errors, duplicate keys and unknown keys
/// (with the nearest known key as a suggestion) to a ``ProblemCollector``.
struct ObjectReader {
    let members: [JSONMember]
    let problems: ProblemCollector
    let job: String?
    private var known: [String] = []

    init(_ members: [JSONMember], problems: ProblemCollector, job: String?) {
        self.members = members
        self.problems = problems
        self.job = job
    }

    private func report(_ key: String, _ message: String) { problems.report(job: job, field: key, message) }

    /// The value of `key`, declaring the key as known.
    mutating func value(_ key: String) -> JSONValue? {
        known.append(key)
        return members.first { $0.key == key }?.value
    }

    mutating func string(_ key: String, example: String? = nil) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else {
            report(key, "expected a string\(example.map { " such as \"\($0)\"" } ?? ""), got \(value.kindDescription)")
            return nil
        }
        return text
    }

    mutating func bool(_ key: String) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { report(key, "expected true or false, got \(value.kindDescription)"); return nil }
        return flag
    }

    mutating func integer(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = value(key) else { return nil }
        guard case .number(_, let text) = value, let integer = Int(text) else {
            let got = if case .number(_, let text) = value { text } else { value.kindDescription }
            report(key, "expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(got)")
            return nil
        }
        guard range.contains(integer) else {
            report(key, "\(integer) is out of range \(range.lowerBound)-\(range.upperBound)")
            return nil
        }
        return integer
    }

    /// A duration string, at least `minimum`.
    mutating func duration(_ key: String, minimum: Duration = .zero) -> Duration? {
        guard let text = string(key, example: "30s") else { return nil }
        do {
            let duration = try parseDuration(text)
            guard duration >= minimum else {
                report(key, "\"\(text)\" is shorter than the minimum \(formatDuration(minimum))")
                return nil
            }
            return duration
        } catch {
            report(key, error.message)
            return nil
        }
    }

    /// One of `choices`.
    mutating func choice(_ key: String, _ choices: [String]) -> String? {
        guard let text = string(key) else { return nil }
        guard choices.contains(text) else {
            report(key, "\"\(text)\" is not one of \(choices.map { "\"\($0)\"" }.joined(separator: ", "))")
            return nil
        }
        return text
    }

    /// Reports keys given twice and keys not declared by any read so far.
    func finish() {
        var seen: Set<String> = []
        for member in members {
            if !seen.insert(member.key).inserted {
                report(member.key, "given more than once (line \(member.line))")
            } else if !known.contains(member.key) {
                let suggestion = known.min { editDistance($0, member.key) < editDistance($1, member.key) }
                    .flatMap { editDistance($0, member.key) <= 3 ? " (did you mean \"\($0)\"?)" : nil } ?? ""
                report(member.key, "unknown key\(suggestion)")
            }
        }
    }
}

/// Levenshtein distance, case-insensitive, for "did you mean" suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased().utf8), y = Array(b.lowercased().utf8)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    var current = previous
    for i in 1...x.count {
        current[0] = i
        for j in 1...y.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[y.count]
}

/// Letters, digits, `-`, `_` and `.`: the names of jobs, nodes and clusters.
func isValidName(_ name: String, maximumLength: Int = 200) -> Bool {
    !name.isEmpty && name.utf8.count <= maximumLength && name.utf8.allSatisfy { byte in
        (65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
    }
}
