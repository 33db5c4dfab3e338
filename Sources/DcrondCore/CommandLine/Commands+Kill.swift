#if canImport(Glibc)
import Glibc
#endif

extension Commands {
    /// `dcrond kill`: `signal` to the runs of `job` (or the one with ID `run`) wherever they run.
    package static func kill(config: String, job: String, run: String?, signal: String, json: Bool) async throws {
        let context = try ClusterContext(config: config, what: "a kill")
        let definition = try context.job(job)
        let kill = OperatorRequests.Kill(
            request: JobRunner.newRunID(),
            signal: signalNumber(signal)!,
            runID: run,
            job: job
        )
        let (_, nodes) = try await context.reaching {
            try await ClusterStatus.readNodes(redis: context.redis, cluster: context.keys.cluster)
        }
        _ = try await context.reaching {
            try await OperatorRequests.publishKill(context.redis, keys: context.keys, kill)
        }
        // Every live node answers, with the runs it reached or none.
        let limit = ContinuousClock.now + .seconds(3)
        var answers: [String: [String]] = [:]
        while ContinuousClock.now < limit {
            answers = try await context.reaching {
                try await OperatorRequests.killAcknowledgements(
                    context.redis,
                    keys: context.keys,
                    request: kill.request
                )
            }
            if Set(nodes.map(\.id)).isSubset(of: answers.keys) { break }
            await sleep(milliseconds: 50)
        }
        let reached = answers.sorted { $0.key < $1.key }.flatMap { node, runs in runs.map { (node: node, run: $0) } }
        let silent = nodes.map(\.id).filter { answers[$0] == nil }
        if json {
            print(
                JSONValue.object([
                    "job": .string(job), "signal": .string(signalName(kill.signal)),
                    "killed": .array(reached.map { .object(["node": .string($0.node), "runId": .string($0.run)]) }),
                    "unanswered": .array(silent.map { .string($0) }),
                ]).serialized
            )
        } else {
            for entry in reached {
                print(
                    "sent \(signalName(kill.signal)) to run \(entry.run) of \(job) on node \(entry.node) (SIGKILL after \(formatDuration(definition.killGrace)) if it is still there)"
                )
            }
            for node in silent { print("warning: node \(node) did not answer") }
        }
        if reached.isEmpty {
            throw CommandFailure(
                status: 1,
                messages: ["no run of \(job)\(run.map { " with ID \($0)" } ?? "") is running on any node that answered"]
            )
        }
    }
}
