/// Hashes that every node, every build and every version computes alike: FNV-1a 64 over bytes,
/// and the SplitMix64 finalizer to spread its bits. Used for `H` in schedules and for placing jobs
/// on the hash ring. (Swift's `Hasher` is seeded randomly per process and must never be used for
/// anything nodes have to agree on.)
package enum StableHash {
    /// FNV-1a, 64-bit: offset basis 0xcbf29ce484222325, prime 0x100000001b3.
    package static func fnv1a64(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// The SplitMix64 finalizer (Steele, Lea, Flood 2014): a bijection that makes every output bit
    /// depend on every input bit, so that FNV's weak low bits do not bias `hash % n`.
    package static func mix64(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `mix64(fnv1a64(utf8 of text))`.
    static func hash(_ text: String) -> UInt64 {
        mix64(fnv1a64(text.utf8))
    }
}
