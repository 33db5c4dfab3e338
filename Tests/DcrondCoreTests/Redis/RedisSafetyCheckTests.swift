import Testing

@testable import DcrondCore

@Suite("Redis safety checks: the settings under which a promise does not hold")
struct RedisSafetyCheckTests {
    func facts(_ info: String, save: String? = "3600 1") -> RedisSafetyFacts {
        var facts = RedisSafetyFacts()
        facts.read(info: info)
        facts.save = save
        return facts
    }

    static let safe =
        "maxmemory:0\r\nmaxmemory_policy:noeviction\r\naof_enabled:1\r\nrole:master\r\nconnected_slaves:1\r\ncluster_enabled:0\r\n"

    @Test("a safe server gives no warning")
    func safeServer() {
        #expect(RedisSafetyCheck.warnings(facts(Self.safe), viaSentinel: false, claimReplicas: 1).isEmpty)
    }

    @Test(
        "each unsafe setting is named with the promise it breaks",
        arguments: [
            (
                "maxmemory:1000000\r\nmaxmemory_policy:allkeys-lru\r\n",
                "maxmemory-policy allkeys-lru with maxmemory 1000000", "promise 1"
            ),
            (
                "maxmemory:1000000\r\nmaxmemory_policy:volatile-ttl\r\n",
                "maxmemory-policy volatile-ttl with maxmemory 1000000", "overlap leases"
            ),
            ("role:slave\r\n", "role replica", "promise 2"),
            ("cluster_enabled:1\r\n", "cluster-enabled yes", "MOVED"),
            ("connected_slaves:0\r\n", "connected_slaves 0 (claimReplicas 1)", "no run starts"),
        ]
    )
    func unsafe(override: String, setting: String, promise: String) {
        let warnings = RedisSafetyCheck.warnings(facts(Self.safe + override), viaSentinel: false, claimReplicas: 1)
        #expect(warnings.map(\.setting) == [setting])
        #expect(warnings.first?.consequence.contains(promise) == true, "\(warnings)")
    }

    @Test(
        "eviction without a memory limit never happens; persistence counts as off only when both AOF and snapshots are"
    )
    func boundaries() {
        let noLimit = facts(Self.safe + "maxmemory_policy:allkeys-lru\r\n")
        #expect(RedisSafetyCheck.warnings(noLimit, viaSentinel: false, claimReplicas: 0).isEmpty)
        let snapshotsOnly = facts(Self.safe + "aof_enabled:0\r\n")
        #expect(RedisSafetyCheck.warnings(snapshotsOnly, viaSentinel: false, claimReplicas: 0).isEmpty)
        let off = facts(Self.safe + "aof_enabled:0\r\n", save: "")
        #expect(
            RedisSafetyCheck.warnings(off, viaSentinel: false, claimReplicas: 0).map(\.setting) == [
                "appendonly no, save \"\""
            ]
        )
        let unknown = facts(Self.safe + "aof_enabled:0\r\n", save: nil)
        #expect(
            RedisSafetyCheck.warnings(unknown, viaSentinel: false, claimReplicas: 0).isEmpty,
            "CONFIG refused: not guessed"
        )
    }
}
