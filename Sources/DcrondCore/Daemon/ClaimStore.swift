/// Where a node claims an instant of a job before running it. The claim is the final arbiter of
/// "at most once": two nodes that briefly disagree about ownership cannot both win it.
///
/// A claim is a compare-and-set on the job's **last claimed instant**: claiming instant T wins only
/// if no instant T or later was claimed for the job, and records T. So each instant is won at most
/// once, whatever the clocks, the order of the nodes or the retries; catch-up claims missed
/// instants in order.
package protocol ClaimStore: Sendable {
    /// Claims every (job, instant) in one round trip; returns which were won, in order.
    func claim(_ claims: [(job: String, instant: Int64)], node: String) async throws -> [Bool]
    /// The last claimed instant of each job, nil if none is known.
    func lastClaimed(_ jobs: [String]) async throws -> [Int64?]
    /// Keeps a finished run in the job's bounded history.
    func record(_ run: RunRecord) async throws
}

/// Claims in Redis: `dcron:{c}:claims` (hash job → last claimed instant) and
/// `dcron:{c}:claimedBy` (hash job → "node runID-less instant"), run histories in
/// `dcron:{c}:runs:<job>` (list, newest first, 100 kept) and `dcron:{c}:lastSuccess` (hash).
package struct RedisClaimStore: ClaimStore {
    let redis: RedisClient
    let keys: ClusterKeys
    package static let historyLength = 100

    package init(redis: RedisClient, cluster: String) {
        self.redis = redis
        self.keys = ClusterKeys(cluster: cluster)
    }

    static let claimScript = RedisScript("""
        local node = ARGV[1]
        local won = {}
        for i = 2, #ARGV, 2 do
            local job, instant = ARGV[i], tonumber(ARGV[i + 1])
            local last = tonumber(redis.call('HGET', KEYS[1], job) or '-1')
            if instant > last then
                redis.call('HSET', KEYS[1], job, instant)
                redis.call('HSET', KEYS[2], job, node .. ' ' .. instant)
                won[#won + 1] = 1
            else
                won[#won + 1] = 0
            end
        end
        return won
        """)

    package func claim(_ claims: [(job: String, instant: Int64)], node: String) async throws -> [Bool] {
        guard !claims.isEmpty else { return [] }
        var arguments: [any RedisArgument] = [node]
        for claim in claims {
            arguments.append(claim.job)
            arguments.append(claim.instant)
        }
        let reply = try await send(.evaluate(Self.claimScript, keys: [keys.prefix + "claims", keys.prefix + "claimedBy"], arguments: arguments))
        guard let results = reply.array, results.count == claims.count else {
            throw RedisServerError(message: "unexpected claim reply: \(reply)")
        }
        return results.map { $0.integer == 1 }
    }

    /// One command; a server error reply is thrown. (Typed throws are caught here: the Swift 6.3
    /// optimizer crashes on them inside these untyped async throwing functions.)
    private func send(_ command: RedisCommand) async throws -> RedisReply {
        let reply: RedisReply
        do {
            reply = try await redis.send(command)
        } catch {
            throw error as any Error
        }
        if case .error(let error) = reply { throw error as any Error }
        return reply
    }

    package func lastClaimed(_ jobs: [String]) async throws -> [Int64?] {
        guard !jobs.isEmpty else { return [] }
        let reply = try await send(RedisCommand(["HMGET", keys.prefix + "claims"] + jobs))
        guard let values = reply.array, values.count == jobs.count else {
            throw RedisServerError(message: "unexpected HMGET reply: \(reply)")
        }
        return values.map { $0.string.flatMap { Int64($0) } }
    }

    package func record(_ run: RunRecord) async throws {
        let list = keys.prefix + "runs:" + run.job
        var commands = [
            RedisCommand("LPUSH", list, run.json.serialized),
            RedisCommand("LTRIM", list, 0, Self.historyLength - 1),
        ]
        if run.outcome == .succeeded {
            commands.append(RedisCommand("HSET", keys.prefix + "lastSuccess", run.job, run.json.serialized))
        }
        let replies: [RedisReply]
        do {
            replies = try await redis.pipeline(commands)
        } catch {
            throw error as any Error
        }
        for case .error(let error) in replies { throw error as any Error }
    }
}

/// Standalone mode: one node, claims in memory.
package actor LocalClaimStore: ClaimStore {
    private var last: [String: Int64] = [:]
    package private(set) var records: [String: [RunRecord]] = [:]

    package init() {}

    package func claim(_ claims: [(job: String, instant: Int64)], node: String) async throws -> [Bool] {
        claims.map { claim in
            if let previous = last[claim.job], previous >= claim.instant { return false }
            last[claim.job] = claim.instant
            return true
        }
    }

    package func lastClaimed(_ jobs: [String]) async throws -> [Int64?] { jobs.map { last[$0] } }

    package func record(_ run: RunRecord) async throws {
        records[run.job, default: []].insert(run, at: 0)
        if records[run.job]!.count > RedisClaimStore.historyLength { records[run.job]!.removeLast() }
    }
}

extension RunRecord {
    /// The record as stored in Redis and shown by `dcrond status`.
    package var json: JSONValue {
        let outcomeText: String
        var reason: JSONValue = .null
        switch outcome {
        case .succeeded: outcomeText = "succeeded"
        case .failed: outcomeText = "failed"
        case .skipped(let why): outcomeText = "skipped"; reason = .string(why)
        }
        let last = attempts.last
        let result: JSONValue
        switch last?.termination {
        case .exited(let status)?: result = .object(["exit": .integer(Int64(status))])
        case .signaled(let signal)?: result = .object(["signal": .integer(Int64(signal))])
        case nil: result = last?.error.map { .object(["error": .string($0)]) } ?? .null
        }
        return .object([
            "job": .string(job), "runId": .string(runID), "scheduledAt": .integer(scheduledAt), "node": .string(node),
            "outcome": .string(outcomeText), "reason": reason, "attempts": .integer(Int64(attempts.count)),
            "startedAt": attempts.first.map { .integer($0.startedAt) } ?? .null,
            "endedAt": last.map { .integer($0.endedAt) } ?? .null,
            "result": result, "timedOut": .bool(last?.timedOut ?? false),
        ])
    }
}
