import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// One `GET` over HTTP/1.0 on loopback, on a thread of its own: the status code and the body.
/// Enough for scraping `/metrics` in tests without an HTTP client package.
package func httpGet(port: Int, path: String) async throws -> (status: Int, body: String) {
    try await onOwnThread {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errnoDescription())") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { throw HarnessError("connect to port \(port): \(errnoDescription())") }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else {
            throw HarnessError("write: \(errnoDescription())")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 { throw HarnessError("read: \(errnoDescription())") }
            if count == 0 { break }
            response += chunk[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard
            let end = (0..<max(0, response.count - 3)).first(where: {
                response[$0] == 13 && response[$0 + 1] == 10 && response[$0 + 2] == 13 && response[$0 + 3] == 10
            }),
            let status = Int(text.split(separator: " ").dropFirst().first ?? "")
        else {
            throw HarnessError("not an HTTP response: \(text.prefix(200))")
        }
        return (status, String(decoding: response[(end + 4)...], as: UTF8.self))
    }
}

/// Prometheus text format to `name{labels}` → value (comments dropped).
package func parsePrometheusText(_ text: String) -> [String: Double] {
    var samples: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
            continue
        }
        samples[String(line[..<space])] = value
    }
    return samples
}
