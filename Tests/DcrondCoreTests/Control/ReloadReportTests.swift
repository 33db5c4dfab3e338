import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

@Suite("The reload's answer for dcrond reload")
struct ReloadReportTests {
    @Test("written atomically and read back; a truncated file reads as none")
    func roundTrip() throws {
        var template = Array("/tmp/dcrond-report-XXXXXX".utf8CString)
        let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        defer {
            unlink(ReloadReport.path(in: directory))
            rmdir(directory)
        }
        let report = ReloadReport(
            pid: 42,
            generation: 3,
            accepted: false,
            fingerprint: "00ff",
            problems: ["jobs.json: job \"a\": schedule: \"x\""],
            needsRestart: ["redis"]
        )
        try report.write(in: directory)
        #expect(ReloadReport.read(in: directory) == report)
        #expect(access(ReloadReport.path(in: directory) + ".tmp", F_OK) != 0, "no temporary file left")
        let text = Array(report.encoded.utf8)
        #expect(ReloadReport(decoding: Array(text.prefix(text.count / 2))) == nil)
    }
}
