import ArgumentParser
import Foundation
import Logging
import Shared

/// `CollectorVersion.version` is what `--version` prints.
public enum CollectorVersion {
    /// The collector's version, set once for both programs in Shared (`HelplineVersion`).
    public static let version = HelplineVersion.current
}

/// Options every subcommand that opens the store takes: where the data is.
public struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "Config file, JSON or YAML (env HELPLINE_COLLECTOR_CONFIG). Flags win over environment, environment over the file.")
    var config: String?

    @Option(name: .long, help: "Data directory for blobs, temp files and the default database (default ./helpline-data).")
    var dataDir: String?

    @Option(name: .long, help: "Database: sqlite:PATH, a file path (default: collector.sqlite in the data directory), or postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=require&sslrootcert=CA.pem] (env HELPLINE_COLLECTOR_DATABASE keeps the password out of `ps`).")
    var database: String?

    /// Creates empty options (ArgumentParser fills them).
    public init() {}

    /// The settings these flags set.
    var flagSettings: CollectorSettings {
        CollectorSettings(dataDir: dataDir, database: database)
    }

    /// Defaults ← config file ← environment ← `flags`.
    /// - Throws: `ConfigurationError`.
    func resolve(flags: CollectorSettings, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CollectorConfiguration {
        var layers = CollectorSettings()
        if let file = config ?? environment["HELPLINE_COLLECTOR_CONFIG"] {
            layers = layers.overlaid(by: try CollectorSettings.load(file: file))
        }
        layers = layers.overlaid(by: try CollectorSettings.fromEnvironment(environment))
        layers = layers.overlaid(by: flags)
        return try CollectorConfiguration(layers)
    }
}

/// Opens the store of a configuration: creates the data directory and applies migrations.
/// PostgreSQL when `configuration.postgresURL` is set, else the SQLite file.
/// Both folders are made private (`DataDirectory.prepare`) and the database files 0600,
/// whatever the umask (`@main` also sets umask 077 for the whole process; this function does
/// not, so that it changes nothing process-wide); notes about tightened modes go to `logger`.
func openStore(_ configuration: CollectorConfiguration, logger: Logger? = nil) async throws -> any CollectorStore {
    if let note = try DataDirectory.prepare(configuration.dataDirectory) { logger?.notice("\(note)") }
    if let url = configuration.postgresURL {
        let store = try PostgresStore(url: url, maxConnections: configuration.limits.postgresMaxConnections,
                                      tokenCacheCapacity: configuration.limits.hostTokenCacheEntries,
                                      tokenCacheMaxAge: .seconds(configuration.limits.hostTokenCacheSeconds),
                                      logger: PostgresStore.quietLogger)
        do {
            try await store.migrate()
        } catch {
            try? await store.close()
            throw error
        }
        return store
    }
    // A database outside the data directory lives in a folder the admin chose: created
    // private when missing, left as it is otherwise (its files are made 0600 below).
    let dbDir = (configuration.databasePath as NSString).deletingLastPathComponent
    if !dbDir.isEmpty, !FileManager.default.fileExists(atPath: dbDir) {
        do {
            try FileManager.default.createDirectory(atPath: dbDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConfigurationError("could not create the database folder \(dbDir): \(error.localizedDescription)")
        }
    }
    for suffix in ["", "-wal", "-shm"] { DataDirectory.restrictFile(configuration.databasePath + suffix) }
    let store = try SQLiteStore(path: configuration.databasePath,
                                tokenCacheCapacity: configuration.limits.hostTokenCacheEntries,
                                tokenCacheMaxAge: .seconds(configuration.limits.hostTokenCacheSeconds),
                                cacheMiB: configuration.limits.sqliteCacheMiB,
                                checkpointPages: configuration.limits.sqliteCheckpointPages)
    try await store.migrate()
    for suffix in ["", "-wal", "-shm"] { DataDirectory.restrictFile(configuration.databasePath + suffix) }
    return store
}

/// Writes to stdout and stderr through FileHandle (the C globals are not concurrency-safe).
enum Console {
    /// One line on stdout.
    static func out(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// One line on stderr.
    static func err(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Reads one line from stdin (for passwords), without its newline.
    static func readLine() -> String? {
        Swift.readLine(strippingNewline: true)
    }
}

/// Credentials issued by the first start.
public struct FirstStartCredentials: Sendable, Equatable {
    /// The enrollment secret, shown once.
    public var enrollmentSecret: String
    /// The admin's login name.
    public var adminName: String
    /// The admin's password, shown once.
    public var adminPassword: String

    /// The lines of the credentials file, exactly: scripts read them.
    public var lines: [String] {
        ["enrollment secret: \(enrollmentSecret)", "admin login: \(adminName) \(adminPassword)"]
    }

    /// Issues the first credentials when the store has none yet; nil on later starts.
    public static func issueIfFirstStart(store: any CollectorStore, now: Date = Date()) async throws -> FirstStartCredentials? {
        guard try await !store.isInitialized() else { return nil }
        let creds = FirstStartCredentials(enrollmentSecret: Secrets.generate(.enrollmentSecret), adminName: "admin",
                                          adminPassword: Secrets.generatePassword())
        let issued = try await store.initialize(enrollmentSecretHash: Secrets.hash(creds.enrollmentSecret), adminName: creds.adminName,
                                                adminPasswordHash: Secrets.hashPassword(creds.adminPassword), now: now)
        return issued ? creds : nil
    }

    /// On a first start, issues the credentials and writes them to a 0600 file in the data
    /// directory, never to standard output or the log (which a service's journal keeps).
    /// The file is written before the store records them, so a failed write loses nothing.
    /// - Returns: the file's path on a first start, else nil.
    public static func issueToFileIfFirstStart(store: any CollectorStore, dataDirectory: String, now: Date = Date()) async throws -> String? {
        guard try await !store.isInitialized() else { return nil }
        let creds = FirstStartCredentials(enrollmentSecret: Secrets.generate(.enrollmentSecret), adminName: "admin",
                                          adminPassword: Secrets.generatePassword())
        let path = try DataDirectory.writeCredentials(creds.lines, dataDirectory: dataDirectory)
        let issued = try await store.initialize(enrollmentSecretHash: Secrets.hash(creds.enrollmentSecret), adminName: creds.adminName,
                                                adminPasswordHash: Secrets.hashPassword(creds.adminPassword), now: now)
        guard issued else { unlink(path); return nil }
        return path
    }
}
