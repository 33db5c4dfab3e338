#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file that could not be read, with the system's reason.
package struct FileReadError: Error, Sendable, Equatable, CustomStringConvertible {
    package let path: String
    package let reason: String
    package var description: String { "cannot read \(path): \(reason)" }
}

package enum FileSystem {
    /// The whole content of a regular file. Refuses files over `limit` bytes, so that a wrong path
    /// (a device, a huge log) fails clearly instead of filling memory.
    package static func readFile(_ path: String, limit: Int = 16 << 20) throws(FileReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(path: path, reason: errnoDescription()) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileReadError(path: path, reason: errnoDescription())
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { throw FileReadError(path: path, reason: "larger than \(limit) bytes") }
        }
    }
}

/// `strerror(errno)`, read at once.
package func errnoDescription(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
