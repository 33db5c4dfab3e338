import CDcrondSystem

#if canImport(Glibc)
import Glibc
#endif

/// Starts a detached thread named `name` (15 bytes shown by `top -H`) that runs `body` and then
/// ends. For loops that block in system calls and must never occupy Swift's cooperative pool.
/// Returns the thread's id.
@discardableResult
package func startDetachedThread(name: String, _ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: Sendable {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(name: name, body: body))
    var thread = pthread_t()
    let status = pthread_create(
        &thread,
        nil,
        { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            dcrond_set_thread_name(box.name)
            box.body()
            return nil
        },
        box.toOpaque()
    )
    precondition(status == 0, "pthread_create failed for \(name): \(status)")
    pthread_detach(thread)
    return thread
}
