import Metrics
import Prometheus
import Synchronization

/// The daemon's metrics, in one Prometheus registry (`/metrics`). Named by Prometheus
/// conventions: `dcrond_` prefix, `_total` counters, `_seconds` units, timestamps as
/// `_timestamp_seconds`. Per job, the counters and gauges exist from the start at 0, so that a job
/// that never ran can alert; its histograms appear with its first run.
///
/// | metric | labels | meaning |
/// | --- | --- | --- |
/// | `dcrond_runs_total` | job, result | runs that ended on this node: `succeeded`, `failed`, `timed_out`, `killed` |
/// | `dcrond_skipped_total` | job, reason | instants skipped on this node, by rule (``SkipRule``) |
/// | `dcrond_missed_total` | job | instants this node reported missed (the alarm) |
/// | `dcrond_last_start_timestamp_seconds` | job | start of the last run on this node (0: none) |
/// | `dcrond_last_success_timestamp_seconds` | job | end of the last successful run on this node (0: none) |
/// | `dcrond_next_run_timestamp_seconds` | job | the next planned instant (0: none, or disabled) |
/// | `dcrond_run_duration_seconds` | job | histogram of run durations |
/// | `dcrond_start_lateness_seconds` | job | histogram of the start's lateness after its instant |
/// | `dcrond_node_state` | state | 1 for this node's state: `active`, `draining`, `fenced` (`standalone` too) |
/// | `dcrond_owned_jobs` | | jobs this node owns |
/// | `dcrond_pool_nodes` | state | nodes of the pool as last seen, by state |
/// | `dcrond_heartbeat_age_seconds` | | since this node's last acknowledged heartbeat was sent |
/// | `dcrond_clock_offset_seconds` | | Redis's clock minus this node's |
/// | `dcrond_claim_failures_total` | | claims that failed on a Redis error (first failure of each) |
/// | `dcrond_redis_errors_total` | | Redis errors met by the scheduler (claims, catch-up, records, checks) |
/// | `dcrond_running_jobs` | | runs in progress on this node |
/// | `dcrond_build_info` | version | 1 |
package final class DaemonMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry

    private struct JobSeries: Sendable {
        var runs: [String: Prometheus.Counter]
        var missed: Prometheus.Counter
        var lastStart: Prometheus.Gauge
        var lastSuccess: Prometheus.Gauge
        var next: Prometheus.Gauge
        var skipped: [SkipRule: Prometheus.Counter] = [:]
        var duration: DurationHistogram?
        var lateness: DurationHistogram?
    }

    private let jobs = Mutex<[String: JobSeries]>([:])
    private let nodeState: [String: Prometheus.Gauge]
    private let poolNodes: [String: Prometheus.Gauge]
    private let ownedJobs: Prometheus.Gauge
    private let heartbeatAge: Prometheus.Gauge
    private let clockOffset: Prometheus.Gauge
    private let claimFailures: Prometheus.Counter
    private let redisErrors: Prometheus.Counter
    private let runningJobs: Prometheus.Gauge

    package static let results = ["succeeded", "failed", "timed_out", "killed"]
    package static let nodeStates = ["active", "draining", "fenced", "standalone"]
    static let latencyBuckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
                                             .milliseconds(500), .seconds(1), .seconds(5), .seconds(30), .seconds(300)]
    static let durationBuckets: [Duration] = [.milliseconds(100), .seconds(1), .seconds(10), .seconds(60), .seconds(300),
                                              .seconds(1800), .seconds(3600), .seconds(10800)]

    private static func name(_ base: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "dcrond", metricName: base, unitName: unit, helpText: help)
    }

    package init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        nodeState = Dictionary(uniqueKeysWithValues: Self.nodeStates.map { state in
            (state, registry.makeGauge(descriptor: Self.name("node", "state", "1 for the state this node is in"), labels: [("state", state)]))
        })
        poolNodes = Dictionary(uniqueKeysWithValues: ["active", "draining"].map { state in
            (state, registry.makeGauge(descriptor: Self.name("pool", "nodes", "Nodes of the pool as this node last saw it"), labels: [("state", state)]))
        })
        ownedJobs = registry.makeGauge(descriptor: Self.name("owned", "jobs", "Jobs this node owns"))
        heartbeatAge = registry.makeGauge(descriptor: Self.name("heartbeat_age", "seconds", "Since this node's last acknowledged heartbeat was sent"))
        clockOffset = registry.makeGauge(descriptor: Self.name("clock_offset", "seconds", "Redis's clock minus this node's"))
        claimFailures = registry.makeCounter(descriptor: Self.name("claim_failures", "total", "Claims that failed on a Redis error"))
        redisErrors = registry.makeCounter(descriptor: Self.name("redis_errors", "total", "Redis errors met by the scheduler"))
        runningJobs = registry.makeGauge(descriptor: Self.name("running", "jobs", "Runs in progress on this node"))
        registry.makeGauge(descriptor: Self.name("build", "info", "The running version"), labels: [("version", DcrondVersion.current)]).set(to: 1.0)
    }

    /// Creates the series of jobs new to the table (at 0) and drops those of removed jobs.
    package func track(jobs names: [String]) {
        let wanted = Set(names)
        let (added, removed) = jobs.withLock { series -> ([String], [JobSeries]) in
            let removed = series.filter { !wanted.contains($0.key) }
            for name in removed.keys { series[name] = nil }
            return (names.filter { series[$0] == nil }, Array(removed.values))
        }
        for series in removed {
            for counter in series.runs.values { registry.unregisterCounter(counter) }
            for counter in series.skipped.values { registry.unregisterCounter(counter) }
            registry.unregisterCounter(series.missed)
            for gauge in [series.lastStart, series.lastSuccess, series.next] { registry.unregisterGauge(gauge) }
            for histogram in [series.duration, series.lateness].compactMap({ $0 }) { registry.unregisterDurationHistogram(histogram) }
        }
        var made: [String: JobSeries] = [:]
        for name in added {
            let labels = [("job", name)]
            made[name] = JobSeries(
                runs: Dictionary(uniqueKeysWithValues: Self.results.map { result in
                    (result, registry.makeCounter(descriptor: Self.name("runs", "total", "Runs that ended on this node, by result"),
                                                  labels: labels + [("result", result)]))
                }),
                missed: registry.makeCounter(descriptor: Self.name("missed", "total", "Instants this node reported missed"), labels: labels),
                lastStart: registry.makeGauge(descriptor: Self.name("last_start_timestamp", "seconds", "Start of the last run on this node"), labels: labels),
                lastSuccess: registry.makeGauge(descriptor: Self.name("last_success_timestamp", "seconds", "End of the last successful run on this node"), labels: labels),
                next: registry.makeGauge(descriptor: Self.name("next_run_timestamp", "seconds", "The next planned instant"), labels: labels))
        }
        jobs.withLock { series in series.merge(made) { old, _ in old } }
    }

    private func series<T>(_ job: String, _ body: (inout JobSeries) -> T) -> T? {
        jobs.withLock { all in
            guard var value = all[job] else { return nil }
            defer { all[job] = value }
            return body(&value)
        }
    }

    /// A run that ended: counted by result, its timestamps and histograms updated.
    package func ended(_ record: RunRecord) {
        guard let last = record.attempts.last, let first = record.attempts.first else { return }
        let result = record.killedBy != nil ? "killed" : last.timedOut ? "timed_out" : record.outcome == .succeeded ? "succeeded" : "failed"
        let histograms = series(record.job) { series -> (DurationHistogram, DurationHistogram) in
            series.runs[result]?.increment()
            series.lastStart.set(Double(first.startedAt) / 1000)
            if record.outcome == .succeeded { series.lastSuccess.set(Double(last.endedAt) / 1000) }
            let labels = [("job", record.job)]
            let duration = series.duration ?? registry.makeDurationHistogram(
                descriptor: Self.name("run_duration", "seconds", "Run durations, first attempt's start to last attempt's end"), labels: labels,
                buckets: Self.durationBuckets)
            let lateness = series.lateness ?? registry.makeDurationHistogram(
                descriptor: Self.name("start_lateness", "seconds", "From the instant to the start of its run"), labels: labels,
                buckets: Self.latencyBuckets)
            series.duration = duration
            series.lateness = lateness
            return (duration, lateness)
        }
        guard let (duration, lateness) = histograms else { return }
        duration.record(.milliseconds(max(0, last.endedAt - first.startedAt)))
        if let late = record.startLatenessMilliseconds { lateness.record(.milliseconds(max(0, late))) }
    }

    package func skipped(_ job: String, _ rule: SkipRule, count: Int = 1) {
        let counter = series(job) { series -> Prometheus.Counter in
            if let counter = series.skipped[rule] { return counter }
            let counter = registry.makeCounter(descriptor: Self.name("skipped", "total", "Instants skipped on this node, by rule"),
                                               labels: [("job", job), ("reason", rule.rawValue)])
            series.skipped[rule] = counter
            return counter
        }
        counter?.increment(by: Int64(count))
    }

    package func missed(_ job: String) { _ = series(job) { $0.missed.increment() } }

    package func claimFailed() { claimFailures.increment() }

    package func redisError() { redisErrors.increment() }

    /// What the scheduler knows right now, set at each scrape.
    package struct Snapshot: Sendable {
        package var state: String
        package var ownedJobs: Int
        package var poolActive: Int
        package var poolDraining: Int
        package var heartbeatAge: Duration?
        package var clockOffset: Duration?
        package var running: Int
        package var next: [String: Int64]
    }

    package func update(_ snapshot: Snapshot) {
        for (state, gauge) in nodeState { gauge.set(to: state == snapshot.state ? 1.0 : 0.0) }
        ownedJobs.set(Double(snapshot.ownedJobs))
        poolNodes["active"]?.set(Double(snapshot.poolActive))
        poolNodes["draining"]?.set(Double(snapshot.poolDraining))
        heartbeatAge.set(snapshot.heartbeatAge.map { Double($0.wholeMilliseconds) / 1000 } ?? -1)
        clockOffset.set(snapshot.clockOffset.map { Double($0.wholeMilliseconds) / 1000 } ?? 0)
        runningJobs.set(Double(snapshot.running))
        jobs.withLock { series in
            for (name, value) in series { value.next.set(Double(snapshot.next[name] ?? 0)) }
        }
    }

    /// The text exposition format.
    package func exposition() -> [UInt8] { registry.emitToBuffer() }
}

extension DaemonMetrics {
    /// Makes swift-metrics' global factory write into this registry, so that metrics from any
    /// library using swift-metrics are served on `/metrics` too. Once per process (`dcrond run`).
    package func bootstrapMetricsSystem() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }
}
