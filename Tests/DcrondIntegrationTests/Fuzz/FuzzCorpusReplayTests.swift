import DcrondTestSupport
import Testing

/// The fuzzers' committed corpus, replayed through the same entry points without libFuzzer: every
/// input that ever found new coverage keeps passing (no crash, no failed check of the target).
@Suite("Fuzz corpus replay")
struct FuzzCorpusReplayTests {
    static let replayer = buildProductsDirectory() + "/dcrond-fuzz"
    static var corpus: String {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)
        return parts.joined(separator: "/") + "/Fuzz/corpus"
    }

    @Test("each target replays its corpus", arguments: ["cron", "duration", "json", "configuration"])
    func replay(target: String) async throws {
        let result = try await runProcess(
            [Self.replayer, Self.corpus + "/" + target],
            environment: ["DCROND_FUZZ_TARGET=\(target)", "PATH=/usr/bin:/bin", "TZ=UTC"]
        )
        #expect(result.status == 0, "\(result.standardError)")
        let count =
            result.outputLines.last.flatMap { line in
                line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            } ?? 0
        #expect(count >= 5, "\(result.standardOutput)")
    }
}
