/// Where run records live in Redis, and the only commands that write and read them:
///
/// - `runs:<job>`: the job's newest ``length`` records, newest first (runs, and skipped or missed
///   instants);
/// - `lastSuccess` and `lastManual`: per job, its last successful run and its last manual run,
///   kept however old (a job that fails every day still shows when it last worked).
///
/// The claim store writes a run's record with its other commands (one pipeline for a batch); the
/// command line reads them, inside pipelines of its own, so this type gives commands and decodes
/// replies rather than owning a connection.
enum RunHistory {
    /// How many records a job's history keeps.
    static let length = 100

    /// What stores `record`: pushed onto its job's history, trimmed, and kept as the job's last
    /// success or last manual run when it is one.
    static func writes(_ record: RunRecord, keys: ClusterKeys) -> [RedisCommand] {
        let list = keys.runs(record.job)
        let serialized = record.json.serialized
        var commands = [RedisCommand("LPUSH", list, serialized), RedisCommand("LTRIM", list, 0, length - 1)]
        if record.outcome == .succeeded {
            commands.append(RedisCommand("HSET", keys.lastSuccess, record.job, serialized))
        }
        if record.trigger == .manual { commands.append(RedisCommand("HSET", keys.lastManual, record.job, serialized)) }
        return commands
    }

    /// The newest `limit` records of `job` (all that are kept, if nil); read with ``records(in:)``.
    static func read(_ job: String, limit: Int? = nil, keys: ClusterKeys) -> RedisCommand {
        RedisCommand("LRANGE", keys.runs(job), 0, (limit ?? length) - 1)
    }

    /// The newest record of `job`; read with ``record(in:)``.
    static func readLatest(_ job: String, keys: ClusterKeys) -> RedisCommand {
        RedisCommand("LINDEX", keys.runs(job), 0)
    }

    /// The last successful run of `job`; read with ``record(in:)``.
    static func readLastSuccess(_ job: String, keys: ClusterKeys) -> RedisCommand {
        RedisCommand("HGET", keys.lastSuccess, job)
    }

    /// The last manual run of `job`; read with ``record(in:)``.
    static func readLastManual(_ job: String, keys: ClusterKeys) -> RedisCommand {
        RedisCommand("HGET", keys.lastManual, job)
    }

    /// The records of a ``read(_:limit:keys:)`` reply, newest first; one that cannot be read (of a
    /// newer or a broken writer) is left out, so a history shows what it can.
    static func records(in reply: RedisReply) -> [RunRecord] {
        reply.array?.compactMap { $0.string.flatMap(RunRecord.init(serialized:)) } ?? []
    }

    /// The record of a reply for one, or nil (none, or one that cannot be read).
    static func record(in reply: RedisReply) -> RunRecord? {
        reply.string.flatMap(RunRecord.init(serialized:))
    }
}
