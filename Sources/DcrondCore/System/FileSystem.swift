import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file that could not be read: the system's error, or what else was wrong with it.
package struct FileReadError: Error, Sendable, Equatable, CustomStringConvertible {
    let path: String
    /// The system call's error, nil when the file was read but refused (too large).
    let errno: Errno?
    private let detail: String?

    init(path: String, errno: Errno) {
        self.path = path
        self.errno = errno
        self.detail = nil
    }

    init(path: String, reason: String) {
        self.path = path
        self.errno = nil
        self.detail = reason
    }

    /// `No such file or directory`, `larger than 16777216 bytes`.
    var reason: String { errno?.description ?? detail ?? "unknown error" }
    package var description: String { "cannot read \(path): \(reason)" }
}

package enum FileSystem {
    /// The whole content of a regular file. Refuses files over `limit` bytes, so that a wrong path
    /// (a device, a huge log) fails clearly instead of filling memory.
    package static func readFile(_ path: String, limit: Int = 16 << 20) throws(FileReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(path: path, errno: Errno(rawValue: errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileReadError(path: path, errno: Errno(rawValue: errno))
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { throw FileReadError(path: path, reason: "larger than \(limit) bytes") }
        }
    }
}

/// `strerror(errno)`, read at once.
package func errnoDescription(_ code: Int32 = errno) -> String {
    Errno(rawValue: code).description
}

extension FileSystem {
    /// One entry of a folder, as `readdir` gives it.
    package struct Entry: Sendable, Hashable {
        package let name: String
        /// As the file system reports it (`d_type`); false for an unknown type.
        let isDirectory: Bool
    }

    /// The entries of the folder at `path` but `.` and `..`, in no order; nil if it cannot be opened.
    package static func entries(of path: String) -> [Entry]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var entries: [Entry] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            entries.append(Entry(name: name, isDirectory: entry.pointee.d_type == UInt8(DT_DIR)))
        }
        return entries
    }
}
