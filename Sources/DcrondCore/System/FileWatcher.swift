import CDcrondSystem
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Calls `onChange` when any of a few files changes, debounced: once the folders holding them
/// have been quiet for `quiet` after the last event.
///
/// The folders are watched (inotify), not the files: an editor that writes a copy and renames it
/// into place, `cp`, `tee` and a package upgrade all show up as an event on the file's name in
/// its folder; a watch on the file itself would stay on the replaced inode. The watcher runs on a
/// thread of its own, blocked in `poll(2)`; ``stop()`` wakes it through an eventfd and joins it.
final class FileWatcher: Sendable {
    private let inotify: Int32
    private let wakeup: Int32
    private let quiet: Duration
    private let onChange: @Sendable () -> Void
    private let files = Mutex<Set<String>>([])
    private let stopped = Mutex(false)
    private let finished = OneShot<Void>()

    /// Starts watching `paths` (absolute or relative to the working folder).
    init(
        paths: [String],
        quiet: Duration = .milliseconds(500),
        onChange: @escaping @Sendable () -> Void
    ) throws(FileWatchError) {
        let inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard inotify >= 0 else { throw FileWatchError(step: "inotify_init1", path: nil, code: errno) }
        let wakeup = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wakeup >= 0 else {
            let code = errno
            close(inotify)
            throw FileWatchError(step: "eventfd", path: nil, code: code)
        }
        self.inotify = inotify
        self.wakeup = wakeup
        self.quiet = quiet
        self.onChange = onChange
        files.withLock { $0 = Set(paths) }
        var watches: [Int32: String] = [:]
        do throws(FileWatchError) {
            watches = try Self.watchFolders(of: Set(paths), inotify: inotify)
        } catch {
            close(inotify)
            close(wakeup)
            throw error
        }
        let initial = watches
        startDetachedThread(name: "dcrond-watch") { [self] in loop(watches: initial) }
    }

    /// Watches these files instead (a reload named another jobs file).
    func setPaths(_ paths: [String]) {
        files.withLock { $0 = Set(paths) }
        var one: UInt64 = 1
        // Fails only with the eventfd's counter at its maximum (EAGAIN): a wake-up is pending then.
        _ = write(wakeup, &one, 8)
    }

    /// Stops the thread and waits for it to end; then closes the descriptors.
    func stop() async {
        guard
            stopped.withLock({ state in
                defer { state = true }
                return !state
            })
        else { return }
        var one: UInt64 = 1
        // Fails only with the eventfd's counter at its maximum (EAGAIN): a wake-up is pending then.
        _ = write(wakeup, &one, 8)
        await finished.value
        close(inotify)
        close(wakeup)
    }

    private static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func name(of path: String) -> String {
        path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
    }

    // Not IN_MODIFY: one event per write(2), also of the other files in the folder (a log kept
    // open there would wake the thread at every line); a writer that closes gives IN_CLOSE_WRITE.
    private static let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)

    private static func watchFolders(of paths: Set<String>, inotify: Int32) throws(FileWatchError) -> [Int32: String] {
        var watches: [Int32: String] = [:]
        for folder in Set(paths.map(folder(of:))) {
            let watch = inotify_add_watch(inotify, folder, mask | UInt32(IN_ONLYDIR))
            guard watch >= 0 else { throw FileWatchError(step: "inotify_add_watch", path: folder, code: errno) }
            watches[watch] = folder
        }
        return watches
    }

    private func loop(watches initial: [Int32: String]) {
        defer { finished.fulfill(()) }
        var watches = initial
        var watchedPaths = files.withLock { $0 }
        var pendingSince: ContinuousClock.Instant?
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var descriptors = [
            pollfd(fd: inotify, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0),
        ]
        while !stopped.withLock({ $0 }) {
            let timeout: Int32 =
                pendingSince.map { since in
                    let left = quiet - (ContinuousClock.now - since)
                    return Int32(max(0, left.wholeMilliseconds))
                } ?? -1
            let ready = poll(&descriptors, 2, timeout)
            if ready < 0, errno != EINTR { return }
            if descriptors[1].revents != 0 {
                var value: UInt64 = 0
                // Nonblocking: EAGAIN means no wake-up was pending, and there is nothing to undo.
                _ = read(wakeup, &value, 8)
                let wanted = files.withLock { $0 }
                if wanted != watchedPaths {
                    for watch in watches.keys { inotify_rm_watch(inotify, watch) }
                    watches = (try? Self.watchFolders(of: wanted, inotify: inotify)) ?? [:]
                    watchedPaths = wanted
                }
            }
            if descriptors[0].revents != 0 {
                let names = Set(watchedPaths.map(Self.name(of:)))
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
                    if count <= 0 { break }
                    var offset = 0
                    buffer.withUnsafeBytes { bytes in
                        while offset + MemoryLayout<inotify_event>.size <= count {
                            let event = bytes.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                            let nameStart = offset + MemoryLayout<inotify_event>.size
                            let nameBytes = bytes[nameStart..<nameStart + Int(event.len)].prefix { $0 != 0 }
                            let name = String(decoding: nameBytes, as: UTF8.self)
                            // IN_Q_OVERFLOW: events were lost; treat them as a change.
                            if names.contains(name) || event.mask & UInt32(IN_Q_OVERFLOW) != 0 { pendingSince = .now }
                            offset = nameStart + Int(event.len)
                        }
                    }
                }
            }
            if let since = pendingSince, ContinuousClock.now - since >= quiet {
                pendingSince = nil
                onChange()
            }
        }
    }
}

struct FileWatchError: Error, Sendable, CustomStringConvertible {
    let step: String
    let path: String?
    let errno: Errno

    init(step: String, path: String?, code: Int32) {
        self.step = step
        self.path = path
        self.errno = Errno(rawValue: code)
    }

    var description: String { "\(step)\(path.map { " \($0)" } ?? ""): \(errno)" }
}
