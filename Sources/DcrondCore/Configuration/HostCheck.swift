#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a valid configuration still needs from this host: folders, password files and the right to
/// switch users. A jobs file is shared by hosts that may differ, so these are warnings, not problems
/// of the file: `dcrond check` prints them, `check --connect` fails on them, the daemon logs them at
/// start.
enum HostCheck {
    static func warnings(_ loaded: LoadedConfiguration) -> [String] {
        var warnings: [String] = []
        let daemon = loaded.daemon
        let config = daemon.path
        for (key, file) in [
            ("redisPasswordFile", daemon.redis?.passwordFile),
            ("sentinelPasswordFile", daemon.redis?.sentinelGroup?.passwordFile),
        ] {
            guard let file else { continue }
            do {
                let bytes = try FileSystem.readFile(file, limit: 64 * 1024)
                if String(decoding: bytes, as: UTF8.self).trimmingWhitespace().isEmpty {
                    warnings.append("\(config): \(key): \(file) is empty: the login to Redis would fail")
                }
            } catch {
                warnings.append(
                    "\(config): \(key): cannot read \(file): \(error.reason): every connection to Redis would fail"
                )
            }
        }
        let root = geteuid() == 0
        // Many jobs share a folder and a user: each is looked up once.
        var folders: [String: String?] = [:]
        var uids: [String: uid_t?] = [:]
        for job in loaded.table.jobs where job.enabled {
            let label = "\(loaded.table.path): job \"\(job.name)\""
            if let directory = job.workingDirectory {
                let problem =
                    folders[directory]
                    ?? {
                        var status = stat()
                        let found: String? =
                            if stat(directory, &status) != 0 {
                                "\(directory): \(errnoDescription()) on this host: every run would fail"
                            } else if status.st_mode & S_IFMT != S_IFDIR {
                                "\(directory) is not a folder: every run would fail"
                            } else {
                                nil
                            }
                        folders[directory] = found
                        return found
                    }()
                if let problem { warnings.append("\(label): workingDirectory: \(problem)") }
            }
            if !root, let user = job.user {
                let uid =
                    uids[user]
                    ?? {
                        let found = Accounts.user(user)?.uid
                        uids[user] = found
                        return found
                    }()
                guard let uid, uid != geteuid() else { continue }
                warnings.append(
                    "\(label): user: dcrond runs as \(Accounts.userName(geteuid())), not root: it cannot run this job as \"\(user)\""
                )
            }
        }
        return warnings
    }
}
