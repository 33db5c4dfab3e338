extension Commands {
    /// `dcrond pause` (`pause`) and `dcrond unpause`: cluster-wide, in Redis.
    package static func setPaused(_ pause: Bool, jobs: [String], config: String, json: Bool) async throws {
        let context = try ClusterContext(config: config, what: pause ? "a pause" : "an unpause")
        for job in jobs { _ = try context.job(job) }
        var results: [JSONValue] = []
        for job in jobs {
            let changed = try await context.reaching {
                pause
                    ? try await OperatorRequests.pause(
                        context.redis,
                        keys: context.keys,
                        job: job,
                        who: ClusterContext.who
                    )
                    : try await OperatorRequests.unpause(
                        context.redis,
                        keys: context.keys,
                        job: job,
                        who: ClusterContext.who
                    )
            }
            results.append(.object(["job": .string(job), "paused": .bool(pause), "changed": .bool(changed)]))
            if !json {
                switch (pause, changed) {
                case (true, true): print("paused \(job)")
                case (true, false): print("\(job) was already paused")
                case (false, true): print("unpaused \(job): its next instant runs; none of the pause is replayed")
                case (false, false): print("\(job) was not paused")
                }
            }
        }
        if json { print(JSONValue.array(results).serialized) }
    }
}
