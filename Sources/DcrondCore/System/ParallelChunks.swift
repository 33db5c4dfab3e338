import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// Work split into consecutive chunks, run on the machine's cores and joined: reading a table of
/// 100,000 jobs at start-up, while the daemon has nothing else to do. (A reload reads on one
/// thread: the scheduling loop runs then, and must not wait for a core.)
enum ParallelChunks {
    /// The chunks `0..<count` is cut into: one per online core, at most 4, and one for fewer than
    /// `minimumPerChunk` items.
    static func ranges(of count: Int, minimumPerChunk: Int = 2000) -> [Range<Int>] {
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let chunks = max(1, min(4, cores, count / max(1, minimumPerChunk)))
        return (0..<chunks).map { chunk in (count * chunk / chunks)..<(count * (chunk + 1) / chunks) }
    }

    /// `body(chunk)` for every chunk of `ranges` at once (the caller's thread takes one), and the
    /// results in chunk order. `body` must touch only what belongs to its chunk.
    static func map<Result: Sendable>(_ ranges: [Range<Int>], _ body: @Sendable (Range<Int>) -> Result) -> [Result] {
        guard ranges.count > 1 else { return ranges.map(body) }
        var results = [Result?](repeating: nil, count: ranges.count)
        results.withUnsafeMutableBufferPointer { slots in
            // Each iteration writes its own slot only.
            nonisolated(unsafe) let slots = slots
            DispatchQueue.concurrentPerform(iterations: ranges.count) { chunk in
                slots[chunk] = body(ranges[chunk])
            }
        }
        return results.map { $0! }
    }
}
