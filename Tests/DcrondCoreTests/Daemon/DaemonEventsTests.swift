import Testing

@testable import DcrondCore

@Suite("daemon events: the members a repair waits for")
struct DaemonEventsTests {
    @Test("nodes that left the view lately still count: Redis may have lost them with its data")
    func departedMembersCount() async throws {
        let events = DaemonEvents(departedKept: .milliseconds(300))
        events.markPoolChanged(rejoined: false, members: ["a", "b", "c"])
        events.markPoolChanged(rejoined: false, members: ["a"])  // the first heartbeat after an empty restart
        #expect(events.recentMembers() == ["a", "b", "c"])
        events.markPoolChanged(rejoined: false, members: ["a", "b"])
        #expect(events.recentMembers() == ["a", "b", "c"])
        try await Task.sleep(for: .milliseconds(400))
        #expect(events.recentMembers() == ["a", "b"], "c left long enough ago")
    }
}
