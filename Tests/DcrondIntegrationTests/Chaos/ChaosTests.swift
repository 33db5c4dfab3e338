import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

@Suite("chaos: every fault kind once against a real pool", .enabled(if: RedisTestServer.enabled), .serialized)
struct ChaosTests {
    @Test(
        "every fault of the table, one after another: no duplicate, no loss outside the documented window, no overlapping forbid run"
    )
    func everyFaultOnce() async throws {
        var settings = ChaosSettings()
        if getenv("DCROND_REQUIRE_REDIS").map({ String(cString: $0) == "1" }) == true {
            #expect(settings.useNamespaces, "CI runs as root with iproute2 and nftables: the network faults must run")
        }
        settings.progress = { _ in }
        let audit = try await ChaosRun(settings: settings).run()
        print(audit.table)
        let sentinelFaults = ChaosFault.allCases.filter(\.needsSentinel).count
        #expect(audit.injected.count == ChaosFault.allCases.count - sentinelFaults - (settings.useNamespaces ? 0 : 2))
        expectClean(audit)
    }

    @Test("against a Sentinel group with claimReplicas 1: every node fault and a master killed, no duplicate, no loss")
    func sentinelGroup() async throws {
        var settings = ChaosSettings()
        settings.sentinel = true
        settings.progress = { _ in }
        let audit = try await ChaosRun(settings: settings).run()
        print(audit.table)
        let expected = ChaosFault.allCases.filter { !$0.needsNamespaces && !$0.needsSingleServer }
        #expect(audit.injected.map(\.fault) == expected, "every fault that applies to a Sentinel group ran once")
        expectClean(audit)
    }

    /// No duplicate, no loss outside the documented window, no overlap, no replay, no slow stop.
    func expectClean(_ audit: ChaosAudit, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(audit.duplicated.isEmpty, "duplicated: \(audit.duplicated)", sourceLocation: sourceLocation)
        #expect(audit.lost.isEmpty, "lost: \(audit.lost)", sourceLocation: sourceLocation)
        #expect(audit.unalarmed.isEmpty, "lost without an alarm: \(audit.unalarmed)", sourceLocation: sourceLocation)
        #expect(audit.forbidOverlaps.isEmpty, "\(audit.forbidOverlaps)", sourceLocation: sourceLocation)
        #expect(audit.replayedWhileDisabled.isEmpty, "\(audit.replayedWhileDisabled)", sourceLocation: sourceLocation)
        #expect(audit.duplicateIDRefused && audit.duplicateIDRan == 0, sourceLocation: sourceLocation)
        #expect(audit.slowStops.isEmpty, "\(audit.slowStops)", sourceLocation: sourceLocation)
        #expect(
            audit.expected > 1000 && audit.ran >= audit.expected - audit.lostInWindow.count - audit.lostInDoubt.count,
            sourceLocation: sourceLocation
        )
    }
}
