import ArgumentParser
import Foundation

/// `helpline-collector migrate`: applies the configured store's pending migrations and says
/// which it applied and which were there already (docs/collector.md, "Upgrading").
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the store's pending schema migrations (run once with the new version before starting the new collectors).")

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let configuration = try store.resolve(flags: store.flagSettings)
        do {
            let (applied, already, location) = try await Self.migrate(configuration)
            Console.out("database: \(location)")
            Console.out("already applied: \(already.count)" + (already.last.map { " (last \($0))" } ?? ""))
            if applied.isEmpty {
                Console.out("nothing to apply: the schema is up to date")
            } else {
                for name in applied { Console.out("applied: \(name)") }
            }
        } catch {
            Console.err("helpline-collector migrate: \(TransferCommands.message(error))")
            throw ExitCode(TransferCommands.exitCode(error))
        }
    }

    /// Migrates the store of `configuration`.
    /// - Returns: the migrations this run applied, those applied before, and where the database is.
    static func migrate(_ configuration: CollectorConfiguration) async throws -> (applied: [String], already: [String], location: String) {
        let before: [String]
        if let url = configuration.postgresURL {
            // What was there before; a new database has no migration table yet.
            // Two connections: the token listener holds one for as long as the store is open.
            let probe = try PostgresStore(url: url, maxConnections: 2, logger: PostgresStore.quietLogger)
            do {
                try await probe.reachable(within: .seconds(15))
                before = (try? await probe.appliedMigrations()) ?? []
                try await probe.close()
            } catch {
                try? await probe.close()
                throw error
            }
        } else if FileManager.default.fileExists(atPath: configuration.databasePath) {
            let probe = try SQLiteStore(path: configuration.databasePath, tokenCacheCapacity: 0)
            before = try await probe.appliedMigrations()
            try await probe.close()
        } else {
            before = []
        }
        // openStore applies the pending migrations (PostgreSQL's under an advisory lock, so
        // collectors or migrate runs started together apply each once; SQLite's writer lock
        // does the same for one file).
        let db = try await openStore(configuration)
        let after: [String]
        do { after = try await db.appliedMigrations() } catch { try? await db.close(); throw error }
        try await db.close()
        let location = configuration.postgresURL != nil ? (db as? PostgresStore)?.location ?? "PostgreSQL" : configuration.databasePath
        let done = Set(before)
        return (after.filter { !done.contains($0) }, before, location)
    }
}
