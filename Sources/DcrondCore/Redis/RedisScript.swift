/// A Lua script sent with `EVALSHA`, its SHA-1 computed here so that no `SCRIPT LOAD` round trip
/// is needed. When the server does not know the script (after a restart or `SCRIPT FLUSH`), the
/// client sends it once with `EVAL`, which caches it again.
struct RedisScript: Sendable, Hashable {
    let source: String
    /// Lower-case hex SHA-1 of ``source``: the name Redis gives the script.
    let sha1: String

    init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hexDigest(Array(source.utf8))
    }
}
