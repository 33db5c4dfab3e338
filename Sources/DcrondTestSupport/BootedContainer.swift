import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// A Debian bookworm root file system booted by `systemd-nspawn --boot`: a real systemd 252 as
/// PID 1 of its own namespaces (the host's PID 1 need not be systemd), with a private network
/// (loopback only) and its own journald. Commands run inside through `nsenter`.
///
/// The root file system is made once by debootstrap and cached as a tarball
/// (``rootfsTarball(including:)``); each container unpacks a copy, so tests start clean.
package final class BootedContainer: Sendable {
    package let root: String
    private let nspawn: pid_t
    private let leader: pid_t
    private let console: String

    /// The packages the tests need inside: the service manager, Redis and what the package
    /// depends on (the container has no network, so nothing can be fetched later).
    package static let packages = [
        "systemd", "systemd-sysv", "dbus", "procps", "redis-server", "libhiredis0.14", "man-db",
    ]

    /// The test's tarball of a bookworm root file system with `packages`, made by debootstrap
    /// (about a minute, 250 MB) if the cache does not have it.
    package static func rootfsTarball(including packages: [String] = packages) async throws -> String {
        let key = StableHash.fnv1a64(packages.joined(separator: ",").utf8)
        let tarball = "/var/tmp/dcrond-rootfs-bookworm-\(String(key, radix: 16)).tar"
        if access(tarball, R_OK) == 0 { return tarball }
        let work = "/var/tmp/dcrond-rootfs-\(getpid())"
        _ = try await runProcess(["/bin/rm", "-rf", work])
        // A proxy apt is configured with (Acquire::http::Proxy) is one debootstrap needs too.
        var environment: [String]?
        if let proxy = await shellOutput("apt-config shell PROXY Acquire::http::Proxy"),
            let value = proxy.split(separator: "'").dropFirst().first
        {
            environment = inheritedEnvironment() + ["http_proxy=\(value)", "https_proxy=\(value)"]
        }
        let made = try await runProcess(
            [
                "/usr/sbin/debootstrap", "--variant=minbase", "--include=\(packages.joined(separator: ","))",
                "bookworm", work + "/root", await debianMirror(),
            ],
            environment: environment
        )
        guard made.status == 0 else {
            throw HarnessError("debootstrap failed (\(made.status)): \(made.standardError.suffix(2000))")
        }
        let packed = try await runProcess(["/bin/tar", "-C", work + "/root", "-cf", tarball + ".tmp", "."])
        guard packed.status == 0, rename(tarball + ".tmp", tarball) == 0 else {
            throw HarnessError("cannot write \(tarball): \(packed.standardError)")
        }
        _ = try await runProcess(["/bin/rm", "-rf", work])
        return tarball
    }

    /// The Debian mirror this machine's apt uses (its first non-security source), which is the
    /// one it can reach; Debian's own name for it otherwise.
    private static func debianMirror() async -> String {
        let command =
            #"cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}'; "#
            + #"cat /etc/apt/sources.list 2>/dev/null | awk '/^deb / {print $2}'"#
        let candidates = (await shellOutput(command) ?? "").split(separator: "\n").map(String.init)
        return candidates.first { !$0.contains("security") && $0.hasPrefix("http") } ?? "http://deb.debian.org/debian"
    }

    /// nspawn ended before the container booted.
    struct ContainerExited: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Boots `tarball` (``init(tarball:)``), once more if systemd-nspawn itself exits during the
    /// boot: seen once in CI on a machine that had just installed systemd-container, and not again
    /// in two boots on the same machine (a fresh root file system and a cached one). The first
    /// failure is printed, so that a second one says whether it was the same.
    package static func boot(tarball: String) async throws -> BootedContainer {
        do {
            return try await BootedContainer(tarball: tarball)
        } catch let exited as ContainerExited {
            print("the container's first boot failed, booting again: \(exited)")
            return try await BootedContainer(tarball: tarball)
        }
    }

    /// Unpacks `tarball` and boots it; returns once systemd reports the boot finished.
    package init(tarball: String) async throws {
        let directory = try makeTemporaryDirectory(prefix: "/var/tmp/dcrond-nspawn-")
        root = directory + "/root"
        console = directory + "/console.log"
        guard mkdir(root, 0o755) == 0 else { throw HarnessError("mkdir \(root): \(errnoDescription())") }
        let unpacked = try await runProcess(["/bin/tar", "-C", root, "-xf", tarball])
        guard unpacked.status == 0 else { throw HarnessError("cannot unpack \(tarball): \(unpacked.standardError)") }
        nspawn = try spawn(
            [
                "/usr/bin/systemd-nspawn", "--boot", "--register=no", "--keep-unit", "--link-journal=no",
                "--private-network",
                "--console=pipe", "-q", "-D", root, "-M", "dcrondci",
            ],
            standardOutput: console,
            standardError: directory + "/nspawn.err"
        )
        // The container's PID 1 is nspawn's child.
        var found: pid_t?
        for _ in 0..<100 {
            if let text = await shellOutput("pgrep -P \(nspawn)"),
                let pid = text.split(separator: "\n").first.flatMap({ pid_t($0) })
            {
                found = pid
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let found else { throw HarnessError("systemd-nspawn started no container (see \(directory))") }
        leader = found
        // Until its D-Bus is up, systemctl cannot even ask: retry, for a minute at most.
        var last = ""
        for _ in 0..<120 {
            var status: Int32 = 0
            if waitpid(nspawn, &status, WNOHANG) == nspawn {
                let errors = (try? FileSystem.readFile(directory + "/nspawn.err")).map {
                    String(decoding: $0, as: UTF8.self)
                }
                let boot = (try? FileSystem.readFile(console)).map { String(decoding: $0.suffix(2000), as: UTF8.self) }
                _ = try? await runProcess(["/bin/rm", "-rf", directory])
                throw ContainerExited(
                    message:
                        "systemd-nspawn exited (wait status \(status)) before the container booted: \(errors ?? "")\nconsole: \(boot ?? "")"
                )
            }
            let booted = try await run("systemctl is-system-running --wait")
            if booted.standardOutput.contains("running") || booted.standardOutput.contains("degraded") { return }
            last = booted.standardOutput + booted.standardError
            try await Task.sleep(for: .milliseconds(500))
        }
        await shutdown()
        throw HarnessError("the container did not boot within a minute: \(last)")
    }

    /// Runs `command` with `/bin/sh -c` inside the container, in all its namespaces.
    package func run(_ command: String) async throws -> ProcessResult {
        try await runProcess(
            [
                "/usr/bin/nsenter", "--target", "\(leader)", "-m", "-u", "-i", "-n", "-p", "-C", "/bin/sh", "-c",
                command,
            ],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"]
        )
    }

    /// Powers the container off (nspawn turns SIGTERM into a clean shutdown), then deletes it.
    package func shutdown() async {
        kill(nspawn, SIGTERM)
        let reaped = try? await onOwnThread { [nspawn] in
            var status: Int32 = 0
            for _ in 0..<300 {
                if waitpid(nspawn, &status, WNOHANG) == nspawn { return true }
                usleep(100_000)
            }
            return false
        }
        if reaped != true {
            kill(nspawn, SIGKILL)
            _ = try? await onOwnThread { [nspawn] in waitpid(nspawn, nil, 0) }
        }
        let folder = String(root.dropLast("/root".count))
        _ = try? await runProcess(["/bin/rm", "-rf", folder])
    }
}
