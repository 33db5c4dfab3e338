import Testing

@testable import DcrondCore

@Suite("Run records")
struct RunRecordTests {
    private func attempt(_ number: Int, exit: Int32?, signal: Int32? = nil, error: String? = nil) -> AttemptRecord {
        AttemptRecord(
            attempt: number,
            pid: error == nil ? 4242 : nil,
            startedAt: 1_796_000_000_250,
            endedAt: 1_796_000_001_750,
            termination: exit.map { .exited($0) } ?? signal.map { .signaled($0) },
            timedOut: false,
            terminated: signal != nil,
            error: error
        )
    }

    @Test("a record survives its stored form: attempts, trigger, output tail, kill, lateness")
    func roundTrip() throws {
        var record = RunRecord(
            job: "backup",
            runID: "00ff",
            scheduledAt: 1_796_000_000,
            node: "node-a",
            attempts: [attempt(1, exit: 3), attempt(2, exit: nil, signal: 15)],
            outcome: .failed,
            trigger: .catchUp
        )
        record.output = [
            OutputTailLine(stream: .stdout, text: "copied 3 files"),
            OutputTailLine(stream: .stderr, text: "disk \"full\"\n"),
        ]
        record.outputDropped = 7
        record.killedBy = "operator"
        let decoded = try #require(RunRecord(serialized: record.json.serialized))
        #expect(decoded == record)
        #expect(decoded.startLatenessMilliseconds == 250)
        #expect(decoded.resultText == "signal 15 (SIGTERM), killed by operator")
    }

    @Test("skipped and missed instants: a range with its count and reason; manual runs have no lateness")
    func instants() throws {
        let skipped = RunRecord.instants(
            [100, 160, 220],
            of: "j",
            node: "n",
            outcome: .skipped("catchUp is none"),
            rule: .catchUp
        )
        let decoded = try #require(RunRecord(serialized: skipped.json.serialized))
        #expect(decoded.scheduledAt == 100 && decoded.through == 220 && decoded.count == 3)
        #expect(decoded.outcome == .skipped("catchUp is none") && decoded.rule == .catchUp)
        let missed = try #require(
            RunRecord(
                serialized: RunRecord.instants(
                    [5],
                    of: "j",
                    node: "n",
                    outcome: .missed("no node is active"),
                    rule: .noActiveNode
                ).json.serialized
            )
        )
        #expect(
            missed.outcome == .missed("no node is active") && missed.through == nil && missed.count == 1
                && missed.rule == .noActiveNode
        )
        let manual = RunRecord(
            job: "j",
            runID: "r",
            scheduledAt: 1_796_000_000,
            node: "n",
            attempts: [attempt(1, exit: 0)],
            outcome: .succeeded,
            trigger: .manual
        )
        #expect(manual.startLatenessMilliseconds == nil)
    }

    @Test("records of older writers (no trigger, no details) still read; garbage does not")
    func olderAndBroken() throws {
        let old =
            #"{"job":"j","runId":"r","scheduledAt":10,"node":"n","outcome":"succeeded","reason":null,"attempts":1,"startedAt":10000,"endedAt":10001,"result":{"exit":0},"timedOut":false}"#
        let decoded = try #require(RunRecord(serialized: old))
        #expect(decoded.trigger == .schedule && decoded.outcome == .succeeded && decoded.attempts.isEmpty)
        #expect(RunRecord(serialized: "not json") == nil)
        #expect(RunRecord(serialized: #"{"job":"j"}"#) == nil)
        #expect(RunRecord(serialized: #"{"job":"j","scheduledAt":1,"node":"n","outcome":"exploded"}"#) == nil)
    }

    @Test("the output tail keeps the last 20 lines within 4 KB, and the end of a giant line")
    func outputTail() {
        var tail = OutputTail()
        for index in 0..<50 { tail.append(OutputLine(stream: .stdout, text: "line \(index)", truncated: false)) }
        #expect(
            tail.lines.count == 20 && tail.lines.first?.text == "line 30" && tail.lines.last?.text == "line 49"
                && tail.dropped == 30
        )
        var wide = OutputTail()
        for _ in 0..<10 {
            wide.append(OutputLine(stream: .stderr, text: String(repeating: "x", count: 1000), truncated: false))
        }
        #expect(wide.lines.reduce(0) { $0 + $1.text.utf8.count } <= OutputTail.maximumBytes && wide.lines.count == 4)
        var giant = OutputTail()
        giant.append(
            OutputLine(stream: .stdout, text: String(repeating: "a", count: 10_000) + "THE END", truncated: false)
        )
        #expect(
            giant.lines.count == 1 && giant.lines[0].text.hasSuffix("THE END")
                && giant.lines[0].text.utf8.count <= OutputTail.maximumBytes
        )
    }
}
