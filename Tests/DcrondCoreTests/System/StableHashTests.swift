import Testing

@testable import DcrondCore

@Suite("Stable hashes")
struct StableHashTests {
    @Test("FNV-1a 64 matches the published vectors")
    func fnv() {
        #expect(StableHash.fnv1a64("".utf8) == 0xCBF2_9CE4_8422_2325)
        #expect(StableHash.fnv1a64("a".utf8) == 0xAF63_DC4C_8601_EC8C)
        #expect(StableHash.fnv1a64("foobar".utf8) == 0x8594_4171_F739_67E8)
    }

    @Test("the SplitMix64 finalizer matches its reference outputs")
    func splitmix() {
        // splitmix64 with state 0 yields mix64(0x9E3779B97F4A7C15) first: 0xE220A8397B1DCDAF.
        #expect(StableHash.mix64(0x9E37_79B9_7F4A_7C15) == 0xE220_A839_7B1D_CDAF)
        #expect(StableHash.mix64(0) == 0)
    }
}
