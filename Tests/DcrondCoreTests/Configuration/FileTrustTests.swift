import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// Who may write the files root runs commands from: the pure rule, then real files.
@Suite("File trust")
struct FileTrustTests {
    let trust = FileTrust()
    let nobody: uid_t = 65534

    func facts(
        _ path: String = "/etc/dcrond/jobs.json",
        owner: uid_t = 0,
        mode: mode_t,
        directory: Bool = false
    ) -> FileTrust.Facts {
        FileTrust.Facts(path: path, owner: owner, mode: (directory ? S_IFDIR : S_IFREG) | mode, isDirectory: directory)
    }

    @Test("root's file, writable by root only, passes; so does a sticky folder such as /tmp")
    func passes() {
        #expect(trust.problem(facts(mode: 0o644), content: .configuration, isTheFile: true) == nil)
        #expect(trust.problem(facts(mode: 0o600), content: .secret, isTheFile: true) == nil)
        #expect(trust.problem(facts(mode: 0o640), content: .secret, isTheFile: true) == nil)
        #expect(
            trust.problem(facts("/tmp", mode: 0o1777, directory: true), content: .configuration, isTheFile: false)
                == nil
        )
    }

    @Test("a file anyone can write, a foreign owner, a writable folder, a readable password are refused")
    func refused() {
        let writable = trust.problem(facts(mode: 0o666), content: .configuration, isTheFile: true)
        #expect(
            writable
                == "owned by root (uid 0) with mode 0666: anyone can change it, and so run any command as the jobs' users. Fix: chmod go-w /etc/dcrond/jobs.json"
        )
        let group = trust.problem(facts(mode: 0o664), content: .configuration, isTheFile: true)
        #expect(group?.hasPrefix("owned by root (uid 0) with mode 0664: its group can change it") == true)
        let foreign = trust.problem(facts(owner: nobody, mode: 0o644), content: .configuration, isTheFile: true)
        #expect(
            foreign
                == "owned by nobody (uid 65534) with mode 0644: only root, the daemon's user or a --trusted-owner may own it, or its owner can run any command as the jobs' users. Fix: chown root /etc/dcrond/jobs.json, or start dcrond with --trusted-owner nobody if that account is meant to manage dcrond"
        )
        let folder = trust.problem(
            facts("/etc/dcrond", mode: 0o777, directory: true),
            content: .configuration,
            isTheFile: false
        )
        #expect(
            folder
                == "its folder /etc/dcrond is owned by root (uid 0) with mode 0777: anyone can replace the files in it, and so run any command as the jobs' users. Fix: chmod go-w /etc/dcrond"
        )
        let secret = trust.problem(facts("/etc/dcrond/redis.password", mode: 0o644), content: .secret, isTheFile: true)
        #expect(
            secret
                == "owned by root (uid 0) with mode 0644: anyone on this host can read the password. Fix: chmod o-r /etc/dcrond/redis.password"
        )
    }

    @Test("a trusted owner is accepted, still not a writable file")
    func trustedOwner() {
        let relaxed = FileTrust(trustedOwners: [nobody])
        #expect(relaxed.problem(facts(owner: nobody, mode: 0o644), content: .configuration, isTheFile: true) == nil)
        #expect(relaxed.problem(facts(owner: nobody, mode: 0o646), content: .configuration, isTheFile: true) != nil)
    }

    @Test("folders above a path, relative ones from the working directory")
    func folders() {
        #expect(FileTrust.folders(above: "/etc/dcrond/jobs.json") == ["/etc/dcrond", "/etc", "/"])
        var buffer = [CChar](repeating: 0, count: 4096)
        let cwd = String(cString: getcwd(&buffer, buffer.count))
        #expect(FileTrust.folders(above: "jobs.json").first == cwd)
    }

    @Test("a jobs file anyone can write is refused at load, naming it, its mode and the fix")
    func worldWritableJobs() throws {
        let folder = try ConfigurationFolder(jobs: #"{"jobs": []}"#)
        chmod(folder.path + "/jobs.json", 0o666)
        #expect(
            folder.problems() == [
                "DIR/jobs.json: owned by \(Accounts.userName(geteuid())) (uid \(geteuid())) with mode 0666: anyone can change it, and so run any command as the jobs' users. Fix: chmod go-w DIR/jobs.json"
            ]
        )
        chmod(folder.path + "/jobs.json", 0o644)
        chmod(folder.path, 0o777)
        defer { chmod(folder.path, 0o700) }
        #expect(
            folder.problems() == [
                "DIR/dcrond.json: its folder DIR is owned by \(Accounts.userName(geteuid())) (uid \(geteuid())) with mode 0777: anyone can replace the files in it, and so run any command as the jobs' users. Fix: chmod go-w DIR",
                "DIR/jobs.json: its folder DIR is owned by \(Accounts.userName(geteuid())) (uid \(geteuid())) with mode 0777: anyone can replace the files in it, and so run any command as the jobs' users. Fix: chmod go-w DIR",
            ]
        )
        // Commands that run nothing read it all the same.
        #expect(throws: Never.self) { try ConfigurationLoader.load(configPath: folder.configPath, trust: .unchecked) }
    }

    @Test("as root: files owned by nobody are refused, unless nobody is a trusted owner", .enabled(if: geteuid() == 0))
    func foreignOwner() throws {
        let folder = try ConfigurationFolder(jobs: #"{"jobs": []}"#)
        chown(folder.path + "/jobs.json", 65534, 65534)
        #expect(
            folder.problems() == [
                "DIR/jobs.json: owned by nobody (uid 65534) with mode 0644: only root, the daemon's user or a --trusted-owner may own it, or its owner can run any command as the jobs' users. Fix: chown root DIR/jobs.json, or start dcrond with --trusted-owner nobody if that account is meant to manage dcrond"
            ]
        )
        #expect(throws: Never.self) {
            try ConfigurationLoader.load(configPath: folder.configPath, trust: FileTrust(trustedOwners: [65534]))
        }
    }

    @Test("a password file others can read is refused")
    func readablePassword() throws {
        let folder = try ConfigurationFolder(
            daemon: #"{"cluster": "c", "redis": "redis://h", "redisPasswordFile": "redis.password"}"#,
            jobs: #"{"jobs": []}"#
        )
        try folder.write("redis.password", "secret\n")
        defer { unlink(folder.path + "/redis.password") }
        chmod(folder.path + "/redis.password", 0o644)
        #expect(
            folder.problems() == [
                "DIR/dcrond.json: redisPasswordFile: DIR/redis.password: owned by \(Accounts.userName(geteuid())) (uid \(geteuid())) with mode 0644: anyone on this host can read the password. Fix: chmod o-r DIR/redis.password"
            ]
        )
        chmod(folder.path + "/redis.password", 0o640)
        #expect(folder.problems() == [])
    }
}
