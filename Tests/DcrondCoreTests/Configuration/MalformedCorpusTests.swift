import Testing

@testable import DcrondCore

/// The committed corpus of malformed configurations (Tests/Fixtures/malformed/*.case), each with
/// the exact problems it must produce. A case is three sections: `--- dcrond.json`, `--- jobs.json`
/// and `--- expected` (one problem per line, the case's folder written DIR).
@Suite("Malformed configurations corpus")
struct MalformedCorpusTests {
    static let folder: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/Fixtures/malformed"
    }()

    static let cases: [String] = (FileSystem.entries(of: folder) ?? []).map(\.name).filter { $0.hasSuffix(".case") }
        .sorted()

    @Test("the corpus is there")
    func present() {
        #expect(Self.cases.count >= 20)
    }

    @Test("each case gives exactly its expected problems", arguments: cases)
    func expected(name: String) throws {
        let text = String(decoding: try FileSystem.readFile(Self.folder + "/" + name), as: UTF8.self)
        var sections: [String: [Substring]] = [:]
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("--- ") {
                current = String(line.dropFirst(4))
                sections[current] = []
                continue
            }
            sections[current, default: []].append(line)
        }
        func body(_ key: String) -> String { (sections[key] ?? []).joined(separator: "\n") }
        let folder = try ConfigurationFolder(daemon: body("dcrond.json"), jobs: body("jobs.json"))
        let expected = (sections["expected"] ?? []).filter { !$0.isEmpty }.map(String.init)
        #expect(folder.problems() == expected, "\(name)")
    }
}
