#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One problem in a configuration or jobs file, located as precisely as possible:
/// `jobs.json: job "backup": schedule: field 3 (day of month): "32" is out of range 1-31`.
package struct ConfigurationProblem: Sendable, Equatable, CustomStringConvertible {
    /// The file, as the operator named it (the jobs file: resolved against the config's folder).
    let file: String
    /// `job "backup"`, or `job #3` for a job without a usable name; nil for the daemon file.
    let job: String?
    /// The key, as in the file; nil for problems of the file as a whole.
    let field: String?
    let message: String

    init(file: String, job: String? = nil, field: String? = nil, message: String) {
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
    /// The first problems of each file, at most ``ProblemCollector/limit`` per file.
    package let problems: [ConfigurationProblem]
    /// How many more were found and not kept.
    var omitted = 0

    init(problems: [ConfigurationProblem], omitted: Int = 0) {
        self.problems = problems
        self.omitted = omitted
    }

    /// One line per problem, then `… and K more problems` if some were left out.
    var lines: [String] {
        problems.map(\.description) + (omitted > 0 ? ["… and \(omitted) more problem\(omitted == 1 ? "" : "s")"] : [])
    }

    /// Every problem found, kept or not.
    package var count: Int { problems.count + omitted }

    package var description: String { lines.joined(separator: "\n") }
}

/// Collects problems for one file while it is read: the first ``limit`` are kept, the others only
/// counted, and long fields and messages are shortened, so that no input makes the report huge.
final class ProblemCollector {
    static let limit = 100

    let file: String
    private(set) var problems: [ConfigurationProblem] = []
    private(set) var omitted = 0

    init(file: String) { self.file = file }

    /// Every problem reported so far, kept or not.
    var count: Int { problems.count + omitted }

    /// Problems another collector of the same file gathered, after these (the chunks of a table
    /// read in parallel, in their order): kept up to the limit, as if reported here one by one.
    func absorb(_ others: [ConfigurationProblem], omitted othersOmitted: Int) {
        let room = max(0, Self.limit - problems.count)
        problems += others.prefix(room)
        omitted += max(0, others.count - room) + othersOmitted
    }

    func report(job: String? = nil, field: String? = nil, _ message: String) {
        guard problems.count < Self.limit else {
            omitted += 1
            return
        }
        problems.append(
            ConfigurationProblem(
                file: file,
                job: job.map { shortened($0) },
                field: field.map { shortened($0) },
                message: shortened(message, limit: 600)
            )
        )
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

    /// A string without NUL bytes: the system would cut it at the first one.
    mutating func string(_ key: String, example: String? = nil) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else {
            report(key, "expected a string\(example.map { " such as \"\($0)\"" } ?? ""), got \(value.kindDescription)")
            return nil
        }
        if text.utf8.contains(0) {
            report(key, "contains a NUL byte (\\u0000): the system would cut the value there")
            return nil
        }
        return text
    }

    /// A string with no control character (a path, a user name, an address): a newline or an escape
    /// there is a mistake, and would garble every log line that shows it.
    mutating func plainString(_ key: String, example: String? = nil) -> String? {
        guard let text = string(key, example: example) else { return nil }
        if let byte = text.utf8.first(where: { $0 < 0x20 || $0 == 0x7F }) {
            report(
                key,
                "contains the control character \(controlName(byte)), which no \(key == "user" || key == "group" ? "name" : "path") has"
            )
            return nil
        }
        return text
    }

    /// A file or folder path.
    mutating func path(_ key: String, example: String? = nil) -> String? {
        guard let text = plainString(key, example: example) else { return nil }
        if text.isEmpty {
            report(key, "is empty")
            return nil
        }
        return text
    }

    /// An account or group name.
    mutating func name(_ key: String, example: String? = nil) -> String? { plainString(key, example: example) }

    /// A file-creation mask in octal, `"022"` or `"0027"`.
    mutating func umask(_ key: String) -> mode_t? {
        guard let text = string(key, example: "022") else { return nil }
        guard (1...4).contains(text.utf8.count), text.utf8.allSatisfy({ (48...55).contains($0) }),
            let mask = mode_t(text, radix: 8), mask <= 0o777
        else {
            report(key, "\"\(shortened(text))\" is not an octal file-creation mask such as \"022\" or \"027\"")
            return nil
        }
        return mask
    }

    mutating func bool(_ key: String) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else {
            report(key, "expected true or false, got \(value.kindDescription)")
            return nil
        }
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
                report(key, "\"\(shortened(text))\" is shorter than the minimum \(formatDuration(minimum))")
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
            report(key, "\"\(shortened(text))\" is not one of \(choices.map { "\"\($0)\"" }.joined(separator: ", "))")
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
                // Suggestions only for keys a person could have meant: a long key is no typo.
                var suggestion = ""
                if member.key.utf8.count <= 40 {
                    suggestion =
                        known.min { editDistance($0, member.key) < editDistance($1, member.key) }
                        .flatMap { editDistance($0, member.key) <= 3 ? " (did you mean \"\($0)\"?)" : nil } ?? ""
                }
                report(member.key, "unknown key\(suggestion)")
            }
        }
    }
}

/// `U+000A (newline)`, `U+001B`.
private func controlName(_ byte: UInt8) -> String {
    let code = "U+00" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
    switch byte {
    case 9: return code + " (tab)"
    case 10: return code + " (newline)"
    case 13: return code + " (carriage return)"
    default: return code
    }
}

/// Levenshtein distance, case-insensitive, for "did you mean" suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased().utf8)
    let y = Array(b.lowercased().utf8)
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
    !name.isEmpty && name.utf8.count <= maximumLength
        && name.utf8.allSatisfy { byte in
            (65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
}
