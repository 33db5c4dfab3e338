#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who may write the files the daemon executes from, checked as cron checks crontabs.
///
/// The jobs file says what runs, as which user: whoever can write it, or its configuration, or a
/// folder above either (and so rename another file into place), can run commands as those users,
/// root included. A file passes when it and every folder above it are owned by root, the daemon's
/// own user or a ``trustedOwners`` account, and writable by no one else (a sticky folder such as
/// `/tmp` may be writable by all: there nobody can replace a file they do not own). A password file
/// must also not be readable by others. The rules apply whatever the daemon runs as: a daemon that is
/// not root still runs its jobs as its own user.
package struct FileTrust: Sendable, Hashable {
    /// Owners whose files are trusted: root and the daemon's effective user always.
    var trustedOwners: Set<uid_t>
    /// False for commands that only read the configuration and never run a job (`status`, `next`).
    var enforced = true

    init(trustedOwners: Set<uid_t> = []) {
        self.trustedOwners = trustedOwners.union([0, geteuid()])
    }

    /// No check: for readers that run nothing.
    package static var unchecked: FileTrust {
        var trust = FileTrust()
        trust.enforced = false
        return trust
    }

    /// What a check needs to know about one file or folder (`lstat`).
    struct Facts: Sendable, Hashable {
        var path: String
        var owner: uid_t
        var mode: mode_t
        var isDirectory: Bool

        init(path: String, owner: uid_t, mode: mode_t, isDirectory: Bool) {
            self.path = path
            self.owner = owner
            self.mode = mode
            self.isDirectory = isDirectory
        }
    }

    /// What a file holds, which decides what others may do with it.
    enum Content: Sendable {
        /// The configuration or the jobs file: others must not write it.
        case configuration
        /// A password: others must not read it either.
        case secret
    }

    /// The problem with `facts` (a file of `content`, or one of its folders), or nil when it passes.
    func problem(_ facts: Facts, content: Content, isTheFile: Bool) -> String? {
        let permissions = facts.mode & 0o7777
        let shown = "owned by \(Accounts.userName(facts.owner)) (uid \(facts.owner)) with mode \(octal(permissions))"
        let what = isTheFile ? "" : "its folder \(facts.path) is "
        if !trustedOwners.contains(facts.owner) {
            return
                "\(what)\(shown): only root, the daemon's user or a --trusted-owner may own it, or its owner can run any command as the jobs' users. "
                + "Fix: chown root \(facts.path)\(isTheFile ? "" : " (or move the file)"), or start dcrond with --trusted-owner \(Accounts.userName(facts.owner)) if that account is meant to manage dcrond"
        }
        let sticky = facts.isDirectory && permissions & 0o1000 != 0
        if permissions & 0o022 != 0 && !sticky {
            let who = permissions & 0o002 != 0 ? "anyone" : "its group"
            return
                "\(what)\(shown): \(who) can \(isTheFile ? "change it" : "replace the files in it"), and so run any command as the jobs' users. Fix: chmod go-w \(facts.path)"
        }
        if isTheFile, content == .secret, permissions & 0o004 != 0 {
            return "\(shown): anyone on this host can read the password. Fix: chmod o-r \(facts.path)"
        }
        return nil
    }

    /// Checks `path` and every folder above it (those of the path as given, and of the file it
    /// resolves to through symbolic links). Nil when all pass or the file does not exist (its
    /// reader reports that).
    func check(_ path: String, content: Content) -> String? {
        guard enforced, let file = Self.facts(path) else { return nil }
        var chain: [Facts] = []
        var resolved = path
        if let real = realpath(path, nil) {
            resolved = String(cString: real)
            free(real)
        }
        if let target = Self.facts(resolved) { chain.append(target) } else { chain.append(file) }
        var seen: Set<String> = [chain[0].path]
        for start in [path, resolved] {
            for folder in Self.folders(above: start) where seen.insert(folder).inserted {
                if let facts = Self.facts(folder) { chain.append(facts) }
            }
        }
        for (index, facts) in chain.enumerated() {
            if let problem = problem(facts, content: content, isTheFile: index == 0) { return problem }
        }
        return nil
    }

    static func facts(_ path: String) -> Facts? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return Facts(
            path: path,
            owner: status.st_uid,
            mode: status.st_mode,
            isDirectory: status.st_mode & S_IFMT == S_IFDIR
        )
    }

    /// `/a/b/c` → `/a/b`, `/a`, `/`; a relative path starts from the working directory.
    static func folders(above path: String) -> [String] {
        var absolute = path
        if !absolute.hasPrefix("/") {
            guard let cwd = getcwd(nil, 0) else { return [] }
            absolute = String(cString: cwd) + "/" + path
            free(cwd)
        }
        var parts = absolute.split(separator: "/").map(String.init)
        var folders: [String] = []
        while !parts.isEmpty {
            parts.removeLast()
            folders.append("/" + parts.joined(separator: "/"))
        }
        return folders
    }

    private func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
