import Testing

@testable import DcrondCore

@Suite("Redis addresses")
struct RedisEndpointTests {
    @Test(
        "accepted forms",
        arguments: [
            ("redis://127.0.0.1", RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6379))),
            (
                "redis://redis.internal:6380/4",
                RedisEndpoint(address: .tcp(host: "redis.internal", port: 6380), database: 4)
            ),
            ("redis://:pw@h", RedisEndpoint(address: .tcp(host: "h", port: 6379), password: "pw")),
            ("redis://pw@h:1", RedisEndpoint(address: .tcp(host: "h", port: 1), password: "pw")),
            (
                "redis://alice:p%40ss%3Aw@h/",
                RedisEndpoint(address: .tcp(host: "h", port: 6379), username: "alice", password: "p@ss:w")
            ),
            ("redis://u:a@b@h", RedisEndpoint(address: .tcp(host: "h", port: 6379), username: "u", password: "a@b")),
            ("redis://[::1]:7000/1", RedisEndpoint(address: .tcp(host: "::1", port: 7000), database: 1)),
            ("redis://[::1]", RedisEndpoint(address: .tcp(host: "::1", port: 6379))),
            ("unix:///run/redis/redis.sock", RedisEndpoint(address: .unix(path: "/run/redis/redis.sock"))),
            ("unix:///run/redis.sock?db=7", RedisEndpoint(address: .unix(path: "/run/redis.sock"), database: 7)),
        ]
    )
    func accepted(text: String, expected: RedisEndpoint) throws {
        #expect(try RedisEndpoint(parsing: text) == expected)
    }

    @Test(
        "rejected forms name the address and the reason",
        arguments: [
            (
                "localhost:6379",
                "invalid Redis address \"localhost:6379\": expected redis://[user:password@]host[:port][/db], unix:///path/to/redis.sock[?db=N] or redis+sentinel://host[:port][,host[:port]...]/MASTER[/db]"
            ),
            ("redis://h:0", "invalid Redis address \"redis://h:0\": port \"0\" is not a number from 1 to 65535"),
            (
                "redis://h:http",
                "invalid Redis address \"redis://h:http\": port \"http\" is not a number from 1 to 65535"
            ),
            ("redis://h/x", "invalid Redis address \"redis://h/x\": database \"x\" is not a number from 0 up"),
            ("redis://:6379", "invalid Redis address \"redis://:6379\": the host is missing"),
            ("redis://[::1", "invalid Redis address \"redis://[::1\": unterminated IPv6 address"),
            (
                "redis://u:secret@h:99999",
                "invalid Redis address \"redis://u:***@h:99999\": port \"99999\" is not a number from 1 to 65535"
            ),
            ("redis://u:p%zz@h", "invalid Redis address \"redis://u:***@h\": bad percent-escape in the credentials"),
            (
                "rediss://h",
                "invalid Redis address \"rediss://h\": TLS (rediss://) is not supported; use a local TLS tunnel or a unix socket"
            ),
            (
                "unix://relative.sock",
                "invalid Redis address \"unix://relative.sock\": a unix address needs an absolute socket path, as in unix:///run/redis/redis.sock"
            ),
            (
                "unix:///r.sock?timeout=1",
                "invalid Redis address \"unix:///r.sock?timeout=***\": unknown parameter \"timeout\" (only db=N is understood)"
            ),
        ]
    )
    func rejected(text: String, message: String) {
        let error = #expect(throws: RedisEndpointError.self) { try RedisEndpoint(parsing: text) }
        #expect(error?.description == message)
    }

    @Test("descriptions never show the password")
    func descriptionMasksPassword() throws {
        #expect(try RedisEndpoint(parsing: "redis://alice:hunter2@h:1/2").description == "redis://alice:***@h:1/2")
        #expect(try RedisEndpoint(parsing: "redis://:hunter2@h").description == "redis://:***@h:6379/0")
        #expect(try RedisEndpoint(parsing: "redis://[::1]:5").description == "redis://[::1]:5/0")
        #expect(try RedisEndpoint(parsing: "unix:///s?db=2").description == "unix:///s?db=2")
    }
}

@Suite("Sentinel addresses")
struct SentinelEndpointTests {
    @Test("accepted forms")
    func accepted() throws {
        let one = try RedisEndpoint(parsing: "redis+sentinel://s1/mymaster")
        #expect(
            one
                == RedisEndpoint(
                    address: .sentinel(SentinelGroup(sentinels: [.init(host: "s1", port: 26379)], master: "mymaster"))
                )
        )
        let many = try RedisEndpoint(parsing: "redis+sentinel://alice:p%40ss@s1:5000,[::1],s3:26380/prod-redis/3")
        #expect(
            many.sentinelGroup?.sentinels == [
                .init(host: "s1", port: 5000), .init(host: "::1", port: 26379), .init(host: "s3", port: 26380),
            ]
        )
        #expect(many.sentinelGroup?.master == "prod-redis")
        #expect(many.username == "alice")
        #expect(many.password == "p@ss")
        #expect(many.database == 3)
        #expect(many.description == "redis+sentinel://alice:***@s1:5000,[::1]:26379,s3:26380/prod-redis/3")
    }

    @Test(
        "rejected forms name the address and the reason, password masked",
        arguments: [
            (
                "redis+sentinel://s1",
                "invalid Redis address \"redis+sentinel://s1\": the master name is missing, as in redis+sentinel://host:26379/mymaster"
            ),
            (
                "redis+sentinel://s1:1/",
                "invalid Redis address \"redis+sentinel://s1:1/\": the master name is missing, as in redis+sentinel://host:26379/mymaster"
            ),
            (
                "redis+sentinel:///m",
                "invalid Redis address \"redis+sentinel:///m\": an empty sentinel address in the list"
            ),
            (
                "redis+sentinel://a,,b/m",
                "invalid Redis address \"redis+sentinel://a,,b/m\": an empty sentinel address in the list"
            ),
            (
                "redis+sentinel://u:secret@a:0/m",
                "invalid Redis address \"redis+sentinel://u:***@a:0/m\": port \"0\" is not a number from 1 to 65535"
            ),
            (
                "redis+sentinel://a/m/x",
                "invalid Redis address \"redis+sentinel://a/m/x\": database \"x\" is not a number from 0 up"
            ),
            (
                "redis+sentinel://a/m/1/2",
                "invalid Redis address \"redis+sentinel://a/m/1/2\": unexpected \"2\" after the database"
            ),
        ]
    )
    func rejected(text: String, message: String) {
        let error = #expect(throws: RedisEndpointError.self) { try RedisEndpoint(parsing: text) }
        #expect(error?.description == message)
    }
}
