import Testing

@testable import DcrondCore

@Suite("claim history: telling Redis going back in time from progress")
struct ClaimHistoryTests {
    @Test("a node that has seen nothing adopts whatever Redis holds")
    func freshNodeAdopts() {
        var history = ClaimHistory()
        #expect(!history.isDiscontinuous(generation: 4, sequence: 17))
        history.observe(generation: 4, sequence: 17)
        #expect(history == ClaimHistory(generation: 4, sequence: 17))
    }

    @Test("progress by other nodes is continuous; a lower sequence is Redis going back")
    func sequence() {
        var history = ClaimHistory(generation: 2, sequence: 100)
        #expect(!history.isDiscontinuous(generation: 2, sequence: 100))
        #expect(!history.isDiscontinuous(generation: 2, sequence: 250))
        history.observe(generation: 2, sequence: 250)
        #expect(history.sequence == 250)
        #expect(history.isDiscontinuous(generation: 2, sequence: 249), "a snapshot or a lagging replica")
        #expect(history.isDiscontinuous(generation: 0, sequence: 0), "a restart with no data")
    }

    @Test("another generation is a repair elsewhere (or a rollback past one): never adopted silently")
    func generation() {
        var history = ClaimHistory(generation: 2, sequence: 100)
        #expect(history.isDiscontinuous(generation: 3, sequence: 101))
        #expect(history.isDiscontinuous(generation: 1, sequence: 500))
        history.observe(generation: 3, sequence: 101)
        #expect(history == ClaimHistory(generation: 2, sequence: 100), "observe ignores a report it must repair for")
    }
}
