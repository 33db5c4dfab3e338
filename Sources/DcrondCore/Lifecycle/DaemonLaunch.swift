import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Everything `dcrond run` does before its service group runs: logging, the configuration (an
/// invalid one ends the process with EX_CONFIG), the process's environment and limits, the daemon,
/// and the services in their order. The executable puts them in a `ServiceGroup`.
package struct DaemonLaunch: Sendable {
    package let logger: Logger
    /// In shutdown order reversed: the metrics listener (if configured), the reloads, the
    /// scheduler. The group shuts down the scheduler first (its runs finish within
    /// `shutdownGrace`), then the reloads, then the listener, which answers until the end.
    package let services: [ServiceGroupConfiguration.ServiceConfiguration]

    /// The exit status of a configuration that cannot start (EX_CONFIG): the unit does not restart
    /// on it (`RestartPreventExitStatus=`), so an invalid table ends in `failed`, not in a loop.
    static let configurationExitStatus: Int32 = 78

    /// `logLevel` nil: the configuration's `logLevel`, else info.
    package static func prepare(
        config: String,
        logLevel: Logger.Level?,
        logFormat: LogFormat,
        trustedOwners: [String]
    ) async throws(CommandFailure) -> DaemonLaunch {
        // Before the environment is scrubbed: the service manager's variables are read here.
        let serviceManager = ServiceManager()
        let output = LogOutput(format: logFormat, level: logLevel ?? .info)
        LoggingSystem.bootstrap { label in LogOutputHandler(output: output, label: label) }
        let logger = Logger(label: "dcrond")
        ignoreSIGPIPE()
        let loaded: LoadedConfiguration
        do {
            loaded = try ConfigurationLoader.load(configPath: config, trust: fileTrust(trustedOwners), parallel: true)
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
                    await respond(path, daemon)
                }
                logger.info("serving /metrics, /healthz and /readyz", metadata: ["metrics": "\(address)"])
            } catch {
                logger.critical("not starting: \(config): metrics: cannot listen on \(address): \(error)")
                throw CommandFailure(status: 1, messages: [])
            }
        }
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
        return DaemonLaunch(logger: logger, services: services)
    }

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
