/// The Lua scripts of membership. Each is one round trip; none scans the keyspace, so the cost of
/// a heartbeat depends on the number of nodes, never on what else is stored in Redis.
enum MembershipScripts {
    /// Heartbeat. KEYS: members, states, epoch, node:<id>, drain:<id>, history.
    /// ARGV: id, ttl (ms), wanted state (`active` | `draining`), channel, instance, the prefix of
    /// the nodes' info keys (`…:node:`), then the info as field/value pairs (`weight` among them).
    ///
    /// When the node's info hash is alive with another `instance` (a second process with the same
    /// id), changes nothing and returns `{'conflict', pid, host, startedAt}` of the holder.
    /// Otherwise, using Redis's clock (`TIME`): refreshes the node's info hash with its TTL and its
    /// score in `members` (expiry), records its state (`draining` if it or an operator asks), prunes
    /// expired members, bumps and publishes the epoch when anything changed, and returns
    /// `{seconds, microseconds, epoch, {ids...}, {states...}, generation, sequence, {weights...}}`:
    /// generation and sequence from the claim history; each member's `weight` from its info hash,
    /// `""` when its info has none (a version before weights: the pool keeps the ring), nil when its
    /// info hash is gone (expiring).
    static let heartbeat = RedisScript(
        """
        local holder = redis.call('HGET', KEYS[4], 'instance')
        if holder and holder ~= ARGV[5] then
            local h = redis.call('HMGET', KEYS[4], 'pid', 'host', 'startedAt')
            return {'conflict', h[1] or '?', h[2] or '?', h[3] or '0'}
        end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local id, ttl, wanted = ARGV[1], tonumber(ARGV[2]), ARGV[3]
        local state = wanted
        if redis.call('EXISTS', KEYS[5]) == 1 then state = 'draining' end
        local changed = false
        if not redis.call('ZSCORE', KEYS[1], id) then changed = true end
        if redis.call('HGET', KEYS[2], id) ~= state then changed = true end
        redis.call('ZADD', KEYS[1], now + ttl, id)
        redis.call('HSET', KEYS[2], id, state)
        redis.call('DEL', KEYS[4])
        local info = {'state', state, 'heartbeatAt', tostring(now), 'instance', ARGV[5]}
        for i = 7, #ARGV, 2 do
            info[#info + 1] = ARGV[i]
            info[#info + 1] = ARGV[i + 1]
        end
        redis.call('HSET', KEYS[4], unpack(info))
        redis.call('PEXPIRE', KEYS[4], ttl)
        local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
        if #expired > 0 then
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
            redis.call('HDEL', KEYS[2], unpack(expired))
            changed = true
        end
        local epoch
        if changed then
            epoch = redis.call('INCR', KEYS[3])
            redis.call('PUBLISH', ARGV[4], epoch)
        else
            epoch = tonumber(redis.call('GET', KEYS[3]) or '0')
        end
        local members = redis.call('ZRANGE', KEYS[1], 0, -1)
        local states = {}
        if #members > 0 then states = redis.call('HMGET', KEYS[2], unpack(members)) end
        for i = 1, #states do if not states[i] then states[i] = 'active' end end
        local weights = {}
        for i = 1, #members do
            local w = redis.call('HMGET', ARGV[6] .. members[i], 'weight', 'instance')
            if w[2] then weights[i] = w[1] or '' else weights[i] = false end
        end
        local history = redis.call('HMGET', KEYS[6], 'generation', 'sequence')
        return {t[1], t[2], epoch, members, states, tonumber(history[1] or '0'), tonumber(history[2] or '0'), weights}
        """
    )

    /// Graceful leave. KEYS: members, states, epoch, node:<id>. ARGV: id, channel.
    /// Removes the node at once and bumps the epoch; returns the new epoch.
    static let leave = RedisScript(
        """
        local removed = redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[1])
        redis.call('DEL', KEYS[4])
        local epoch = redis.call('INCR', KEYS[3])
        redis.call('PUBLISH', ARGV[2], epoch)
        return epoch
        """
    )
}
