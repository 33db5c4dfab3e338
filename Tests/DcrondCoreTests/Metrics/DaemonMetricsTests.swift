import Testing

@testable import DcrondCore

@Suite("Daemon metrics: the per-job families")
struct DaemonMetricsTests {
    func samples(_ metrics: DaemonMetrics) -> [String: String] {
        var result: [String: String] = [:]
        for line in String(decoding: metrics.exposition(), as: UTF8.self).split(separator: "\n")
        where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            result[String(line[..<space])] = String(line[line.index(after: space)...])
        }
        return result
    }

    func record(_ job: String, exit: Int32, lateMs: Int64, durationMs: Int64, killed: Bool = false) -> RunRecord {
        let start: Int64 = 1_796_000_000_000 + lateMs
        var record = RunRecord(
            job: job,
            runID: "r",
            scheduledAt: 1_796_000_000,
            node: "n",
            attempts: [
                AttemptRecord(
                    attempt: 1,
                    pid: 1,
                    startedAt: start,
                    endedAt: start + durationMs,
                    termination: .exited(exit),
                    timedOut: false,
                    terminated: killed,
                    error: nil
                )
            ],
            outcome: exit == 0 ? .succeeded : .failed
        )
        if killed { record.killedBy = "operator" }
        return record
    }

    @Test("every job starts at 0; runs count by result; histograms are cumulative; removed jobs go")
    func families() {
        let metrics = DaemonMetrics()
        metrics.track(jobs: ["a", "b", "gone"])
        var values = samples(metrics)
        for result in DaemonMetrics.results {
            #expect(values["dcrond_runs_total{job=\"b\",result=\"\(result)\"}"] == "0")
        }
        #expect(
            values[#"dcrond_missed_total{job="b"}"#] == "0"
                && values[#"dcrond_last_success_timestamp_seconds{job="b"}"#] == "0"
        )
        #expect(values[#"dcrond_run_duration_seconds_count{job="b"}"#] == nil, "histograms appear with the first run")
        metrics.ended(record("a", exit: 0, lateMs: 3, durationMs: 2_000))
        metrics.ended(record("a", exit: 1, lateMs: 70, durationMs: 20))
        metrics.ended(record("a", exit: 143, lateMs: 1, durationMs: 5, killed: true))
        metrics.skipped("a", .overlap, count: 2)
        metrics.missed("a")
        metrics.track(jobs: ["a", "b"])
        values = samples(metrics)
        #expect(values[#"dcrond_runs_total{job="a",result="succeeded"}"#] == "1")
        #expect(values[#"dcrond_runs_total{job="a",result="failed"}"#] == "1")
        #expect(values[#"dcrond_runs_total{job="a",result="killed"}"#] == "1")
        #expect(
            values[#"dcrond_skipped_total{job="a",reason="overlap"}"#] == "2"
                && values[#"dcrond_missed_total{job="a"}"#] == "1"
        )
        #expect(values[#"dcrond_start_lateness_seconds_bucket{job="a",le="0.005"}"#] == "2")
        #expect(values[#"dcrond_start_lateness_seconds_bucket{job="a",le="0.1"}"#] == "3")
        #expect(values[#"dcrond_start_lateness_seconds_bucket{job="a",le="+Inf"}"#] == "3")
        #expect(values[#"dcrond_run_duration_seconds_bucket{job="a",le="1"}"#] == "2")
        #expect(values[#"dcrond_run_duration_seconds_sum{job="a"}"#] == "2.025")
        #expect(values[#"dcrond_last_success_timestamp_seconds{job="a"}"#] == "1796000002.003")
        #expect(!values.keys.contains { $0.contains("gone") }, "series of a removed job stay")
        #expect(DaemonMetrics.escaped(#"a"b\c"#) == #"a\"b\\c"#)
    }
}
