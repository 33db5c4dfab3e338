extension Commands {
    /// `dcrond explain`: why `job` ran or not at `at` (default: its latest due instant), and its
    /// `next` instants.
    package static func explain(config: String, job: String, at: String?, next: Int, json: Bool) async throws {
        let context = try ClusterContext(config: config, what: "an explanation")
        let definition = try context.job(job)
        let now = currentUnixSeconds()
        var facts = JobExplanation.Facts(job: definition, now: now)
        facts.virtualNodes = context.loaded.daemon.virtualNodes
        facts.nodeTimeout = context.loaded.daemon.nodeTimeout
        facts.missedRunGrace = context.loaded.daemon.missedRunGrace
        let keys = context.keys
        let replies = try await context.reaching {
            try await context.redis.pipeline(
                [RunHistory.read(job, keys: keys)] + RedisClaimStore.readLastClaim(job, keys: keys)
            ).map { try $0.orThrow() }
        }
        facts.records = RunHistory.records(in: replies[0])
        (facts.lastClaimed, facts.claimedBy) = RedisClaimStore.lastClaim(in: replies[1...])
        facts.paused = try await context.reaching { try await OperatorRequests.paused(context.redis, keys: keys)[job] }
        facts.nodes = try await context.reaching {
            try await ClusterStatus.readNodes(redis: context.redis, cluster: keys.cluster).nodes
        }

        let instant: Int64
        if let at {
            instant = Int64(at) ?? parseInstant(at)!
        } else if let latest = JobExplanation.latestDue(definition, now: now) {
            instant = latest
        } else {
            instant = definition.schedule.next(after: now, in: definition.timeZone, policy: definition.dstPolicy) ?? now
        }
        let explained = JobExplanation(instant, facts)
        let following = next == 0 ? [] : JobExplanation.dstAnnotated(definition, after: max(instant, now), count: next)
        let zone = definition.timeZone
        func format(_ value: Int64) -> String { formatInstant(value, offset: zone.offset(at: value)) }
        if json {
            print(
                JSONValue.object([
                    "job": .string(job), "now": .integer(now), "explanation": explained.json,
                    "next": .array(
                        following.map { entry in
                            let upcoming = JobExplanation(entry.instant, facts)
                            return .object([
                                "instant": .integer(entry.instant), "runs": .bool(entry.runs),
                                "dst": entry.note.map { .string($0) } ?? .null,
                                "summary": .string(upcoming.summary),
                            ])
                        }
                    ),
                ]).serialized
            )
            return
        }
        print(
            "\(job) at \(format(instant)) (\(instant)), schedule \"\(definition.schedule.text)\" in \(zone.identifier)"
        )
        if let dst = explained.dst { print("  DST: \(dst)") }
        print("  \(explained.summary)")
        print("  owner now: \(explained.owner ?? "none"): \(explained.ownerReason)")
        if let last = facts.lastClaimed {
            print(
                "  last claimed instant: \(format(last))\(facts.claimedBy.map { " (\($0.split(separator: " ").first ?? ""))" } ?? "")"
            )
        }
        if let paused = facts.paused { print("  paused by \(paused.who)") }
        if !following.isEmpty {
            print("next:")
            for entry in following {
                let upcoming = JobExplanation(entry.instant, facts)
                print(
                    "  \(format(entry.instant))  \(entry.runs ? upcoming.summary : "not run")\(entry.note.map { " — \($0)" } ?? "")"
                )
            }
        }
    }
}
