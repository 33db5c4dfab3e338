#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `execve` accepts, so that a command it would refuse with `E2BIG` ("Argument list too
/// long") is refused when the table is checked instead of failing at every run.
///
/// Linux limits each argument or environment string to ``maximumStringLength`` bytes (32 pages,
/// `MAX_ARG_STRLEN`), and all of them together, with their pointers, to ``totalLimit`` (a quarter of
/// the stack limit, at least 128 KiB; `sysconf(_SC_ARG_MAX)`). A run's command is one argument of
/// `/bin/sh -c`, and its environment is the job's variables plus the ones dcrond sets.
enum ArgumentLimits {
    /// `MAX_ARG_STRLEN` including the terminating NUL.
    static let maximumStringLength = 32 * 4096

    /// What this process may pass to `execve`, as its children inherit it.
    static var totalLimit: Int {
        let value = sysconf(Int32(_SC_ARG_MAX))
        return value > 0 ? value : 128 * 1024
    }

    /// Room kept for the variables set at run time (`HOME`, `PATH`, the `DCRON_` ones, and the
    /// `sh -c` arguments around the command).
    static let runtimeAllowance = 4096

    /// The field and the reason if `command` with `environment` cannot be executed; nil otherwise.
    static func problem(
        command: String,
        environment: [String: String],
        totalLimit: Int = totalLimit
    ) -> (field: String, message: String)? {
        let commandBytes = command.utf8.count + 1
        if commandBytes > maximumStringLength {
            return (
                "command",
                "is \(commandBytes - 1) bytes; the system runs commands of at most \(maximumStringLength - 1) bytes (Argument list too long). Put it in a script and run that"
            )
        }
        var total = commandBytes + runtimeAllowance
        for (name, value) in environment {
            let bytes = name.utf8.count + 1 + value.utf8.count + 1
            if bytes > maximumStringLength {
                return (
                    "environment.\(name)",
                    "is \(bytes - 1) bytes; the system passes variables of at most \(maximumStringLength - 1) bytes (Argument list too long)"
                )
            }
            total += bytes + MemoryLayout<UnsafePointer<CChar>>.size
        }
        if total > totalLimit {
            return (
                "command",
                "the command and its environment take \(total) bytes with what dcrond adds; the system passes at most \(totalLimit) to a program (Argument list too long)"
            )
        }
        return nil
    }
}
