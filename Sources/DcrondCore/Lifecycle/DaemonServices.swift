import Logging
import ServiceLifecycle
import UnixSignals

/// The scheduler as a `Service`: it runs until the group's graceful shutdown (SIGTERM, SIGINT),
/// which lets running jobs finish within `shutdownGrace`, or until the daemon fails on its own
/// (a second process took the node id), which it reports by throwing ``DaemonFailure``.
struct DaemonService: Service {
    let daemon: Daemon

    init(daemon: Daemon) { self.daemon = daemon }

    func run() async throws {
        await withGracefulShutdownHandler {
            await daemon.run()
            // run() returns once the shutdown has begun; the service ends when it is done.
            await daemon.shutdown()
        } onGracefulShutdown: {
            daemon.requestShutdown()
        }
        if let failure = await daemon.failure { throw DaemonFailure(message: failure) }
    }
}

/// The daemon stopped on its own because it cannot go on; the message says why.
package struct DaemonFailure: Error, CustomStringConvertible {
    package let message: String
    package var description: String { message }
}

/// SIGHUP reloads both files, one reload per signal, in order, until the group shuts down.
struct ReloadOnHangup: Service {
    let daemon: Daemon
    let logger: Logger

    init(daemon: Daemon, logger: Logger) {
        self.daemon = daemon
        self.logger = logger
    }

    func run() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.info("SIGHUP: reloading")
            await daemon.reload()
        }
    }
}

/// `/metrics`, `/healthz` and `/readyz` for as long as the group runs: placed before the daemon in
/// the group, it is shut down after it, so a stopping node still answers.
struct MetricsService: Service {
    let server: MetricsServer

    init(server: MetricsServer) { self.server = server }

    func run() async {
        try? await gracefulShutdown()
        await server.shutdown()
    }
}
