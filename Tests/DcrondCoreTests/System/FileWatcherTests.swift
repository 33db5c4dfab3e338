import Synchronization
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

@Suite("Watching the configuration files (inotify)")
struct FileWatcherTests {
    private final class Counter: Sendable {
        let value = Atomic(0)
    }

    private func folder() -> String {
        var template = Array("/tmp/dcrond-watch-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    private func write(_ path: String, _ text: String) {
        let file = fopen(path, "w")!
        fputs(text, file)
        fclose(file)
    }

    private func settle(_ counter: Counter, toAtLeast value: Int) async throws {
        for _ in 0..<40 where counter.value.load(ordering: .relaxed) < value {
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(300))
    }

    @Test("a write in place and an editor's rename into place each count once, debounced; other files do not")
    func changes() async throws {
        let directory = folder()
        defer {
            for name in ["jobs.json", "notes.txt"] { unlink(directory + "/" + name) }
            rmdir(directory)
        }
        let jobs = directory + "/jobs.json"
        write(jobs, "{}")
        let counter = Counter()
        let watcher = try FileWatcher(paths: [directory + "/dcrond.json", jobs], quiet: .milliseconds(200)) {
            counter.value.add(1, ordering: .relaxed)
        }
        // Several writes in a burst: one reload.
        for index in 0..<5 { write(jobs, "{\"n\": \(index)}") }
        try await settle(counter, toAtLeast: 1)
        #expect(counter.value.load(ordering: .relaxed) == 1)
        // The way vim and `mv` replace a file: a new inode renamed over the old name.
        write(directory + "/.jobs.json.swp", "{}")
        #expect(rename(directory + "/.jobs.json.swp", jobs) == 0)
        try await settle(counter, toAtLeast: 2)
        #expect(counter.value.load(ordering: .relaxed) == 2)
        // Another file in the same folder is not a change.
        write(directory + "/notes.txt", "x")
        try await Task.sleep(for: .milliseconds(500))
        #expect(counter.value.load(ordering: .relaxed) == 2)
        await watcher.stop()
        write(jobs, "{}")
        try await Task.sleep(for: .milliseconds(400))
        #expect(counter.value.load(ordering: .relaxed) == 2, "nothing after stop()")
    }

    @Test("a folder that does not exist is an error naming it")
    func missingFolder() {
        #expect(throws: FileWatchError.self) { try FileWatcher(paths: ["/nonexistent-dcrond/jobs.json"]) {} }
    }
}
