extension Commands {
    /// `dcrond trigger`: a manual run of `job` on its owner, waited for to start (`wait`: to end).
    package static func trigger(
        config: String,
        job: String,
        force: Bool,
        wait: Bool,
        timeout: String,
        json: Bool
    ) async throws {
        let context = try ClusterContext(config: config, what: "a manual run")
        _ = try context.job(job)
        let limit = ContinuousClock.now + (try parseDuration(timeout))
        let (_, nodes) = try await context.reaching {
            try await ClusterStatus.readNodes(redis: context.redis, cluster: context.keys.cluster)
        }
        let placement = ClusterStatus.placement(of: nodes, virtualNodes: context.loaded.daemon.virtualNodes)
        guard let owner = placement.owner(of: job) else {
            throw CommandFailure(
                status: 1,
                messages: [
                    "no active node in cluster \(context.keys.cluster) (\(nodes.count) draining or none): the run cannot start; `dcrond status` shows the pool"
                ]
            )
        }
        let request = JobRunner.newRunID()
        // A run that ends before this command looks again leaves only its record: told apart from
        // older manual runs by its run ID.
        let before = try await lastManual(context, job)?.runID
        let (isNew, entry) = try await context.reaching {
            try await OperatorRequests.requestTrigger(
                context.redis,
                keys: context.keys,
                job: job,
                request: request,
                force: force,
                who: ClusterContext.who
            )
        }
        if !isNew, let entry, !json {
            print("joining the manual run of \(job) that \(entry.who) asked for (\(entry.state.rawValue))")
        }
        let requestID = entry?.request ?? request
        var runID: String?
        var node: String?
        waiting: while ContinuousClock.now < limit {
            let current = try await context.reaching {
                try await OperatorRequests.trigger(context.redis, keys: context.keys, job: job)
            }
            guard let current, current.request == requestID else { break }  // ended already
            switch current.state {
            case .refused:
                throw CommandFailure(
                    status: 1,
                    messages: [
                        "the manual run of \(job) was refused on node \(current.node ?? owner): \(current.reason ?? "no reason given")"
                    ]
                )
            case .started:
                (runID, node) = (current.runID, current.node)
                break waiting
            case .claimed, .pending:
                (runID, node) = (current.runID ?? runID, current.node ?? node)
            }
            await sleep(milliseconds: 50)
        }
        if runID == nil, let record = try await lastManual(context, job), record.runID != before {
            (runID, node) = (record.runID, record.node)
        }
        guard let runID, let node else {
            throw CommandFailure(
                status: 1,
                messages: [
                    "no node started the manual run of \(job) within \(timeout) (its owner is \(owner)); see `dcrond status` and the owner's journal"
                ]
            )
        }
        if !wait {
            if json {
                print(
                    JSONValue.object([
                        "job": .string(job), "runId": .string(runID), "node": .string(node),
                        "state": .string("started"),
                    ]).serialized
                )
            } else {
                print("started run \(runID) of \(job) on node \(node)")
            }
            return
        }
        if !json { print("started run \(runID) of \(job) on node \(node); waiting for it to end") }
        while ContinuousClock.now < limit {
            if let record = try await lastManual(context, job), record.runID == runID {
                if json {
                    print(record.json.serialized)
                } else {
                    print("run \(runID) \(record.outcome.word): \(record.resultText)")
                }
                if record.outcome != .succeeded { throw CommandFailure(status: 1, messages: []) }
                return
            }
            await sleep(milliseconds: 100)
        }
        throw CommandFailure(
            status: 1,
            messages: ["run \(runID) of \(job) on node \(node) had not ended after \(timeout)"]
        )
    }

    private static func lastManual(_ context: ClusterContext, _ job: String) async throws -> RunRecord? {
        try await context.reaching {
            RunHistory.record(in: try await context.redis.send(RunHistory.readLastManual(job, keys: context.keys)))
        }
    }
}
