import ArgumentParser
import DcrondCore

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the configuration and its jobs file.",
        discussion: "Prints \"ok: N jobs, fingerprint F\" and exits 0, or prints every problem to stderr and exits 1."
    )

    @Option(help: "The daemon configuration.")
    var config = DaemonConfiguration.defaultPath

    func run() throws {
        let loaded = try loadConfiguration(config)
        let count = loaded.table.jobs.count
        print("ok: \(count) job\(count == 1 ? "" : "s"), fingerprint \(loaded.table.fingerprint)")
    }
}

/// Both configuration files, or a failure (exit status 1) listing every problem.
func loadConfiguration(_ path: String) throws -> LoadedConfiguration {
    do {
        return try ConfigurationLoader.load(configPath: path)
    } catch {
        throw CommandFailure(status: 1, messages: error.problems.map(\.description))
    }
}
