#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A user account from the system's user database (`getpwnam_r`).
struct UserAccount: Sendable, Hashable {
    let name: String
    let uid: uid_t
    let gid: gid_t
    let home: String
    let shell: String
}

enum Accounts {
    /// The account named `name` (or with that numeric uid), or nil if there is none.
    static func user(_ name: String) -> UserAccount? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if let uid = UInt32(name) {
            getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
        } else {
            getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        }
        guard let found = result?.pointee else { return nil }
        return UserAccount(
            name: String(cString: found.pw_name),
            uid: found.pw_uid,
            gid: found.pw_gid,
            home: String(cString: found.pw_dir),
            shell: String(cString: found.pw_shell)
        )
    }

    /// The gid of the group named `name` (or with that numeric gid), or nil if there is none.
    static func groupID(_ name: String) -> gid_t? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if let gid = UInt32(name) {
            getgrgid_r(gid, &entry, &buffer, buffer.count, &result)
        } else {
            getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        }
        return result?.pointee.gr_gid
    }

    /// The supplementary groups of `user` (`getgrouplist`), including `primary`.
    static func groups(of user: String, primary: gid_t) -> [gid_t] {
        var count: Int32 = 64
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            let previous = count
            if getgrouplist(user, primary, &groups, &count) >= 0 { return Array(groups.prefix(Int(count))) }
            if count <= previous { count = previous * 2 }
        }
    }

    /// The host name (`gethostname`), used as the default node name.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Accounts {
    /// The name of the account with `uid`, or the number when there is none.
    static func userName(_ uid: uid_t) -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
        guard let found = result?.pointee else { return String(uid) }
        return String(cString: found.pw_name)
    }
}
