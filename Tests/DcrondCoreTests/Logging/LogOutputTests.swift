import Logging
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

@Suite("Log records: logfmt, JSON lines, journal fields and priorities")
struct LogOutputTests {
    @Test(
        "logfmt: millisecond UTC time, level, message, sorted pairs; values with spaces, quotes or newlines are quoted"
    )
    func logfmt() {
        // 2026-12-01T02:30:00.004Z
        let time: Int64 = 1_796_092_200_004_000_000
        let line = LogOutput.logfmtLine(
            time: time,
            level: .info,
            message: "run started",
            metadata: ["mode": "cluster main", "job": "backup", "quote": "say \"hi\"", "empty": "", "lines": "a\nb"]
        )
        #expect(
            line
                == #"2026-12-01T02:30:00.004Z info run started empty="" job=backup lines="a\nb" mode="cluster main" quote="say \"hi\"""#
        )
        #expect(LogOutput.logfmtValue("a=b") == #""a=b""#)
        #expect(LogOutput.logfmtValue("plain-word_1.2") == "plain-word_1.2")
        #expect(LogOutput.logfmtValue("tab\there\u{1b}") == #""tab\there\u001b""#)
    }

    @Test("a newline in a message cannot forge a second record")
    func messageNewline() {
        let line = LogOutput.logfmtLine(
            time: 0,
            level: .warning,
            message: "one\n1970-01-01T00:00:00.000Z error forged",
            metadata: [:]
        )
        #expect(!line.contains("\n"))
    }

    @Test("the timestamp is the clock's, to the millisecond, never the previous second")
    func timestamp() {
        #expect(LogOutput.timestamp(0) == "1970-01-01T00:00:00.000Z")
        #expect(LogOutput.timestamp(1_796_092_199_999_999_999) == "2026-12-01T02:29:59.999Z")
        #expect(LogOutput.timestamp(1_796_092_200_000_000_000) == "2026-12-01T02:30:00.000Z")
    }

    @Test("JSON lines: one object, time, level and message first")
    func json() throws {
        let line = LogOutput.jsonLine(time: 1_000, level: .error, message: "missed: \"x\"", metadata: ["job": "a b"])
        #expect(line == #"{"time":"1970-01-01T00:00:00.000Z","level":"error","message":"missed: \"x\"","job":"a b"}"#)
        #expect(try JSONParser.parse(Array(line.utf8))["job"]?.stringValue == "a b")
    }

    @Test("levels map to syslog priorities: info 6, notice 5, warning 4, error 3, critical 2")
    func priorities() {
        #expect(Logger.Level.allCases.map(LogOutput.priority) == [7, 7, 6, 5, 4, 3, 2])
    }

    @Test("metadata keys become DCRON_ fields operators filter on")
    func fields() {
        #expect(LogOutput.journalField("job") == "DCRON_JOB")
        #expect(LogOutput.journalField("run") == "DCRON_RUN_ID")
        #expect(LogOutput.journalField("scheduledAt") == "DCRON_SCHEDULED_AT")
        #expect(LogOutput.journalField("exitStatus") == "DCRON_EXIT_STATUS")
        #expect(LogOutput.journalField("event") == "DCRON_EVENT")
        #expect(LogOutput.journalField("durationMs") == "DCRON_DURATION_MS")
        #expect(LogOutput.journalField("weird-key.x") == "DCRON_WEIRD_KEY_X")
        #expect(LogOutput.journalField(String(repeating: "a", count: 100)).count == 64)
    }

    @Test("every kind of record has its own 128-bit MESSAGE_ID")
    func messageIDs() {
        let ids = LogEvent.allCases.map(\.messageID)
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) && $0 == $0.lowercased() })
    }

    @Test("records below the level are dropped, job output never; the level changes for every logger at once")
    func levels() throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        defer { close(descriptors[0]) }
        let output = LogOutput(format: .logfmt, level: .warning, node: "n1", descriptor: descriptors[1])
        let logger = output.logger()
        logger.info("hidden")
        logger.warning("shown", metadata: Logger.Metadata().event(.runFailed))
        output.jobOutput(
            JobRunner.RunContext(job: "j", runID: "r", scheduledAt: 5, attempt: 1),
            OutputLine(stream: .stdout, text: "job says hi", truncated: false)
        )
        output.level = .debug
        logger.debug("now shown")
        close(descriptors[1])
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let count = read(descriptors[0], &buffer, 4096), count > 0 { bytes += buffer[0..<count] }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map {
            String($0.split(separator: " ", maxSplits: 1)[1])
        }
        #expect(
            lines == [
                "warning shown event=run-failed node=n1",
                "info job says hi attempt=1 job=j node=n1 run=r scheduledAt=5 stream=stdout",
                "debug now shown node=n1",
            ]
        )
    }
}
