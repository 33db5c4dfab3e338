import Testing

@testable import DcrondCore

@Suite("What a reload may change while the daemon runs")
struct LiveSettingsTests {
    private func load(_ daemon: String) throws -> DaemonConfiguration {
        let folder = try ConfigurationFolder(daemon: daemon, jobs: #"{"jobs": []}"#)
        return try folder.load().daemon
    }

    @Test(
        "maxConcurrentRuns, logLevel, shutdownGrace, missedRunGrace, reloadOnChange and reloadTimeout apply; none needs a restart"
    )
    func live() throws {
        let running = try load(#"{"cluster": "c", "node": "n1", "timezone": "UTC"}"#)
        let new = try load(
            #"{"cluster": "c", "node": "n1", "timezone": "UTC", "maxConcurrentRuns": 3, "logLevel": "debug", "shutdownGrace": "5s", "missedRunGrace": "9s", "reloadOnChange": false, "reloadTimeout": "7s"}"#
        )
        let (settings, needsRestart) = running.adopting(new)
        #expect(needsRestart.isEmpty)
        #expect(settings == new)
        #expect(settings.logLevel == .debug && settings.maxConcurrentRuns == 3 && settings.reloadOnChange == false)
        #expect(settings.reloadTimeout == .seconds(7))
    }

    @Test("the node, its pool and its connections need a restart: named, and the running values stay")
    func restart() throws {
        let running = try load(
            #"{"cluster": "c", "node": "n1", "timezone": "UTC", "redis": "redis://127.0.0.1:6379", "metrics": "127.0.0.1:9464"}"#
        )
        let new = try load(
            #"{"cluster": "d", "node": "n2", "timezone": "UTC", "redis": "redis://127.0.0.1:6380", "heartbeat": "2s", "nodeTimeout": "6s", "virtualNodes": 10, "weight": 2, "claimReplicas": 1, "claimReplicaTimeout": "1s", "metrics": "127.0.0.1:9465", "maxConcurrentRuns": 2}"#
        )
        let (settings, needsRestart) = running.adopting(new)
        #expect(
            needsRestart == [
                "cluster", "node", "redis", "heartbeat", "nodeTimeout", "virtualNodes", "weight", "claimReplicas",
                "claimReplicaTimeout", "metrics",
            ]
        )
        #expect(
            settings.cluster == "c" && settings.node == "n1" && settings.redis == running.redis
                && settings.metrics == running.metrics
        )
        #expect(settings.maxConcurrentRuns == 2, "what can apply still does")
    }

    @Test("logLevel must be a level")
    func badLevel() throws {
        let folder = try ConfigurationFolder(
            daemon: #"{"cluster": "c", "timezone": "UTC", "logLevel": "verbose"}"#,
            jobs: #"{"jobs": []}"#
        )
        #expect(folder.problems().contains { $0.contains("logLevel") && $0.contains("\"verbose\" is not one of") })
    }
}
