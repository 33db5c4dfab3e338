/// A Lua script sent with `EVALSHA`, its SHA-1 computed here so that no `SCRIPT LOAD` round trip
/// is needed. When the server does not know the script (after a restart or `SCRIPT FLUSH`), the
/// client sends it once with `EVAL`, which caches it again.
package struct RedisScript: Sendable, Hashable {
    package let source: String
    /// Lower-case hex SHA-1 of ``source``: the name Redis gives the script.
    package let sha1: String

    package init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hexDigest(Array(source.utf8))
    }
}
