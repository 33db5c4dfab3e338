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
/// | `dcrond_start_failures_total` | | attempts whose process could not be started (spawn failures) |
/// | `dcrond_running_jobs` | | runs in progress on this node |
/// | `dcrond_build_info` | version | 1 |
///
/// The per-job families are kept and written here, not in the swift-prometheus registry: its
/// registry copies a metric's whole label dictionary for every label set added, so registering
/// 8 series for each of 10,000 jobs took minutes of CPU at start-up (measured: 100 % of a core
/// for over 30 s with 10,000 jobs, quadratic in the jobs). The node's own series, and anything a
/// library reports through swift-metrics, go through the registry.
final class DaemonMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    /// Cumulative bucket counts, sum and count, in the text format's sense.
    private struct Histogram: Sendable {
        var buckets: [Int64]
        var sum: Double = 0
        var count: Int64 = 0

        init(_ bounds: Int) { buckets = Array(repeating: 0, count: bounds) }

        mutating func record(_ seconds: Double, bounds: [Double]) {
            for (index, bound) in bounds.enumerated() where seconds <= bound { buckets[index] += 1 }
            sum += seconds
            count += 1
        }
    }

    private struct JobSeries: Sendable {
        var runs: [Int64] = Array(repeating: 0, count: DaemonMetrics.results.count)
        var missed: Int64 = 0
        var skipped: [SkipRule: Int64] = [:]
        var lastStart: Double = 0
        var lastSuccess: Double = 0
        var next: Double = 0
        /// Created with the first run.
        var duration: Histogram?
        var lateness: Histogram?
    }

    private struct Jobs: Sendable {
        var names: [String] = []
        var series: [String: JobSeries] = [:]
    }

    private let jobs = Mutex(Jobs())
    private let nodeState: [String: Prometheus.Gauge]
    private let poolNodes: [String: Prometheus.Gauge]
    private let ownedJobs: Prometheus.Gauge
    private let heartbeatAge: Prometheus.Gauge
    private let clockOffset: Prometheus.Gauge
    private let claimFailures: Prometheus.Counter
    private let redisErrors: Prometheus.Counter
    private let startFailures: Prometheus.Counter
    private let runningJobs: Prometheus.Gauge

    static let results = ["succeeded", "failed", "timed_out", "killed"]
    static let nodeStates = ["active", "draining", "fenced", "standalone"]
    /// Seconds.
    static let latenessBounds: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300]
    static let durationBounds: [Double] = [0.1, 1, 10, 60, 300, 1800, 3600, 10800]

    private static func name(_ base: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "dcrond", metricName: base, unitName: unit, helpText: help)
    }

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        nodeState = Dictionary(
            uniqueKeysWithValues: Self.nodeStates.map { state in
                (
                    state,
                    registry.makeGauge(
                        descriptor: Self.name("node", "state", "1 for the state this node is in"),
                        labels: [("state", state)]
                    )
                )
            }
        )
        poolNodes = Dictionary(
            uniqueKeysWithValues: ["active", "draining"].map { state in
                (
                    state,
                    registry.makeGauge(
                        descriptor: Self.name("pool", "nodes", "Nodes of the pool as this node last saw it"),
                        labels: [("state", state)]
                    )
                )
            }
        )
        ownedJobs = registry.makeGauge(descriptor: Self.name("owned", "jobs", "Jobs this node owns"))
        heartbeatAge = registry.makeGauge(
            descriptor: Self.name("heartbeat_age", "seconds", "Since this node's last acknowledged heartbeat was sent")
        )
        clockOffset = registry.makeGauge(
            descriptor: Self.name("clock_offset", "seconds", "Redis's clock minus this node's")
        )
        claimFailures = registry.makeCounter(
            descriptor: Self.name("claim_failures", "total", "Claims that failed on a Redis error")
        )
        redisErrors = registry.makeCounter(
            descriptor: Self.name("redis_errors", "total", "Redis errors met by the scheduler")
        )
        startFailures = registry.makeCounter(
            descriptor: Self.name("start_failures", "total", "Attempts whose process could not be started on this node")
        )
        runningJobs = registry.makeGauge(descriptor: Self.name("running", "jobs", "Runs in progress on this node"))
        registry.makeGauge(
            descriptor: Self.name("build", "info", "The running version"),
            labels: [("version", DcrondVersion.current)]
        ).set(to: 1.0)
    }

    /// Creates the series of jobs new to the table (at 0) and drops those of removed jobs; the
    /// others keep their values.
    func track(jobs names: [String]) {
        jobs.withLock { jobs in
            var series: [String: JobSeries] = [:]
            series.reserveCapacity(names.count)
            for name in names { series[name] = jobs.series[name] ?? JobSeries() }
            jobs.names = names
            jobs.series = series
        }
    }

    private func update(_ job: String, _ body: (inout JobSeries) -> Void) {
        jobs.withLock { jobs in
            guard jobs.series[job] != nil else { return }
            body(&jobs.series[job]!)
        }
    }

    /// A run that ended: counted by result, its timestamps and histograms updated.
    func ended(_ record: RunRecord) {
        guard let last = record.attempts.last, let first = record.attempts.first else { return }
        let result = record.killedBy != nil ? 3 : last.timedOut ? 2 : record.outcome == .succeeded ? 0 : 1
        update(record.job) { series in
            series.runs[result] += 1
            series.lastStart = Double(first.startedAt) / 1000
            if record.outcome == .succeeded { series.lastSuccess = Double(last.endedAt) / 1000 }
            var duration = series.duration ?? Histogram(Self.durationBounds.count)
            duration.record(Double(max(0, last.endedAt - first.startedAt)) / 1000, bounds: Self.durationBounds)
            series.duration = duration
            var lateness = series.lateness ?? Histogram(Self.latenessBounds.count)
            if let late = record.startLatenessMilliseconds {
                lateness.record(Double(max(0, late)) / 1000, bounds: Self.latenessBounds)
            }
            series.lateness = lateness
        }
    }

    func skipped(_ job: String, _ rule: SkipRule, count: Int = 1) {
        update(job) { $0.skipped[rule, default: 0] += Int64(count) }
    }

    func missed(_ job: String) { update(job) { $0.missed += 1 } }

    func claimFailed() { claimFailures.increment() }

    func redisError() { redisErrors.increment() }

    func startFailed() { startFailures.increment() }

    /// What the scheduler knows right now, set at each scrape.
    struct Snapshot: Sendable {
        var state: String
        var ownedJobs: Int
        var poolActive: Int
        var poolDraining: Int
        var heartbeatAge: Duration?
        var clockOffset: Duration?
        var running: Int
        var next: [String: Int64]
    }

    func update(_ snapshot: Snapshot) {
        for (state, gauge) in nodeState { gauge.set(to: state == snapshot.state ? 1.0 : 0.0) }
        ownedJobs.set(Double(snapshot.ownedJobs))
        poolNodes["active"]?.set(Double(snapshot.poolActive))
        poolNodes["draining"]?.set(Double(snapshot.poolDraining))
        heartbeatAge.set(snapshot.heartbeatAge.map { Double($0.wholeMilliseconds) / 1000 } ?? -1)
        clockOffset.set(snapshot.clockOffset.map { Double($0.wholeMilliseconds) / 1000 } ?? 0)
        runningJobs.set(Double(snapshot.running))
        jobs.withLock { jobs in
            for name in jobs.names { jobs.series[name]?.next = Double(snapshot.next[name] ?? 0) }
        }
    }

    /// The text exposition format: the registry's series, then the per-job families. Written as
    /// bytes, with each job's label prepared once per scrape: 10,000 jobs make about 4 MB.
    func exposition() -> [UInt8] {
        var output = registry.emitToBuffer()
        let (names, series) = jobs.withLock { ($0.names, $0.series) }
        output.reserveCapacity(output.count + names.count * 480)
        let labels = names.map { Array("{job=\"\(Self.escaped($0))\"".utf8) }
        func family(_ name: String, _ type: String, _ help: String) {
            output += Array("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n".utf8)
        }
        /// `name{job="x"` + `rest` + `} value\n`.
        func sample(_ name: [UInt8], _ label: [UInt8], _ rest: [UInt8], _ value: [UInt8]) {
            output += name
            output += label
            output += rest
            output += Self.closeSpace
            output += value
            output.append(10)
        }
        family("dcrond_runs_total", "counter", "Runs that ended on this node, by result")
        let runs = Array("dcrond_runs_total".utf8)
        let results = Self.results.map { Array(",result=\"\($0)\"".utf8) }
        for (index, name) in names.enumerated() {
            let counts = series[name]?.runs ?? []
            for slot in results.indices {
                sample(runs, labels[index], results[slot], Self.digits(slot < counts.count ? counts[slot] : 0))
            }
        }
        family("dcrond_skipped_total", "counter", "Instants skipped on this node, by rule")
        let skipped = Array("dcrond_skipped_total".utf8)
        for (index, name) in names.enumerated() {
            guard let rules = series[name]?.skipped, !rules.isEmpty else { continue }
            for (rule, count) in rules.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                sample(skipped, labels[index], Array(",reason=\"\(rule.rawValue)\"".utf8), Self.digits(count))
            }
        }
        family("dcrond_missed_total", "counter", "Instants this node reported missed")
        let missed = Array("dcrond_missed_total".utf8)
        for (index, name) in names.enumerated() {
            sample(missed, labels[index], [], Self.digits(series[name]?.missed ?? 0))
        }
        let gauges: [(String, String, KeyPath<JobSeries, Double>)] = [
            ("dcrond_last_start_timestamp_seconds", "Start of the last run on this node (0: none)", \.lastStart),
            (
                "dcrond_last_success_timestamp_seconds", "End of the last successful run on this node (0: none)",
                \.lastSuccess
            ),
            ("dcrond_next_run_timestamp_seconds", "The next planned instant (0: none)", \.next),
        ]
        for (metric, help, path) in gauges {
            family(metric, "gauge", help)
            let bytes = Array(metric.utf8)
            for (index, name) in names.enumerated() {
                sample(bytes, labels[index], [], Self.numberBytes(series[name]?[keyPath: path] ?? 0))
            }
        }
        let histograms: [(String, String, KeyPath<JobSeries, Histogram?>, [Double])] = [
            (
                "dcrond_run_duration_seconds", "Run durations, first attempt's start to last attempt's end", \.duration,
                Self.durationBounds
            ),
            (
                "dcrond_start_lateness_seconds", "From the instant to the start of its run", \.lateness,
                Self.latenessBounds
            ),
        ]
        for (metric, help, path, bounds) in histograms {
            family(metric, "histogram", help)
            let bucket = Array("\(metric)_bucket".utf8)
            let sum = Array("\(metric)_sum".utf8)
            let count = Array("\(metric)_count".utf8)
            let les = bounds.map { Array(",le=\"\(Self.number($0))\"".utf8) } + [Array(",le=\"+Inf\"".utf8)]
            for (index, name) in names.enumerated() {
                guard let histogram = series[name]?[keyPath: path] else { continue }
                for slot in bounds.indices {
                    sample(bucket, labels[index], les[slot], Self.digits(histogram.buckets[slot]))
                }
                sample(bucket, labels[index], les[bounds.count], Self.digits(histogram.count))
                sample(sum, labels[index], [], Self.numberBytes(histogram.sum))
                sample(count, labels[index], [], Self.digits(histogram.count))
            }
        }
        return output
    }

    private static let closeSpace = Array("} ".utf8)

    /// The decimal digits of `value`, without going through a String.
    static func digits(_ value: Int64) -> [UInt8] {
        if value == 0 { return [48] }
        var magnitude = value.magnitude
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20)
        while magnitude > 0 {
            bytes.append(UInt8(48 + magnitude % 10))
            magnitude /= 10
        }
        if value < 0 { bytes.append(45) }
        return bytes.reversed()
    }

    static func numberBytes(_ value: Double) -> [UInt8] {
        value == value.rounded() && abs(value) < 1e15 ? digits(Int64(value)) : Array(String(value).utf8)
    }

    /// A label value in the text format: backslash, quote and newline escaped.
    static func escaped(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var result = ""
        for character in value {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result
    }

    /// `1796149951.001`, `0.005`, `300`: as Prometheus reads them.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

extension DaemonMetrics {
    /// Makes swift-metrics' global factory write into this registry, so that metrics from any
    /// library using swift-metrics are served on `/metrics` too. Once per process (`dcrond run`).
    func bootstrapMetricsSystem() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }
}
