import DcrondCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A service manager's notification socket (`$NOTIFY_SOCKET`): a unix datagram socket whose
/// messages (`READY=1\nSTATUS=…`) a thread of its own collects, as systemd would receive them.
package final class NotifySocket: Sendable {
    package let path: String
    private let descriptor: Int32
    private let received = Mutex<[(at: ContinuousClock.Instant, text: String)]>([])
    private let stopped = Atomic(false)

    package init(directory: String, name: String = "notify.sock") throws {
        path = directory + "/" + name
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket: \(errnoDescription())") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in path.utf8.prefix(bytes.count - 1).enumerated() { bytes[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw HarnessError("bind \(path): \(errnoDescription())") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        startDetachedThread(name: "test-notify") { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while !stopped.load(ordering: .relaxed) {
                let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { continue }
                let text = String(decoding: buffer[0..<count], as: UTF8.self)
                received.withLock { $0.append((.now, text)) }
            }
            close(descriptor)
            unlink(path)
        }
    }

    deinit { stopped.store(true, ordering: .relaxed) }

    /// Every message so far, oldest first.
    package var messages: [String] { received.withLock { $0.map(\.text) } }

    /// When each message came.
    package var timedMessages: [(at: ContinuousClock.Instant, text: String)] { received.withLock { $0 } }

    package func stop() { stopped.store(true, ordering: .relaxed) }
}
