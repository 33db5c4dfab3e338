// Fuzz targets for the parsers that read operator input: built with libFuzzer by `make fuzz`
// (`-sanitize=fuzzer,address -parse-as-library -DDCROND_FUZZ`), and without it as a replayer
// that feeds files to the same entry point, which `make test` runs over the committed corpus.
//
// The target is chosen by DCROND_FUZZ_TARGET: cron, duration, json or configuration.

import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

enum Target: String, CaseIterable {
    case cron, duration, json, configuration
}

nonisolated(unsafe) var target = Target.cron
nonisolated(unsafe) var scratch = ""

#if DCROND_FUZZ
// SwiftPM links an executable's entry as `<module>_main`; libFuzzer's driver runs from there.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("dcrond_fuzz_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    setUp()
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzz)
}
#endif

func setUp() {
    guard let name = getenv("DCROND_FUZZ_TARGET").map({ String(cString: $0) }), let chosen = Target(rawValue: name)
    else {
        let message = "set DCROND_FUZZ_TARGET to one of: \(Target.allCases.map(\.rawValue).joined(separator: ", "))\n"
        _ = message.utf8CString.withUnsafeBufferPointer { Glibc.write(2, $0.baseAddress, $0.count - 1) }
        exit(2)
    }
    target = chosen
    var template = Array("/dev/shm/dcrond-fuzz-XXXXXX".utf8CString)
    if let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) {
        scratch = String(cString: made)
    } else {
        var fallback = Array("/tmp/dcrond-fuzz-XXXXXX".utf8CString)
        scratch = String(cString: fallback.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    }
}

/// libFuzzer's entry point (its driver links against it by name).
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { fuzz(data, size) }

/// One input through the chosen target; a crash, a `fatalError` or a sanitizer report is a finding.
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch target {
    case .cron:
        let text = String(decoding: bytes, as: UTF8.self)
        if let schedule = try? Schedule(parsing: text, jobName: "fuzz") {
            // A schedule that parses must also plan: the next instants in a zone with DST.
            let zone = (try? TimeZoneRules.named("Europe/Berlin")) ?? .utc
            _ = schedule.instants(after: 1_700_000_000, count: 3, in: zone, policy: schedule.defaultDSTPolicy)
        }
    case .duration:
        let text = String(decoding: bytes, as: UTF8.self)
        if let duration = try? parseDuration(text) {
            // What is written back reads back the same.
            let written = formatDuration(duration)
            guard (try? parseDuration(written)) == duration else {
                fatalError("\"\(text)\" → \(written) does not read back")
            }
        }
    case .json:
        _ = try? JSONParser.parse(bytes)
    case .configuration:
        // The input is both files: the daemon file, a NUL byte, then the jobs file.
        let split = bytes.firstIndex(of: 0) ?? bytes.count
        // Another jobs file than the one written here would be any file of the host (a FIFO blocks).
        if case .object(let members)? = try? JSONParser.parse(Array(bytes[..<split])),
            let jobs = members.first(where: { $0.key == "jobs" }), case .string(let path) = jobs.value,
            path != "jobs.json"
        {
            return 0
        }
        write(scratch + "/dcrond.json", bytes[..<split])
        write(scratch + "/jobs.json", split < bytes.count ? bytes[(split + 1)...] : [])
        do {
            _ = try ConfigurationLoader.load(configPath: scratch + "/dcrond.json", trust: .unchecked)
        } catch {
            guard error.problems.count <= 200, error.description.utf8.count < 200_000 else {
                fatalError("unbounded report: \(error.count) problems")
            }
        }
    }
    return 0
}

func write(_ path: String, _ bytes: ArraySlice<UInt8>) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { fatalError("cannot write \(path)") }
    bytes.withUnsafeBytes { buffer in _ = Glibc.write(fd, buffer.baseAddress, buffer.count) }
    close(fd)
}
