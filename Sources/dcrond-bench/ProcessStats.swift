import ArgumentParser
import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// utime + stime of a process, in clock ticks.
func cpuTicks(_ pid: pid_t) throws -> Int64 {
    let text = String(decoding: try FileSystem.readFile("/proc/\(pid)/stat"), as: UTF8.self)
    guard let close = text.lastIndex(of: ")") else { throw ValidationError("cannot read /proc/\(pid)/stat") }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After "(comm)": state is field 0; utime and stime are fields 11 and 12.
    return (Int64(fields[11]) ?? 0) + (Int64(fields[12]) ?? 0)
}

func residentKilobytes(_ pid: pid_t) -> Int {
    guard let bytes = try? FileSystem.readFile("/proc/\(pid)/status") else { return 0 }
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
    return 0
}
