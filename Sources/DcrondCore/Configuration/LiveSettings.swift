extension DaemonConfiguration {
    /// What a reload may change while the daemon runs, from `self` (running) to `new` (just read):
    /// the settings to run with, and the names of those that changed but take a restart (the
    /// running values stay; the reload says so instead of ignoring them silently).
    ///
    /// Live: `maxConcurrentRuns`, `logLevel`, `shutdownGrace`, `missedRunGrace`, `reloadOnChange`,
    /// `reloadTimeout` (from the next reload), `jobs` and `timezone` (both through the table). Everything that names the node, its pool or
    /// its connections takes a restart.
    func adopting(_ new: DaemonConfiguration) -> (settings: DaemonConfiguration, needsRestart: [String]) {
        var settings = new
        var needsRestart: [String] = []
        func keep<Value: Equatable>(_ name: String, _ field: WritableKeyPath<DaemonConfiguration, Value>) {
            guard self[keyPath: field] != new[keyPath: field] else { return }
            needsRestart.append(name)
            settings[keyPath: field] = self[keyPath: field]
        }
        keep("cluster", \.cluster)
        keep("node", \.node)
        keep("redis", \.redis)
        keep("heartbeat", \.heartbeat)
        keep("nodeTimeout", \.nodeTimeout)
        keep("virtualNodes", \.virtualNodes)
        keep("weight", \.weight)
        keep("claimReplicas", \.claimReplicas)
        keep("claimReplicaTimeout", \.claimReplicaTimeout)
        keep("metrics", \.metrics)
        return (settings, needsRestart)
    }
}
