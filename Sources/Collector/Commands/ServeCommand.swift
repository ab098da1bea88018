import ArgumentParser
import Foundation
import Logging
import Prometheus

/// `helpline-collector serve`: runs the server until SIGTERM or SIGINT.
public struct ServeCommand: AsyncParsableCommand {
    /// Command help.
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the collector: enrollment, bundle and heartbeat intake, tickets, technician API, /metrics.",
        discussion: """
            The first start on an empty data directory writes the enrollment secret and the
            admin login to DATA_DIR/first-start-credentials (mode 0600; read it, then delete it)
            and prints `first-start credentials: PATH`. Both are stored only as hashes. Once listening it prints `listening: HOST:PORT`.
            """)

    @OptionGroup var store: StoreOptions

    @Option(help: "HOST:PORT to listen on (default 127.0.0.1:8470; port 0 picks a free port).")
    var listen: String?

    @Option(name: .customLong("public-url"), help: "Base URL for ticket links (default derived from --listen).")
    var publicURL: String?

    @Option(name: .customLong("tls-certificate"), help: "PEM certificate chain; serve HTTPS with --tls-key.")
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-certificate.")
    var tlsKey: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    @Option(name: .long, help: "Folder of extra diagnosis rules (*.yaml, see docs/diagnosis.md); env HELPLINE_COLLECTOR_RULES_DIR.")
    var rulesDir: String?

    @Option(name: .customLong("max-concurrent-uploads"), help: "Uploads processed at once; one more answers 429 (default 8).")
    var maxConcurrentUploads: Int?

    @Option(name: .customLong("min-free-disk-mb"), help: "Free space to keep in the data directory; below it uploads answer 503 (default 1024).")
    var minFreeDiskMB: Int?

    @Option(name: .customLong("retention-days"), help: "Expire bundles older than this (default 30).")
    var retentionDays: Int?

    @Option(name: .customLong("retention-bundles-per-host"), help: "Keep at most this many bundles per host (default 50).")
    var retentionBundlesPerHost: Int?

    @Option(name: .customLong("webhook-url"), help: "Post signed ticket events to this URL (docs/integrations.md); env HELPLINE_COLLECTOR_WEBHOOK_URL.")
    var webhookURL: String?

    @Option(name: .customLong("webhook-secret"), help: "HMAC-SHA256 key of --webhook-url (16+ characters); prefer env HELPLINE_COLLECTOR_WEBHOOK_SECRET or --webhook-secret-file, which ps cannot show.")
    var webhookSecret: String?

    @Option(name: .customLong("webhook-secret-file"), help: "File holding the key of --webhook-url; env HELPLINE_COLLECTOR_WEBHOOK_SECRET_FILE.")
    var webhookSecretFile: String?

    @Option(name: .customLong("limit"), help: "Set any limit: NAME=VALUE (repeatable; see docs/collector.md).")
    var limitAssignments: [String] = []

    @Flag(name: .customLong("check-config"), help: "Check the configuration (file, environment, flags, TLS files, integrations, site rules) and exit: 0 when it would start, 1 with the error. Opens no database, writes nothing.")
    var checkConfig = false

    /// Creates the command (ArgumentParser fills it).
    public init() {}

    /// Validates `--limit` syntax.
    public func validate() throws {
        for a in limitAssignments {
            let parts = a.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, Int(parts[1]) != nil, CollectorLimits.names[String(parts[0])] != nil else {
                throw ValidationError("--limit \(a): expected NAME=NUMBER with NAME one of \(CollectorLimits.names.keys.sorted().joined(separator: ", "))")
            }
        }
        if let level = logLevel, Logger.Level(rawValue: level) == nil {
            throw ValidationError("--log-level \(level): use trace, debug, info, notice, warning, error or critical")
        }
    }

    /// The configuration from defaults, config file, environment and these flags.
    public func resolveConfiguration() throws -> CollectorConfiguration {
        var limits: [String: Int] = [:]
        for a in limitAssignments {
            let parts = a.split(separator: "=", maxSplits: 1)
            limits[String(parts[0])] = Int(parts[1])
        }
        if let v = maxConcurrentUploads { limits["max_concurrent_uploads"] = v }
        if let v = minFreeDiskMB { limits["min_free_disk_mb"] = v }
        if let v = retentionDays { limits["retention_days"] = v }
        if let v = retentionBundlesPerHost { limits["retention_bundles_per_host"] = v }
        var flags = store.flagSettings
        flags.listen = listen
        flags.publicURL = publicURL
        flags.tlsCertificate = tlsCertificate
        flags.tlsKey = tlsKey
        flags.logLevel = logLevel
        flags.rulesDir = rulesDir
        flags.webhookURL = webhookURL
        flags.webhookSecret = webhookSecret
        flags.webhookSecretFile = webhookSecretFile
        flags.limits = limits.isEmpty ? nil : limits
        return try store.resolve(flags: flags)
    }

    /// Runs with the process-wide logging and metrics left as they are (see `HelplineCollector.main`).
    public func run() async throws {
        try await run(configuration: try resolveConfiguration(), metrics: CollectorMetrics())
    }

    /// What `serve` reads from files before it opens the store, read and checked: the TLS
    /// certificate and key, and the site's diagnosis rules (backends' secrets and `ca_file`
    /// were read when the configuration resolved). Touches neither the data directory nor the
    /// database.
    /// - Returns: a summary to print, one setting a line.
    /// - Throws: `ConfigurationError` naming what is wrong.
    static func check(_ configuration: CollectorConfiguration) throws -> String {
        if let tls = configuration.tls { _ = try loadServerTLS(tls) }
        let diagnoser: RuleDiagnoser
        do { diagnoser = try RuleDiagnoser(extraRulesDirectory: configuration.rulesDirectory) } catch {
            throw ConfigurationError("diagnosis rules: \(error)")
        }
        let store = configuration.postgresURL.map(PostgresURL.redact) ?? "sqlite:\(configuration.databasePath)"
        let backends = configuration.integrations.map { "\($0.name) (\($0.kind.rawValue), \($0.trustDescription))" }
        return """
            configuration OK
            listen: \(configuration.host):\(configuration.port)\(configuration.tls == nil ? "" : " (TLS)")
            public URL: \(configuration.publicURL)
            data directory: \(configuration.dataDirectory)
            database: \(store)
            diagnosis rules: \(diagnoser.engine.rules.count)\(configuration.rulesDirectory.map { " (with \($0))" } ?? "")
            integrations: \(backends.isEmpty ? "none" : backends.joined(separator: ", "))
            """
    }

    /// Runs the server until a shutdown signal, then closes the database; with
    /// `--check-config`, only checks the configuration and prints what it found.
    public func run(configuration: CollectorConfiguration, metrics: CollectorMetrics) async throws {
        if checkConfig {
            Console.out(try Self.check(configuration))
            return
        }
        var logger = Logger(label: "helpline.collector")
        logger.logLevel = Logger.Level(rawValue: configuration.logLevel) ?? .info
        Self.raiseOpenFileLimit(for: configuration.limits.maxConnections, logger: logger)
        let store = try await openStore(configuration, logger: logger)
        if let path = try await FirstStartCredentials.issueToFileIfFirstStart(store: store, dataDirectory: configuration.dataDirectory) {
            Console.out("first-start credentials: \(path)")
            logger.notice("first start: the enrollment secret and the admin login are in a file readable only by this user; read it, then delete it",
                          metadata: ["path": "\(path)"])
        }
        logger.info("starting", metadata: ["version": "\(CollectorVersion.version)", "data_dir": "\(configuration.dataDirectory)",
                                            "database": "\(configuration.postgresURL.map(PostgresURL.redact) ?? configuration.databasePath)"])
        let diagnoser: RuleDiagnoser
        do { diagnoser = try RuleDiagnoser(extraRulesDirectory: configuration.rulesDirectory) } catch {
            try? await store.close()
            throw ConfigurationError("diagnosis rules: \(error)")
        }
        logger.info("diagnosis rules loaded", metadata: ["rules": "\(diagnoser.engine.rules.count)"])
        let app = try await buildApplication(
            configuration: configuration,
            dependencies: CollectorDependencies(store: store, diagnoser: diagnoser, metrics: metrics, logger: logger),
            onServerRunning: { port in Console.out("listening: \(configuration.host):\(port)") })
        do {
            try await app.runService()
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
        logger.info("stopped")
    }

    /// Files the collector needs besides its connections (database, WAL, blobs being
    /// written or read, rules, log): kept free under the open-file limit.
    static let reservedFiles: rlim_t = 256

    /// Raises the soft open-file limit (often 1024) towards the hard one so `max_connections`
    /// connections plus the collector's own files fit; otherwise accepting would fail with
    /// EMFILE before `max_connections` is reached. Warns when even the hard limit is too low.
    static func raiseOpenFileLimit(for maxConnections: Int, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = rlim_t(maxConnections) + reservedFiles
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = min(wanted, limit.rlim_max)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        if limit.rlim_cur < wanted {
            logger.warning("the open-file limit is below max_connections plus the collector's own files; lower max_connections or raise LimitNOFILE", metadata: [
                "open_file_limit": "\(limit.rlim_cur)", "max_connections": "\(maxConnections)",
            ])
        }
    }
}
