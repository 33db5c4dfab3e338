/// Decides whether a command can be executed directly instead of through `/bin/sh -c`, saving a
/// process, without the command seeing any difference.
///
/// A command is run directly only when the shell would do nothing but split it on spaces and
/// look up its first word in `PATH`:
/// - it has only letters, digits, spaces and the characters `- _ . / = : , + @ % ^`: no quotes,
///   `$`, backquotes, backslashes, redirections, pipes, `;`, `&`, globs (`* ? [ ]`), braces,
///   parentheses, `~`, `#`, `!`, tabs or newlines;
/// - its first word is not a shell keyword or builtin (`cd`, `echo`, `exit`, `test`, ...) and not
///   an assignment (`FOO=bar cmd`);
/// - its first word, when it has no `/`, is found as an executable file in the run's `PATH`.
///
/// Anything else, including a command that is not found, runs through `/bin/sh -c`, so the shell
/// reports it exactly as it would have (`sh: 1: frobnicate: not found`, exit status 127).
enum CommandAnalysis {
    /// The words of a command that needs no shell, or nil.
    static func directWords(_ command: String) -> [String]? {
        let allowedPunctuation: Set<UInt8> = Set("-_./=:,+@%^ ".utf8)
        for byte in command.utf8 {
            let isAlphanumeric = (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
            guard isAlphanumeric || allowedPunctuation.contains(byte) else { return nil }
        }
        let words = command.split(separator: " ").map(String.init)
        guard let first = words.first else { return nil }
        if first.contains("=") || shellWords.contains(first) { return nil }
        return words
    }

    /// `program` resolved against `path` (colon-separated), as the shell would: a name with a
    /// slash is used as it is; an empty entry means the current directory.
    static func resolve(_ program: String, path: String, isExecutable: (String) -> Bool) -> String? {
        if program.contains("/") { return program }
        for directory in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = directory.isEmpty ? program : "\(directory)/\(program)"
            if isExecutable(candidate) { return candidate }
        }
        return nil
    }

    /// dash's keywords and builtins, and bash's common ones: a command starting with one of these
    /// behaves differently outside a shell (or does not exist outside it).
    static let shellWords: Set<String> = [
        "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if", "in",
        "select", "then", "time", "until", "while",
        ".", ":", "[", "alias", "bg", "break", "builtin", "cd", "chdir", "command", "continue", "declare", "echo",
        "eval", "exec", "exit", "export", "false", "fc", "fg", "getopts", "hash", "jobs", "kill", "let", "local",
        "printf", "pwd", "read", "readonly", "return", "set", "shift", "source", "test", "times", "trap", "true",
        "type", "typeset", "ulimit", "umask", "unalias", "unset", "wait",
    ]
}
