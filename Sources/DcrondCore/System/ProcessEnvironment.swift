import CDcrondSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon's own environment, reduced after start-up to what it reads later.
///
/// Jobs never inherit it (each run gets `HOME`, `USER`, `LOGNAME`, `SHELL`, `PATH`, its own
/// variables and the `DCRON_` ones), but a job running as the daemon's user could read it through
/// `/proc/<daemon>/environ`: whatever a service manager or an operator's shell passed (tokens,
/// proxies with passwords). Jobs running as another user cannot: the kernel allows that file only
/// to processes that may ptrace the daemon.
enum ProcessEnvironment {
    /// What the daemon reads after start-up: zone lookups at a reload, and the service manager's
    /// variables (journal, readiness, watchdog).
    static let kept = [
        "TZ", "TZDIR", "PATH", "LANG", "LC_ALL", "LC_CTYPE", "NOTIFY_SOCKET", "JOURNAL_STREAM",
        "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID", "RUNTIME_DIRECTORY",
    ]

    /// Drops every other variable and blanks the block `/proc/<pid>/environ` shows. Returns false
    /// if that block could not be found (the variables are dropped all the same).
    @discardableResult
    static func scrub(keeping names: [String] = kept) -> Bool {
        var pointers: [UnsafePointer<CChar>?] = names.map { UnsafePointer(strdup($0)) }
        defer { for pointer in pointers { free(UnsafeMutablePointer(mutating: pointer)) } }
        return pointers.withUnsafeMutableBufferPointer { buffer in
            dcrond_scrub_environment(buffer.baseAddress, buffer.count) == 0
        }
    }
}
