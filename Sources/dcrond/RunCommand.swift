import ArgumentParser
import DcrondCore
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the scheduler on this node.",
        discussion: """
            SIGHUP re-reads the configuration and the jobs file (an invalid one is rejected and the \
            running table stays). SIGTERM or SIGINT: leave the pool at once, let running jobs finish \
            within shutdownGrace, terminate the rest, exit 0.
            """
    )

    @Option(help: "The daemon configuration.")
    var config = DaemonConfiguration.defaultPath

    @Option(
        help:
            "Log level: trace, debug, info, notice, warning, error, critical (default: \"logLevel\" of the configuration, else info). Job output is written whatever the level."
    )
    var logLevel: Logger.Level?

    @Option(
        help: "auto (the journal's native protocol when stderr is the journal, else logfmt), journal, logfmt or json."
    )
    var logFormat: LogFormat = .auto

    @OptionGroup var trustOptions: TrustOptions

    /// The exit status of a configuration that cannot start (EX_CONFIG): the unit does not restart
    /// on it (`RestartPreventExitStatus=`), so an invalid table ends in `failed`, not in a loop.
    static let configurationExitStatus: Int32 = 78

    func run() async throws {
        // Before the environment is scrubbed: the service manager's variables are read here.
        let serviceManager = ServiceManager()
        let output = LogOutput(format: logFormat, level: logLevel ?? .info)
        LoggingSystem.bootstrap { label in LogOutputHandler(output: output, label: label) }
        let logger = Logger(label: "dcrond")
        ignoreSIGPIPE()
        let loaded: LoadedConfiguration
        do {
            loaded = try ConfigurationLoader.load(configPath: config, trust: trustOptions.trust, parallel: true)
        } catch {
            for line in error.lines { logger.error("configuration rejected: \(line)") }
            logger.critical(
                "not starting: \(error.count) problem\(error.count == 1 ? "" : "s") in the configuration; fix them (`dcrond check --config \(config)` lists them) and start again"
            )
            throw CommandFailure(status: Self.configurationExitStatus, messages: [])
        }
        output.node = loaded.daemon.node
        if logLevel == nil, let level = loaded.daemon.logLevel { output.level = level }
        ProcessEnvironment.scrub()
        // Stats and user look-ups: here, before the daemon's actor runs, never on it.
        for warning in HostCheck.warnings(loaded) { logger.warning("\(warning)") }
        if let raised = DescriptorLimit.raise(), raised.from != raised.to {
            logger.info(
                "descriptor limit raised for the daemon (jobs keep the original)",
                metadata: ["from": "\(raised.from)", "to": "\(raised.to)"]
            )
        }
        let daemon = Daemon(
            configPath: config,
            loaded: loaded,
            logger: logger,
            output: output,
            serviceManager: serviceManager
        )
        var server: MetricsServer?
        if let address = loaded.daemon.metrics {
            daemon.metrics.bootstrapMetricsSystem()
            do {
                server = try await MetricsServer(host: address.host, port: address.port) { path in
                    await Self.respond(path, daemon)
                }
                logger.info("serving /metrics, /healthz and /readyz", metadata: ["metrics": "\(address)"])
            } catch {
                logger.critical("not starting: \(config): metrics: cannot listen on \(address): \(error)")
                throw CommandFailure(status: 1, messages: [])
            }
        }
        // Shut down in reverse order: the scheduler first (its runs finish within shutdownGrace),
        // then the reloads, then the metrics listener, which answers until the end.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let server { services.append(.init(service: MetricsService(server: server), serviceName: "metrics")) }
        services.append(.init(service: ReloadOnHangup(daemon: daemon, logger: logger), serviceName: "reload"))
        services.append(
            .init(
                service: DaemonService(daemon: daemon),
                successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup,
                serviceName: "scheduler"
            )
        )
        // The group's signal sources take over these from here; ignored, a signal in between does
        // not end the process. Children get the default dispositions back at spawn.
        for number in [SIGTERM, SIGINT, SIGHUP] { signal(number, SIG_IGN) }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch let failure as DaemonFailure {
            throw CommandFailure(status: 1, messages: [failure.message])
        }
    }
}

extension RunCommand {
    /// The metrics listener's answers.
    static func respond(_ path: String, _ daemon: Daemon) async -> MetricsServer.Response {
        switch path {
        case "/metrics":
            await daemon.refreshMetrics()
            return MetricsServer.Response(
                status: .ok,
                contentType: "text/plain; version=0.0.4; charset=utf-8",
                body: daemon.metrics.exposition()
            )
        case "/healthz":
            return daemon.liveness().map { .text(.serviceUnavailable, $0) } ?? .text(.ok, "ok")
        case "/readyz":
            return await daemon.readiness().map { .text(.serviceUnavailable, $0) } ?? .text(.ok, "ready")
        default:
            return .text(.notFound, "not found: /metrics, /healthz and /readyz are served here")
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// The node a `drain` or `resume` is about.
struct NodeTarget: ParsableArguments {
    @Option(help: "The daemon configuration.")
    var config = DaemonConfiguration.defaultPath

    @Argument(help: "The node (default: this node, from the configuration).")
    var node: String?

    @Flag(help: "Set it even for a node that is not in the pool now (it takes effect when the node joins).")
    var force = false

    @Flag(help: "Print JSON.")
    var json = false
}

struct DrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Move a node off the ring: it owns nothing new and finishes what it started.",
        discussion:
            "Sets the node's drain key in Redis; the node takes it up at its next heartbeat. `dcrond resume` undoes it."
    )

    @OptionGroup var target: NodeTarget

    func run() async throws { try await setDrain(true, target) }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Move a drained node back onto the ring."
    )

    @OptionGroup var target: NodeTarget

    func run() async throws { try await setDrain(false, target) }
}

private func setDrain(_ drain: Bool, _ options: NodeTarget) async throws {
    let loaded = try loadConfiguration(options.config, trust: .unchecked)
    guard let endpoint = loaded.daemon.redis else {
        throw CommandFailure(
            status: 1,
            messages: ["\(options.config): no \"redis\": a standalone node has no pool to drain from"]
        )
    }
    let target = options.node ?? loaded.daemon.node
    let key = ClusterKeys(cluster: loaded.daemon.cluster).drain(target)
    let redis = RedisClient(endpoint: endpoint)
    do {
        if !options.force {
            let (_, nodes) = try await ClusterStatus.readNodes(redis: redis, cluster: loaded.daemon.cluster)
            guard nodes.contains(where: { $0.id == target }) else {
                // Resuming a node that is gone still clears its key: nothing is left behind.
                if !drain, try await redis.send(RedisCommand("DEL", key)).orThrow().integer == 1 {
                    print(
                        options.json
                            ? JSONValue.object([
                                "node": .string(target), "draining": .bool(false), "inPool": .bool(false),
                            ]).serialized
                            : "node \(target) is not in the pool; cleared its drain mark"
                    )
                    return
                }
                let known = nodes.map(\.id).joined(separator: ", ")
                throw CommandFailure(
                    status: 1,
                    messages: [
                        "node \(target) is not in the pool of cluster \(loaded.daemon.cluster) (nodes: \(known.isEmpty ? "none" : known)); --force sets it anyway"
                    ]
                )
            }
        }
        let reply = try await redis.send(drain ? RedisCommand("SET", key, "1") : RedisCommand("DEL", key))
        _ = try reply.orThrow()
    } catch let failure as CommandFailure {
        throw failure
    } catch {
        throw CommandFailure(status: 1, messages: ["cannot reach Redis: \(describeRedisError(error))"])
    }
    if options.json {
        print(JSONValue.object(["node": .string(target), "draining": .bool(drain)]).serialized)
    } else {
        print(
            drain
                ? "node \(target) drains at its next heartbeat"
                : "node \(target) returns to the ring at its next heartbeat"
        )
    }
}

extension LogFormat: ExpressibleByArgument {}
