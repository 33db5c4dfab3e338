import HeapModule

/// The next planned instant of every enabled job, with the earliest and the due ones found in
/// O(log n): a dictionary for lookups by name and a min-heap of (instant, job) for the order. A
/// heap entry is valid while the dictionary still holds its instant for that job; replaced or
/// removed plans leave stale entries that are skipped when met, and compacted away when they
/// outnumber the live ones. So a wake with one job due costs O(log n), not O(jobs).
struct PlannedInstants: Sendable {
    private struct Entry: Comparable, Sendable {
        let instant: Int64
        let job: String

        static func < (lhs: Entry, rhs: Entry) -> Bool { (lhs.instant, lhs.job) < (rhs.instant, rhs.job) }
    }

    /// Job → its next instant (Unix seconds).
    private(set) var byJob: [String: Int64] = [:]
    private var heap = Heap<Entry>()

    subscript(job: String) -> Int64? {
        get { byJob[job] }
        set {
            guard byJob[job] != newValue else { return }
            byJob[job] = newValue
            if let newValue { heap.insert(Entry(instant: newValue, job: job)) }
            if heap.count > 2 * byJob.count + 1024 { compact() }
        }
    }

    var isEmpty: Bool { byJob.isEmpty }

    mutating func removeAll() {
        byJob = [:]
        heap = Heap()
    }

    /// The earliest planned instant, if any.
    mutating func earliest() -> Int64? {
        while let top = heap.min {
            if byJob[top.job] == top.instant { return top.instant }
            _ = heap.popMin()
        }
        return nil
    }

    /// The jobs whose planned instant is at or before `now`, earliest first, each once. Their
    /// plans stay in ``byJob`` until the caller replaces them; the caller must, since their heap
    /// entries are gone.
    mutating func takeDue(upTo now: Int64) -> [String] {
        var due: [String] = []
        var seen = Set<String>()
        while let top = heap.min, top.instant <= now {
            _ = heap.popMin()
            if byJob[top.job] == top.instant, seen.insert(top.job).inserted { due.append(top.job) }
        }
        return due
    }

    /// The earliest planned instant of a job `isIncluded` takes, found among the `probes` earliest
    /// entries (a node owning a share of the jobs finds one of its own among the first few), then,
    /// failing that, by a scan of every plan. Works on a copy: call it on a snapshot, off the loop.
    func earliest(probes: Int = 64, where isIncluded: (String) -> Bool) -> (job: String, instant: Int64)? {
        var copy = heap
        for _ in 0..<probes {
            guard let top = copy.popMin() else { return nil }
            if byJob[top.job] == top.instant, isIncluded(top.job) { return (top.job, top.instant) }
        }
        var best: (job: String, instant: Int64)?
        for (job, instant) in byJob where isIncluded(job) && instant < (best?.instant ?? .max) { best = (job, instant) }
        return best
    }

    private mutating func compact() {
        heap = Heap(byJob.map { Entry(instant: $0.value, job: $0.key) })
    }
}
