import Testing

@testable import DcrondCore

@Suite("Run history: the commands that store and read records")
struct RunHistoryTests {
    private let keys = ClusterKeys(cluster: "c")

    private func record(_ outcome: RunOutcome, _ trigger: RunTrigger) -> RunRecord {
        RunRecord(
            job: "backup",
            runID: "r1",
            scheduledAt: 1_796_000_000,
            node: "a",
            attempts: [],
            outcome: outcome,
            trigger: trigger
        )
    }

    private func words(_ commands: [RedisCommand]) -> [[String]] {
        commands.map { $0.arguments.map { String(decoding: $0, as: UTF8.self) } }
    }

    @Test("a run is pushed and trimmed to the history's length; a success and a manual run are also kept apart")
    func writes() {
        let failed = words(RunHistory.writes(record(.failed, .schedule), keys: keys))
        #expect(
            failed.map { Array($0.prefix(2)) } == [["LPUSH", keys.runs("backup")], ["LTRIM", keys.runs("backup")]]
        )
        #expect(failed[1].suffix(2) == ["0", "\(RunHistory.length - 1)"])
        let manual = words(RunHistory.writes(record(.succeeded, .manual), keys: keys))
        #expect(
            manual.map { Array($0.prefix(3)) } == [
                ["LPUSH", keys.runs("backup"), manual[0][2]], ["LTRIM", keys.runs("backup"), "0"],
                ["HSET", keys.lastSuccess, "backup"], ["HSET", keys.lastManual, "backup"],
            ]
        )
        #expect(RunRecord(serialized: manual[3][3]) == record(.succeeded, .manual).withRecordedAt(of: manual[3][3]))
    }

    @Test("records that cannot be read are left out of a history, not a reason to show none")
    func unreadable() {
        let stored = record(.succeeded, .schedule).json.serialized
        let reply = RedisReply.array([.bulk(Array(stored.utf8)), .bulk(Array("{not a record".utf8)), .null])
        #expect(RunHistory.records(in: reply).map(\.runID) == ["r1"])
        #expect(RunHistory.record(in: .null) == nil)
        #expect(RunHistory.record(in: .bulk(Array(stored.utf8)))?.job == "backup")
    }
}

extension RunRecord {
    /// The same record with the write time a stored copy carries.
    fileprivate func withRecordedAt(of text: String) -> RunRecord {
        var copy = self
        copy.recordedAt = RunRecord(serialized: text)?.recordedAt ?? 0
        return copy
    }
}
