import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

#if !DCROND_FUZZ
/// Without libFuzzer (a plain build): every file named, or found in a folder named, goes through
/// the chosen target once. `make test` replays the committed corpus this way.
@main
struct Replayer {
    static func main() {
        setUp()
        var count = 0
        for argument in CommandLine.arguments.dropFirst() {
            var paths = [argument]
            if let directory = opendir(argument) {
                paths = []
                while let entry = readdir(directory) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    if !name.hasPrefix(".") { paths.append(argument + "/" + name) }
                }
                closedir(directory)
            }
            for path in paths.sorted() {
                guard let input = try? FileSystem.readFile(path, limit: 64 << 20) else { fatalError("cannot read \(path)") }
                _ = input.withUnsafeBufferPointer { fuzz($0.baseAddress, $0.count) }
                count += 1
            }
        }
        print("\(target.rawValue): \(count) inputs replayed")
    }
}
#endif
