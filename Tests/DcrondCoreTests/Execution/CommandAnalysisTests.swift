import Testing

@testable import DcrondCore

@Suite("Direct execution rule and output lines")
struct CommandAnalysisTests {
    @Test(
        "commands without shell syntax run directly",
        arguments: [
            ("/usr/local/bin/backup --target s3://bucket/db", ["/usr/local/bin/backup", "--target", "s3://bucket/db"]),
            ("curl -fsS http://localhost:8080/warm", ["curl", "-fsS", "http://localhost:8080/warm"]),
            ("rsync  -a  /src/ host:/dst/", ["rsync", "-a", "/src/", "host:/dst/"]),
            ("run.sh --level=3 a,b +x @y %z ^w", ["run.sh", "--level=3", "a,b", "+x", "@y", "%z", "^w"]),
        ]
    )
    func direct(command: String, words: [String]) {
        #expect(CommandAnalysis.directWords(command) == words)
    }

    @Test(
        "anything the shell would interpret goes through the shell",
        arguments: [
            "echo hi", "cd /tmp", "exit 3", "true", "test -f x", "[ -f x ]", "FOO=1 run", "a | b", "a; b", "a && b",
            "a > f",
            "a < f", "a &", "ls *.log", "ls ?", "ls [ab]", "echo $HOME", "echo `date`", "echo 'q'", "echo \"q\"",
            "a\\ b",
            "ls ~", "a # comment", "a\nb", "a\tb", "{ a; }", "(a)", "!a", "",
        ]
    )
    func shell(command: String) {
        #expect(CommandAnalysis.directWords(command) == nil)
    }

    @Test("PATH lookup as the shell does it")
    func lookup() {
        let executables: Set<String> = ["/usr/bin/curl", "/bin/curl", "tool"]
        #expect(
            CommandAnalysis.resolve("curl", path: "/usr/local/bin:/usr/bin:/bin", isExecutable: executables.contains)
                == "/usr/bin/curl"
        )
        #expect(CommandAnalysis.resolve("curl", path: "/opt", isExecutable: executables.contains) == nil)
        #expect(
            CommandAnalysis.resolve("tool", path: "/opt::/bin", isExecutable: executables.contains) == "tool",
            "an empty entry is the working directory"
        )
        #expect(
            CommandAnalysis.resolve("./x", path: "", isExecutable: { _ in false }) == "./x",
            "a name with a slash is used as it is"
        )
    }

    @Test("line splitting: lines across chunks, long lines cut once, the rest dropped")
    func lineSplitter() {
        var splitter = LineSplitter(stream: .stdout)
        var lines: [OutputLine] = []
        let limit = ProcessSupervisor.maximumLineLength
        for chunk in ["ab", "c\nde", "f\n\n", String(repeating: "x", count: limit + 5), "yyy", "\nend"] {
            Array(chunk.utf8).withUnsafeBytes { splitter.feed($0) { lines.append($0) } }
        }
        splitter.finish { lines.append($0) }
        #expect(lines.map(\.text) == ["abc", "def", "", String(repeating: "x", count: limit), "end"])
        #expect(lines.map(\.truncated) == [false, false, false, true, false])
    }
}
