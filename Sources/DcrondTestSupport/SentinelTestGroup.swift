import DcrondCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A real Redis master, its real replicas and three real sentinels (`redis-server --sentinel`) on
/// loopback, for failover tests. Sentinels decide quickly here: `down-after-milliseconds` 1000 and
/// a failover timeout of 5 s, so a killed master is replaced within a few seconds.
package final class SentinelTestGroup: @unchecked Sendable {
    // @unchecked Sendable: servers change only in calls a test makes from one task.
    package let master: RedisTestServer
    package let replicas: [RedisTestServer]
    package let sentinelPorts: [Int]
    private var sentinelPIDs: [pid_t]
    package let directory: String
    /// The name the sentinels monitor the master under.
    package let name = "dcrondtest"
    /// The data nodes' password (`requirepass`, `masterauth`), and the sentinels' own.
    package let password: String?
    package let sentinelPassword: String?

    private init(
        master: RedisTestServer,
        replicas: [RedisTestServer],
        sentinelPorts: [Int],
        sentinelPIDs: [pid_t],
        directory: String,
        password: String?,
        sentinelPassword: String?
    ) {
        self.master = master
        self.replicas = replicas
        self.sentinelPorts = sentinelPorts
        self.sentinelPIDs = sentinelPIDs
        self.directory = directory
        self.password = password
        self.sentinelPassword = sentinelPassword
    }

    /// `redis-cli` for a sentinel, logged in if the sentinels have a password.
    package func sentinelCLI(_ port: Int) -> String {
        "redis-cli -p \(port)" + (sentinelPassword.map { " --no-auth-warning -a '\($0)'" } ?? "")
    }

    /// `redis-cli` for a data node's unix socket.
    package func dataCLI(_ server: RedisTestServer) -> String {
        "redis-cli -s '\(server.socketPath)'" + (password.map { " --no-auth-warning -a '\($0)'" } ?? "")
    }

    /// The address the nodes use.
    package var address: String {
        "redis+sentinel://" + sentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/" + name
    }

    /// Starts the master, `replicas` replicas (each with its extra arguments) and three sentinels
    /// with a quorum of two, and waits until every sentinel knows the replicas and the other two.
    package static func start(
        replicas count: Int,
        replicaArguments: [[String]] = [],
        masterArguments: [String] = [],
        password: String? = nil,
        sentinelPassword: String? = nil
    ) async throws -> SentinelTestGroup {
        let auth = password.map { ["--requirepass", $0, "--masterauth", $0] } ?? []
        let master = try await RedisTestServer.start(masterArguments + auth)
        var replicas: [RedisTestServer] = []
        do {
            for index in 0..<count {
                let extra = index < replicaArguments.count ? replicaArguments[index] : []
                replicas.append(
                    try await RedisTestServer.start(["--replicaof", "127.0.0.1", String(master.port)] + extra + auth)
                )
            }
        } catch {
            for server in [master] + replicas { server.stop() }
            throw error
        }
        let directory = try makeTemporaryDirectory()
        var ports: [Int] = []
        var pids: [pid_t] = []
        for index in 0..<3 {
            let port = try freeLoopbackPort()
            let config = directory + "/sentinel\(index).conf"
            try writeText(
                config,
                """
                port \(port)
                bind 127.0.0.1
                daemonize no
                dir \(directory)
                logfile \(directory)/sentinel\(index).log
                sentinel monitor dcrondtest 127.0.0.1 \(master.port) 2
                sentinel down-after-milliseconds dcrondtest 1000
                sentinel failover-timeout dcrondtest 5000
                sentinel parallel-syncs dcrondtest 2
                \(password.map { "sentinel auth-pass dcrondtest \($0)" } ?? "")
                \(sentinelPassword.map { "requirepass \($0)\nsentinel sentinel-pass \($0)" } ?? "")

                """
            )
            pids.append(try spawnProcess([RedisTestServer.executable!, config, "--sentinel"]))
            ports.append(port)
        }
        let group = SentinelTestGroup(
            master: master,
            replicas: replicas,
            sentinelPorts: ports,
            sentinelPIDs: pids,
            directory: directory,
            password: password,
            sentinelPassword: sentinelPassword
        )
        guard try await waitFor(seconds: 15, { master.onlineReplicas(password: password) == count }) else {
            group.stop()
            throw HarnessError("the replicas did not sync with the master within 15 s")
        }
        for port in ports {
            let ready = try await waitFor(seconds: 20) {
                let replicasKnown = shellOutputBlocking(
                    "\(group.sentinelCLI(port)) SENTINEL replicas dcrondtest | grep -c '^name$' || true"
                )
                let sentinelsKnown = shellOutputBlocking(
                    "\(group.sentinelCLI(port)) SENTINEL sentinels dcrondtest | grep -c '^name$' || true"
                )
                return number(replicasKnown) == count && number(sentinelsKnown) == 2
            }
            guard ready else {
                group.stop()
                throw HarnessError(
                    "sentinel on port \(port) did not find the replicas and the other sentinels within 20 s"
                )
            }
        }
        return group
    }

    /// The master's port as the first sentinel names it now.
    package func masterPort() -> Int? {
        let reply =
            shellOutputBlocking("\(sentinelCLI(sentinelPorts[0])) SENTINEL get-master-addr-by-name \(name)") ?? ""
        return reply.split(separator: "\n").last.flatMap { number(String($0)) }
    }

    /// Waits until every sentinel names a master other than the one on `port`; returns the new port.
    package func waitForFailover(from port: Int, seconds: Double = 30) async throws -> Int {
        var new: Int?
        let done = try await waitFor(seconds: seconds) {
            let named = self.sentinelPorts.map { sentinel in
                (shellOutputBlocking("\(self.sentinelCLI(sentinel)) SENTINEL get-master-addr-by-name \(self.name)")
                    ?? "")
                    .split(separator: "\n").last.flatMap { number(String($0)) }
            }
            guard let first = named.first ?? nil, first != port, named.allSatisfy({ $0 == first }) else { return false }
            new = first
            return true
        }
        guard done, let new else {
            throw HarnessError("the sentinels did not fail over from port \(port) within \(seconds) s")
        }
        return new
    }

    /// Waits until the master on `port` has `replicas` online replicas and every sentinel knows
    /// them as healthy (`flags` exactly `slave`): a failover started earlier can find no good
    /// replica to promote, and then the sentinels wait out `failover-timeout` before trying again.
    ///
    /// Two cores running the daemons and a full resync of each replica can take a while: the wait
    /// is long, and a group that does not settle says what each part saw.
    @discardableResult
    package func waitUntilSettled(masterPort port: Int, replicas: Int, seconds: Double = 60) async throws -> Int {
        // The master the sentinels agree on: under load they may fail over once more on their own
        // (the new master missed their pings), and then the old port is a replica.
        var current = port
        let settled = try await waitFor(seconds: seconds) {
            let named = self.sentinelPorts.map { sentinel in
                (shellOutputBlocking("\(self.sentinelCLI(sentinel)) SENTINEL get-master-addr-by-name \(self.name)")
                    ?? "")
                    .split(separator: "\n").last.flatMap { number(String($0)) }
            }
            guard let first = named.first ?? nil, named.allSatisfy({ $0 == first }) else { return false }
            current = first
            guard let master = self.server(port: first), master.onlineReplicas(password: self.password) >= replicas
            else { return false }
            return self.sentinelPorts.allSatisfy { sentinel in
                self.replicaFlags(seenBy: sentinel).filter { $0 == "slave" }.count >= replicas
            }
        }
        guard settled else {
            let login = password.map { " --no-auth-warning -a '\($0)'" } ?? ""
            let socket = server(port: current)?.socketPath ?? ""
            let info = shellOutputBlocking("redis-cli -s '\(socket)'\(login) INFO replication") ?? ""
            let seen = sentinelPorts.map { "sentinel \($0): \(replicaFlags(seenBy: $0))" }
            throw HarnessError(
                "the group around port \(current) (expected \(port)) did not settle with \(replicas) healthy replicas within \(seconds) s; "
                    + "master: \(info.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("slave") || $0.hasPrefix("role") }); "
                    + seen.joined(separator: "; ")
            )
        }
        return current
    }

    /// The `flags` of every replica that `sentinel` knows of the master.
    private func replicaFlags(seenBy sentinel: Int) -> [String] {
        let reply = shellOutputBlocking("\(sentinelCLI(sentinel)) SENTINEL replicas \(name)") ?? ""
        let lines = reply.split(whereSeparator: \.isNewline).map(String.init)
        return zip(lines, lines.dropFirst()).filter { $0.0 == "flags" }.map(\.1)
    }

    /// The server on `port` among the master and the replicas.
    package func server(port: Int) -> RedisTestServer? {
        ([master] + replicas).first { $0.port == port }
    }

    package func sentinelLog() -> String {
        (0..<3).map { index in
            (try? FileSystem.readFile(directory + "/sentinel\(index).log")).map { String(decoding: $0, as: UTF8.self) }
                ?? ""
        }.joined(separator: "\n---\n")
    }

    package func stop() {
        for pid in sentinelPIDs where pid > 0 {
            _ = kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        sentinelPIDs = []
        for server in [master] + replicas { server.stop() }
        _ = shellOutputBlocking("rm -rf '\(directory)'")
    }
}

/// The integer in a line of redis-cli output.
private func number(_ text: String?) -> Int? {
    text.flatMap { Int(String($0.filter { !$0.isWhitespace })) }
}
