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
            if let entries = FileSystem.entries(of: argument) {
                paths = entries.filter { !$0.name.hasPrefix(".") }.map { argument + "/" + $0.name }
            }
            for path in paths.sorted() {
                guard let input = try? FileSystem.readFile(path, limit: 64 << 20) else {
                    fatalError("cannot read \(path)")
                }
                _ = input.withUnsafeBufferPointer { fuzz($0.baseAddress, $0.count) }
                count += 1
            }
        }
        print("\(target.rawValue): \(count) inputs replayed")
    }
}
#endif
