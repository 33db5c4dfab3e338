import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// Each start-up check against a real redis-server configured that way, and as `dcrond check
/// --connect`, `dcrond status` and the daemon's log show it.
@Suite("Redis safety checks against real servers", .enabled(if: RedisTestServer.enabled))
struct RedisSafetyCheckIntegrationTests {
    /// Persistence on, no eviction: the baseline no check warns about.
    static let safe = ["--appendonly", "yes"]

    func settings(of server: RedisTestServer, claimReplicas: Int = 0) async throws -> [String] {
        try await RedisSafetyCheck.check(RedisClient(endpoint: server.unixEndpoint), claimReplicas: claimReplicas)
            .warnings.map(\.setting)
    }

    @Test("a safe server: no warning")
    func safeServer() async throws {
        let server = try await RedisTestServer.start(Self.safe)
        defer { server.stop() }
        #expect(try await settings(of: server) == [])
    }

    @Test("maxmemory-policy allkeys-lru with a memory limit")
    func eviction() async throws {
        let server = try await RedisTestServer.start(
            Self.safe + ["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"]
        )
        defer { server.stop() }
        #expect(try await settings(of: server) == ["maxmemory-policy allkeys-lru with maxmemory 104857600"])
    }

    @Test("persistence off: no AOF and no snapshots")
    func persistenceOff() async throws {
        let server = try await RedisTestServer.start()  // the test servers run with --save "" --appendonly no
        defer { server.stop() }
        #expect(try await settings(of: server) == ["appendonly no, save \"\""])
    }

    @Test("the configured address is a replica")
    func replica() async throws {
        let master = try await RedisTestServer.start(Self.safe)
        defer { master.stop() }
        let replica = try await RedisTestServer.start(Self.safe + ["--replicaof", "127.0.0.1", String(master.port)])
        defer { replica.stop() }
        #expect(try await settings(of: replica) == ["role replica"])
        #expect(
            try await waitFor(seconds: 10) {
                shellOutputBlocking("redis-cli -s '\(replica.socketPath)' INFO replication")?.contains(
                    "master_link_status:up"
                ) == true
            }
        )
        #expect(try await settings(of: master, claimReplicas: 1) == [])
        #expect(try await settings(of: master, claimReplicas: 2) == ["connected_slaves 1 (claimReplicas 2)"])
    }

    @Test("cluster mode")
    func clusterMode() async throws {
        let server = try await RedisTestServer.start(
            Self.safe + [
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes-\(UInt32.random(in: 0...UInt32.max)).conf",
                // The bus port defaults to the port + 10,000, too high for half the free ports.
                "--cluster-port", String(try freeLoopbackPort()),
            ]
        )
        defer { server.stop() }
        #expect(try await settings(of: server) == ["cluster-enabled yes"])
    }

    @Test("check --connect, status and the daemon's log name the setting and the promise")
    func shownToOperators() async throws {
        let server = try await RedisTestServer.start(
            Self.safe + ["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-random"]
        )
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: ["s1"])
        try writeText(
            cluster.directory + "/check.json",
            #"{"cluster": "\#(cluster.cluster)", "node": "x", "timezone": "UTC", "redis": "unix://\#(server.socketPath)", "jobs": "jobs.json"}"#
        )
        let dcrond = buildProductsDirectory() + "/dcrond"
        let check = try await runProcess([dcrond, "check", "--connect", "--config", cluster.directory + "/check.json"])
        #expect(check.status == 0)
        #expect(
            check.standardOutput.contains(
                "warning: Redis maxmemory-policy allkeys-random with maxmemory 104857600: a full Redis evicts any key"
            ),
            "\(check.standardOutput)"
        )
        #expect(check.standardOutput.contains("promise 1"))
        let status = try await runProcess([dcrond, "status", "--config", cluster.directory + "/check.json"])
        #expect(
            status.standardOutput.contains("warning: Redis maxmemory-policy allkeys-random"),
            "\(status.standardOutput)"
        )
        let json = try await runProcess([dcrond, "status", "--json", "--config", cluster.directory + "/check.json"])
        #expect(
            json.standardOutput.contains(#""setting":"maxmemory-policy allkeys-random with maxmemory 104857600""#),
            "\(json.standardOutput)"
        )
        try cluster.start("a")
        #expect(
            try await waitFor(seconds: 10) {
                cluster.log("a").contains(
                    "Redis is configured so that a promise does not hold: maxmemory-policy allkeys-random"
                )
            }
        )
        await cluster.cleanUp()

        let unreachable = try makeTemporaryDirectory()
        defer { _ = shellOutputBlocking("rm -rf '\(unreachable)'") }
        try writeText(unreachable + "/jobs.json", #"{"jobs": []}"#)
        try writeText(
            unreachable + "/dcrond.json",
            #"{"cluster": "c", "redis": "redis://:hunter2@127.0.0.1:\#(try freeLoopbackPort())"}"#
        )
        let failed = try await runProcess([dcrond, "check", "--connect", "--config", unreachable + "/dcrond.json"])
        #expect(failed.status == 1)
        #expect(failed.standardError.contains("cannot reach Redis"), "\(failed.standardError)")
        #expect(!(failed.standardOutput + failed.standardError).contains("hunter2"), "the password never appears")
    }
}
