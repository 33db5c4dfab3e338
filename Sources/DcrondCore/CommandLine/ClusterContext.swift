import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The configuration, the job named on the command line, and a connection to the pool's Redis:
/// what `trigger`, `pause`, `unpause`, `kill` and `history` share.
struct ClusterContext {
    let loaded: LoadedConfiguration
    let redis: RedisClient
    let keys: ClusterKeys

    /// `what` names the command for the standalone message ("a manual run", ...).
    init(config: String, what: String) throws(CommandFailure) {
        loaded = try loadConfiguration(config, trust: .unchecked)
        guard let endpoint = loaded.daemon.redis else {
            throw CommandFailure(
                status: 1,
                messages: [
                    "\(config): no \"redis\": standalone mode keeps no shared state, so \(what) cannot reach the daemon; configure \"redis\" to use it"
                ]
            )
        }
        var options = RedisConnectionOptions()
        options.connectTimeout = .seconds(2)
        options.clientName = "dcrond-cli"
        redis = RedisClient(
            endpoint: endpoint,
            options: options,
            logger: Logger(label: "dcrond.cli", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        keys = ClusterKeys(cluster: loaded.daemon.cluster)
    }

    /// The job, or an error naming the jobs file.
    func job(_ name: String) throws(CommandFailure) -> JobDefinition {
        guard let job = loaded.table.job(named: name) else {
            throw CommandFailure(status: 1, messages: ["no job named \"\(name)\" in \(loaded.table.path)"])
        }
        return job
    }

    /// Wraps a Redis failure into the command's error.
    func reaching<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(status: 1, messages: ["cannot reach Redis: \(describeRedisError(error))"])
        }
    }

    /// `operator@host`: who asked, as recorded.
    static var who: String {
        let name = Accounts.user(String(geteuid()))?.name ?? String(geteuid())
        let sudo = getenv("SUDO_USER").map { String(cString: $0) }
        return "\(sudo.map { "\($0) (as \(name))" } ?? name)@\(Accounts.hostName())"
    }
}
