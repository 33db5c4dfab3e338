import Logging

/// The kinds of record an operator looks for, each with a stable journal `MESSAGE_ID` (explained
/// by `systemd/dcrond.catalog`, shown by `journalctl -x`). A log call names its kind in the
/// `event` metadata key (``LogEvent/key``); the handler turns it into `MESSAGE_ID` and
/// `DCRON_EVENT` in the journal, and into `event=` elsewhere.
///
/// The IDs never change once released: saved searches (`journalctl MESSAGE_ID=…`) depend on them.
enum LogEvent: String, Sendable, CaseIterable {
    case runStarted = "run-started"
    case runFinished = "run-finished"
    case runFailed = "run-failed"
    case runTimedOut = "run-timed-out"
    case runSkipped = "run-skipped"
    case runMissed = "run-missed"
    case runNotStarted = "run-not-started"
    case nodeFenced = "node-fenced"
    case reloaded = "reloaded"
    case reloadRejected = "reload-rejected"

    /// The metadata key that carries the kind.
    static let key = "event"

    /// The journal's `MESSAGE_ID` of this kind: 128 bits, as 32 lowercase hexadecimal digits.
    var messageID: String {
        switch self {
        case .runStarted: "fd5a29297a8741239fdfafde349bfa45"
        case .runFinished: "e6d7a9721a3b475683d18fc872ee0b6f"
        case .runFailed: "646a52271a974cfb928ff53c8a119ab4"
        case .runTimedOut: "66d7c70ec3ed4198983eaeee79a8c93e"
        case .runSkipped: "fde405dd34754bed8c8182b871edb5f7"
        case .runMissed: "ef2e89b69ed243d8ab2a453acb8428b8"
        case .runNotStarted: "bd4b0f3de99f4afab94a22732b5acd15"
        case .nodeFenced: "9fb4f9154f3049789cfada38e95dab22"
        case .reloaded: "119e066eb22a44d3a50c3e15f648e5e8"
        case .reloadRejected: "526a23b3346a404f9095952c8d08493a"
        }
    }
}

extension Logger.Metadata {
    /// This metadata with the kind of record set.
    func event(_ kind: LogEvent) -> Logger.Metadata {
        var copy = self
        copy[LogEvent.key] = .string(kind.rawValue)
        return copy
    }
}
