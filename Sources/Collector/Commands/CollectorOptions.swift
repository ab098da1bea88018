import ArgumentParser
import Foundation
import Logging

/// `CollectorVersion.version` is what `--version` prints.
public enum CollectorVersion {
    /// The collector's version.
    public static let version = "0.1.0"
}

/// Options every subcommand that opens the store takes: where the data is.
public struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "Config file, JSON or YAML (env HELPLINE_COLLECTOR_CONFIG). Flags win over environment, environment over the file.")
    var config: String?

    @Option(name: .long, help: "Data directory for blobs, temp files and the default database (default ./helpline-data).")
    var dataDir: String?

    @Option(name: .long, help: "Database: sqlite:PATH or a file path (default: collector.sqlite in the data directory).")
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
func openStore(_ configuration: CollectorConfiguration) async throws -> SQLiteStore {
    do {
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let dbDir = (configuration.databasePath as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dbDir, withIntermediateDirectories: true)
    } catch {
        throw ConfigurationError("could not create the data directory \(configuration.dataDirectory): \(error.localizedDescription)")
    }
    let store = try SQLiteStore(path: configuration.databasePath,
                                tokenCacheCapacity: configuration.limits.hostTokenCacheEntries,
                                tokenCacheMaxAge: .seconds(configuration.limits.hostTokenCacheSeconds))
    try await store.migrate()
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

    /// The lines `serve` prints, exactly: scripts read them.
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
}
