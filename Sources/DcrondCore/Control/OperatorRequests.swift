/// Requests from operators to the nodes through Redis (`dcrond trigger`, `pause`, `unpause`,
/// `kill`, `drain`): the scripts both sides run, so that the command line and the daemon share one format.
///
/// - A **manual run** is an entry of the `triggers` hash (job → JSON: request id, force, who,
///   state, node, run ID, reason, expiry in Redis time). Requesting one while another of the job is
///   pending or running joins it: the command repeated, or two operators racing, get one run. The
///   owner takes the entry with a compare-and-set (`pending` → `claimed`), so at most one node
///   starts it, then moves it to `started`, and to `refused` (with the reason) or deletes it at the
///   end; the run's record goes to the job's history and to `lastManual`.
/// - A **pause** is an entry of the `paused` hash: the claim script takes every instant of a paused
///   job as handled without running it, so nothing is replayed later. Unpausing advances the job's
///   last claimed instant to now for the same reason.
/// - A **kill** is a message on the `control` channel; each node that runs the job ends the run
///   and acknowledges in `kill:<request>` (a list, expiring), even when it ran nothing.
enum OperatorRequests {
    /// How long a manual run may wait for its job's owner to take it.
    static let triggerPendingLimit = Duration.seconds(60)

    /// A manual run's entry, as stored.
    struct Trigger: Sendable, Hashable {
        enum State: String, Sendable, Hashable {
            case pending, claimed, started, refused
        }

        var request: String
        var force: Bool
        var who: String
        var state: State
        var node: String?
        var runID: String?
        var reason: String?

        init?(json text: String) {
            guard let value = try? JSONParser.parse(Array(text.utf8)), let request = value["request"]?.stringValue,
                let state = value["state"]?.stringValue.flatMap(State.init(rawValue:))
            else { return nil }
            self.request = request
            self.force = value["force"] == .bool(true)
            self.who = value["who"]?.stringValue ?? "?"
            self.state = state
            self.node = value["node"]?.stringValue
            self.runID = value["runId"]?.stringValue
            self.reason = value["reason"]?.stringValue
        }
    }

    /// KEYS: triggers, control, members. ARGV: job, request id, force (0/1), who, pending limit (ms).
    /// Returns {1, entry} for a new request (published as `trigger <job>`), {0, entry} when one
    /// pending or running was joined. A run taken by a node that is no longer in the pool (it
    /// died) is not joined: a new request replaces it.
    static let requestScript = RedisScript(
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local existing = redis.call('HGET', KEYS[1], ARGV[1])
        if existing then
            local entry = cjson.decode(existing)
            local alive = true
            if entry.node then alive = tonumber(redis.call('ZSCORE', KEYS[3], entry.node) or '0') > now end
            if entry.state ~= 'refused' and alive and tonumber(entry.expiresAt) > now then return {0, existing} end
        end
        local entry = cjson.encode({request = ARGV[2], force = ARGV[3] == '1', who = ARGV[4], state = 'pending',
                                    requestedAt = now, expiresAt = now + tonumber(ARGV[5])})
        redis.call('HSET', KEYS[1], ARGV[1], entry)
        redis.call('PUBLISH', KEYS[2], 'trigger ' .. ARGV[1])
        return {1, entry}
        """
    )

    /// KEYS: triggers. ARGV: job, request id, new state, node, run ID, reason, expiry from now (ms),
    /// the state it must be in ('' for any). Returns 1 when it moved, 0 otherwise. A `done` state
    /// deletes the entry.
    static let updateScript = RedisScript(
        """
        local existing = redis.call('HGET', KEYS[1], ARGV[1])
        if not existing then return 0 end
        local entry = cjson.decode(existing)
        if entry.request ~= ARGV[2] then return 0 end
        if ARGV[8] ~= '' and entry.state ~= ARGV[8] then return 0 end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        if ARGV[8] == 'pending' and tonumber(entry.expiresAt) <= now then return 0 end
        if ARGV[3] == 'done' then
            redis.call('HDEL', KEYS[1], ARGV[1])
            return 1
        end
        entry.state = ARGV[3]
        if ARGV[4] ~= '' then entry.node = ARGV[4] end
        if ARGV[5] ~= '' then entry.runId = ARGV[5] end
        if ARGV[6] ~= '' then entry.reason = ARGV[6] end
        entry.expiresAt = now + tonumber(ARGV[7])
        redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
        return 1
        """
    )

    /// KEYS: triggers. Returns the pending, unexpired requests as {job, entry, ...}, deleting the
    /// expired entries on the way.
    static let pendingScript = RedisScript(
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local all = redis.call('HGETALL', KEYS[1])
        local result = {}
        for i = 1, #all, 2 do
            local entry = cjson.decode(all[i + 1])
            if tonumber(entry.expiresAt) <= now then
                redis.call('HDEL', KEYS[1], all[i])
            elseif entry.state == 'pending' then
                result[#result + 1] = all[i]
                result[#result + 1] = all[i + 1]
            end
        end
        return result
        """
    )

    /// KEYS: paused, control. ARGV: job, who. Returns 1 if newly paused. Published as `pause <job>`:
    /// a node holding a run of the job claimed ahead of its instant cancels it.
    static let pauseScript = RedisScript(
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local new = redis.call('HSETNX', KEYS[1], ARGV[1], now .. ' ' .. ARGV[2])
        redis.call('PUBLISH', KEYS[2], 'pause ' .. ARGV[1])
        return new
        """
    )

    /// KEYS: paused, claims, claimedBy. ARGV: job, who. Advances the job's last claimed instant
    /// to now, so that the instants of the pause are not caught up. Returns 1 if it was paused.
    static let unpauseScript = RedisScript(
        """
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
        local now = tonumber(redis.call('TIME')[1])
        if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1') < now then
            redis.call('HSET', KEYS[2], ARGV[1], now)
            redis.call('HSET', KEYS[3], ARGV[1], 'unpaused ' .. now .. ' ' .. ARGV[2])
        end
        return 1
        """
    )

    // MARK: - Commands

    /// Asks for a manual run; returns whether it is new, and the entry (new or joined).
    static func requestTrigger(
        _ redis: RedisClient,
        keys: ClusterKeys,
        job: String,
        request: String,
        force: Bool,
        who: String
    ) async throws -> (new: Bool, entry: Trigger?) {
        let reply = try await send(
            redis,
            .evaluate(
                requestScript,
                keys: [keys.triggers, keys.controlChannel, keys.members],
                arguments: [
                    job, request, force ? 1 : 0, who, triggerPendingLimit.wholeMilliseconds,
                ]
            )
        )
        let parts = reply.array ?? []
        guard parts.count == 2 else { throw RedisServerError(message: "unexpected trigger reply: \(reply)") }
        return (parts[0].integer == 1, parts[1].string.flatMap(Trigger.init(json:)))
    }

    /// The manual run of `job` as stored, if any.
    static func trigger(_ redis: RedisClient, keys: ClusterKeys, job: String) async throws -> Trigger? {
        try await send(redis, RedisCommand("HGET", keys.triggers, job)).string.flatMap(Trigger.init(json:))
    }

    /// Moves a manual run's entry (``updateScript``); `done` deletes it.
    @discardableResult
    static func updateTrigger(
        _ redis: RedisClient,
        keys: ClusterKeys,
        job: String,
        request: String,
        to state: String,
        from expected: String = "",
        node: String = "",
        runID: String = "",
        reason: String = "",
        keepFor: Duration = .seconds(60)
    ) async throws -> Bool {
        let reply = try await send(
            redis,
            .evaluate(
                updateScript,
                keys: [keys.triggers],
                arguments: [
                    job, request, state, node, runID, reason, keepFor.wholeMilliseconds, expected,
                ]
            )
        )
        return reply.integer == 1
    }

    /// The manual runs waiting for their owner: (job, entry).
    static func pendingTriggers(
        _ redis: RedisClient,
        keys: ClusterKeys
    ) async throws -> [(job: String, entry: Trigger)] {
        let flat = try await send(redis, .evaluate(pendingScript, keys: [keys.triggers])).array ?? []
        return stride(from: 0, to: flat.count - 1, by: 2).compactMap { index in
            guard let job = flat[index].string, let entry = flat[index + 1].string.flatMap(Trigger.init(json:)) else {
                return nil
            }
            return (job, entry)
        }
    }

    static func pause(_ redis: RedisClient, keys: ClusterKeys, job: String, who: String) async throws -> Bool {
        try await send(
            redis,
            .evaluate(pauseScript, keys: [keys.paused, keys.controlChannel], arguments: [job, who])
        ).integer == 1
    }

    static func unpause(_ redis: RedisClient, keys: ClusterKeys, job: String, who: String) async throws -> Bool {
        try await send(
            redis,
            .evaluate(unpauseScript, keys: [keys.paused, keys.claims, keys.claimedBy], arguments: [job, who])
        ).integer == 1
    }

    /// Paused jobs: job → (Unix ms, who).
    static func paused(
        _ redis: RedisClient,
        keys: ClusterKeys
    ) async throws -> [String: (since: Int64, who: String)] {
        let flat = try await send(redis, RedisCommand("HGETALL", keys.paused)).array ?? []
        var result: [String: (since: Int64, who: String)] = [:]
        for index in stride(from: 0, to: flat.count - 1, by: 2) {
            guard let job = flat[index].string, let value = flat[index + 1].string else { continue }
            let parts = value.split(separator: " ", maxSplits: 1)
            result[job] = (parts.first.flatMap { Int64($0) } ?? 0, parts.count > 1 ? String(parts[1]) : "?")
        }
        return result
    }

    /// A kill request as published: `kill <request> <signal> <run ID or *> <job>` (the job last: it may hold spaces).
    struct Kill: Sendable, Hashable {
        let request: String
        let signal: Int32
        let runID: String?
        let job: String

        init(request: String, signal: Int32, runID: String?, job: String) {
            self.request = request
            self.signal = signal
            self.runID = runID
            self.job = job
        }

        var message: String { "kill \(request) \(signal) \(runID ?? "*") \(job)" }

        init?(message: String) {
            let parts = message.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false)
            guard parts.count == 5, parts[0] == "kill", let signal = Int32(parts[2]) else { return nil }
            self.init(
                request: String(parts[1]),
                signal: signal,
                runID: parts[3] == "*" ? nil : String(parts[3]),
                job: String(parts[4])
            )
        }
    }

    static func publishKill(_ redis: RedisClient, keys: ClusterKeys, _ kill: Kill) async throws -> Int64 {
        try await send(redis, RedisCommand("PUBLISH", keys.controlChannel, kill.message)).integer ?? 0
    }

    /// A node's answer to a kill: the runs it reached (none is an answer too).
    static func acknowledgeKill(
        _ redis: RedisClient,
        keys: ClusterKeys,
        request: String,
        node: String,
        runs: [String]
    ) async throws {
        _ = try await send(
            redis,
            RedisCommand("RPUSH", keys.killAcknowledgements(request), ([node] + runs).joined(separator: " "))
        )
        _ = try await send(redis, RedisCommand("EXPIRE", keys.killAcknowledgements(request), 300))
    }

    /// The answers so far: node → runs reached.
    static func killAcknowledgements(
        _ redis: RedisClient,
        keys: ClusterKeys,
        request: String
    ) async throws -> [String: [String]] {
        let lines =
            try await send(redis, RedisCommand("LRANGE", keys.killAcknowledgements(request), 0, -1)).array?.compactMap(
                \.string
            ) ?? []
        var result: [String: [String]] = [:]
        for line in lines {
            let words = line.split(separator: " ").map(String.init)
            if let node = words.first { result[node] = Array(words.dropFirst()) }
        }
        return result
    }

    /// Sets or clears `node`'s drain mark (`dcrond drain`, `dcrond resume`), which the node's
    /// heartbeat script reads; returns whether it changed.
    @discardableResult
    static func setDrain(_ redis: RedisClient, keys: ClusterKeys, node: String, draining: Bool) async throws -> Bool {
        let key = keys.drain(node)
        if draining { return !(try await send(redis, RedisCommand("SET", key, "1", "NX")).isNull) }
        return try await send(redis, RedisCommand("DEL", key)).integer == 1
    }

    private static func send(_ redis: RedisClient, _ command: RedisCommand) async throws -> RedisReply {
        try await redis.checkedSend(command)
    }
}
