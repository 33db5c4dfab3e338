import DcrondTestSupport
import Logging
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// The scheduling loop given a claim store of our own instead of Redis: the real timer and runner,
/// scripted claim answers.
@Suite("the scheduling loop with a scripted claim store")
struct DaemonLoopTests {
    /// Answers claims as a store would, except for the scripted jobs: `failing` claims throw
    /// (a Redis error) that many times first, `taken` are always lost to another node. With
    /// `rollsBack`, the claim history's generation moves on after each scripted failure (Redis went
    /// back in time while the attempt went unanswered).
    actor ScriptedClaimStore: ClaimStore {
        private(set) var requests: [ClaimRequest] = []
        private(set) var records: [RunRecord] = []
        private var failuresLeft: [String: Int]
        private let taken: Set<String>
        private let rollsBack: Bool
        private var generation: Int64 = 1
        private var last: [String: (instant: Int64, token: String)] = [:]

        init(failing: [String: Int] = [:], taken: Set<String> = [], rollsBack: Bool = false) {
            failuresLeft = failing
            self.taken = taken
            self.rollsBack = rollsBack
        }

        func claim(_ requests: [ClaimRequest]) async throws -> [ClaimResult] {
            self.requests += requests
            for request in requests where (failuresLeft[request.job] ?? 0) > 0 {
                failuresLeft[request.job]! -= 1
                // As the real store: the error carries the generation seen at the send. The loss is
                // seen at once here, before the caller handles the error (as a heartbeat on another
                // connection may see it while the attempt waits for its timeout).
                let seen = generation
                if rollsBack { generation += 1 }
                throw ClaimAttemptError(cause: RedisServerError(message: "scripted failure"), generationSeen: seen)
            }
            return requests.map { request in
                if taken.contains(request.job) { return .lost }
                if let previous = last[request.job], previous.instant >= request.instant {
                    return previous == (request.instant, request.token) ? .won(previous: nil) : .lost
                }
                let previous = last[request.job]?.instant
                last[request.job] = (request.instant, request.token)
                return .won(previous: previous)
            }
        }

        func release(_ request: ClaimRequest, previous: Int64?) async throws -> ClaimRelease { .givenBack }

        private(set) var started: [ClaimRequest] = []

        func markStarted(_ requests: [ClaimRequest]) async throws { started += requests }

        func lastClaimed(_ jobs: [String]) async throws -> ClaimedInstants {
            ClaimedInstants(last: jobs.map { last[$0]?.instant }, fresh: jobs.map { _ in true }, floor: 0)
        }

        func record(_ run: RunRecord) async throws { records.append(run) }

        func record(_ runs: [RunRecord]) async throws -> [RedisServerError?] {
            records += runs
            return runs.map { _ in nil }
        }

        func reportMissed(_ instants: [(job: String, instant: Int64)]) async throws -> [MissedCheck] {
            instants.map { _ in .accounted }
        }

        func sweepNotStarted(through: Int64) async throws -> [NotStartedClaim] { [] }

        func checkHistory(generation: Int64, sequence: Int64) async {}

        func seenHistory() async -> ClaimHistory { ClaimHistory(generation: generation) }
    }

    @Test("a claim that fails is retried with the same token until decided, then runs; a claim lost never runs")
    func claimsDecideRuns() async throws {
        let directory = try makeTemporaryDirectory()
        defer { _ = shellOutputBlocking("rm -rf '\(directory)'") }
        let output = directory + "/runs.txt"
        let command = #"echo \"$DCRON_JOB $DCRON_SCHEDULED_AT\" >> \#(output)"#
        try writeText(directory + "/dcrond.json", #"{"cluster": "loop", "node": "n1", "timezone": "UTC"}"#)
        try writeText(
            directory + "/jobs.json",
            #"{"jobs": [{"name": "flaky", "schedule": "* * * * * *", "command": "\#(command)"}, {"name": "taken", "schedule": "* * * * * *", "command": "\#(command)"}]}"#
        )
        let loaded = try ConfigurationLoader.load(configPath: directory + "/dcrond.json")
        let logger = Logger(label: "loop") { _ in SwiftLogNoOpLogHandler() }
        let store = ScriptedClaimStore(failing: ["flaky": 2], taken: ["taken"])
        var parts = DaemonParts.make(for: loaded, logger: logger, output: nil)
        parts.claims = store
        let daemon = Daemon(configPath: directory + "/dcrond.json", loaded: loaded, parts: parts, logger: logger)
        let running = Task { await daemon.run() }
        // Until two runs of flaky happened (beside the other suites, the start alone took seconds).
        let ranTwice = try await waitFor(seconds: 20) {
            let text = (try? FileSystem.readFile(output)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return text.split(separator: "\n").filter { $0.hasPrefix("flaky ") }.count >= 2
        }
        #expect(ranTwice, "flaky ran twice within 20 s")
        try await Task.sleep(for: .seconds(1))
        await daemon.shutdown(grace: .seconds(2))
        await running.value

        let requests = await store.requests
        let flaky = requests.filter { $0.job == "flaky" }
        let first = try #require(flaky.first, "flaky was claimed")
        let firstAttempts = flaky.filter { $0.instant == first.instant }
        #expect(firstAttempts.count == 3, "two failures, then the claim that won: \(firstAttempts)")
        #expect(Set(firstAttempts.map(\.token)).count == 1, "every attempt with the same token")
        let lines = (try? FileSystem.readFile(output)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let ran = lines.split(separator: "\n").map(String.init)
        #expect(ran.contains("flaky \(first.instant)"), "the retried instant ran: \(ran)")
        #expect(ran.filter { $0.hasPrefix("flaky ") }.count >= 2, "and the ones after it: \(ran)")
        #expect(!ran.contains { $0.hasPrefix("taken ") }, "a claim lost to another node never runs: \(ran)")
        #expect(requests.contains { $0.job == "taken" }, "taken was claimed, and lost")
        let records = await store.records.filter { $0.job == "flaky" && $0.outcome == .succeeded }
        #expect(records.contains { $0.scheduledAt == first.instant }, "the retried run was recorded")
    }

    @Test(
        "a claim lost after an unanswered attempt: reported missed (unknownHistory) when Redis went back in time meanwhile, since that attempt may have won it; not otherwise"
    )
    func lostAfterUnansweredAttempt() async throws {
        for rollsBack in [true, false] {
            let directory = try makeTemporaryDirectory()
            defer { _ = shellOutputBlocking("rm -rf '\(directory)'") }
            try writeText(directory + "/dcrond.json", #"{"cluster": "loop", "node": "n1", "timezone": "UTC"}"#)
            try writeText(
                directory + "/jobs.json",
                #"{"jobs": [{"name": "doubt", "schedule": "* * * * * *", "command": "true"}, {"name": "taken", "schedule": "* * * * * *", "command": "true"}]}"#
            )
            let loaded = try ConfigurationLoader.load(configPath: directory + "/dcrond.json")
            let logger = Logger(label: "loop") { _ in SwiftLogNoOpLogHandler() }
            // "doubt": its first attempt goes unanswered, then another node holds the instant.
            let store = ScriptedClaimStore(failing: ["doubt": 1], taken: ["doubt", "taken"], rollsBack: rollsBack)
            var parts = DaemonParts.make(for: loaded, logger: logger, output: nil)
            parts.claims = store
            let daemon = Daemon(configPath: directory + "/dcrond.json", loaded: loaded, parts: parts, logger: logger)
            let running = Task { await daemon.run() }
            // Until a later instant was claimed too (the start alone may take seconds beside other suites).
            for _ in 0..<200 where await store.requests.filter({ $0.job == "doubt" }).count < 3 {
                try await Task.sleep(for: .milliseconds(100))
            }
            await daemon.shutdown(grace: .seconds(2))
            await running.value

            let doubt = await store.requests.filter { $0.job == "doubt" }
            let first = try #require(doubt.first)
            #expect(doubt.filter { $0.instant == first.instant }.count == 2, "the unanswered attempt, then its retry")
            let records = await store.records
            let missed = records.filter { $0.outcome.word == "missed" }
            if rollsBack {
                #expect(missed.map(\.job) == ["doubt"], "\(records)")
                #expect(missed.first?.scheduledAt == first.instant)
                #expect(missed.first?.rule == .unknownHistory)
            } else {
                #expect(missed.isEmpty, "lost with no loss of history in between: another node won it: \(records)")
            }
        }
    }
}
