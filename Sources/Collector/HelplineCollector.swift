import ArgumentParser
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus

/// `helpline-collector`: parses the command line, bootstraps logging and metrics (here and
/// nowhere else), and runs the subcommand.
@main
struct HelplineCollector: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "helpline-collector",
        abstract: "The Helpline collector: receives bundles from agents, opens tickets, serves the technician API.",
        version: CollectorVersion.version,
        // Add a subcommand here (one file under Commands/).
        subcommands: [ServeCommand.self, AdminCommand.self, DiagnoseCommand.self, QueryCommand.self, MigrateCommand.self, ExportCommand.self, ImportCommand.self])

    static func main() async {
        // Before any file exists: the data directory, database and blobs are this user's only.
        DataDirectory.restrictFileModes()
        do {
            var command = try parseAsRoot()
            if let serve = command as? ServeCommand {
                // Swift's tasks run on NIO's event loops (the server's own group), not on a
                // second pool of threads: a request's task no longer hops from the loop that
                // read it to the cooperative pool and back to write the answer. Heavy
                // synchronous work keeps threads of its own (`IngestExecutor`: uploads,
                // bcrypt). Before any task starts, on the main thread, once.
                NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
                let configuration = try serve.resolveConfiguration()
                let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
                LoggingSystem.bootstrap { label in CollectorLogHandler(label: label, level: level) }
                let registry = PrometheusCollectorRegistry()
                MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
                try await serve.run(configuration: configuration, metrics: CollectorMetrics(registry: registry))
                return
            }
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = .warning
                return handler
            }
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
