import Testing

@testable import DcrondCore

@Suite("Redis commands and scripts")
struct RedisCommandTests {
    @Test("arguments keep their exact bytes")
    func argumentBytes() {
        let command = RedisCommand("SET", [UInt8]([0, 1, 2]), 42, Int64(-7), "é")
        #expect(
            command.arguments == [Array("SET".utf8), [0, 1, 2], Array("42".utf8), Array("-7".utf8), [0xC3, 0xA9]]
        )
        #expect(command.description == "SET")
        #expect(command.script == nil)
    }

    @Test("EVALSHA falls back to EVAL with the same keys and arguments")
    func evalFallback() throws {
        let script = RedisScript("return 1")
        let command = RedisCommand.evaluate(script, keys: ["k1", "k2"], arguments: ["a"])
        #expect(
            command.arguments.map { String(decoding: $0, as: UTF8.self) } == [
                "EVALSHA", script.sha1, "2", "k1", "k2", "a",
            ]
        )
        let fallback = try #require(command.evalFallback)
        #expect(
            fallback.arguments.map { String(decoding: $0, as: UTF8.self) } == [
                "EVAL", "return 1", "2", "k1", "k2", "a",
            ]
        )
        #expect(fallback.evalFallback == nil, "EVAL has nothing to fall back to")
    }

    @Test(
        "SHA-1 matches the FIPS 180 vectors",
        arguments: [
            ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
            (String(repeating: "a", count: 1000), "291e9a6c66994949b57ba5e650361e98fc36b1ba"),
        ]
    )
    func sha1(input: String, digest: String) {
        #expect(SHA1.hexDigest(Array(input.utf8)) == digest)
    }

    @Test("SHA-1 fed in pieces of any size gives the digest of the whole")
    func sha1Streaming() {
        let message = Array((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let whole = SHA1.hexDigest(message)
        for piece in [1, 3, 55, 56, 63, 64, 65, 127, 4096] {
            var hasher = SHA1()
            for start in stride(from: 0, to: message.count, by: piece) {
                hasher.update(message[start..<min(start + piece, message.count)])
            }
            #expect(hasher.finalize() == whole, "pieces of \(piece)")
        }
    }

    @Test("server errors keep their code")
    func serverErrorCode() throws {
        let error = RedisServerError(message: "NOSCRIPT No matching script. Please use EVAL.")
        #expect(error.code == "NOSCRIPT")
        #expect(throws: RedisServerError.self) { try RedisReply.error(error).orThrow() }
        #expect(try RedisReply.integer(3).orThrow().integer == 3)
    }
}
