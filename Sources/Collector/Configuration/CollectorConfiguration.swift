import Foundation
import Yams

/// A configuration mistake, said so that the operator can fix it.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and where.
    public var message: String
    /// Creates the error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// One layer of settings (config file, environment or flags): every field optional, so
/// layers stack with `overlaid(by:)` and the last one that sets a field wins.
public struct CollectorSettings: Sendable, Equatable, Decodable {
    /// `HOST:PORT` to listen on.
    public var listen: String?
    /// Folder for blobs, temp files and the default database.
    public var dataDir: String?
    /// `sqlite:PATH` (or a bare path); default `sqlite:<data-dir>/collector.sqlite`.
    public var database: String?
    /// Base URL for ticket links.
    public var publicURL: String?
    /// PEM certificate chain for TLS.
    public var tlsCertificate: String?
    /// PEM private key for TLS.
    public var tlsKey: String?
    /// `trace`…`critical`.
    public var logLevel: String?
    /// Limit name → value (see `CollectorLimits.names`).
    public var limits: [String: Int]?
    /// Folder of extra diagnosis rules (`*.yaml`).
    public var rulesDir: String?
    /// Ticket backends (docs/integrations.md); a layer that sets the list replaces the lower one's.
    public var integrations: [IntegrationSettings]?
    /// The simple case: a signed webhook named `webhook` posted to this URL.
    public var webhookURL: String?
    /// Signing key of `webhookURL`.
    public var webhookSecret: String?
    /// File holding the signing key of `webhookURL`.
    public var webhookSecretFile: String?

    enum CodingKeys: String, CodingKey {
        case listen, database, limits, integrations
        case dataDir = "data_dir", publicURL = "public_url", tlsCertificate = "tls_certificate", tlsKey = "tls_key"
        case logLevel = "log_level"
        case rulesDir = "rules_dir"
        case webhookURL = "webhook_url", webhookSecret = "webhook_secret", webhookSecretFile = "webhook_secret_file"
    }

    /// An empty layer.
    public init(listen: String? = nil, dataDir: String? = nil, database: String? = nil, publicURL: String? = nil,
                tlsCertificate: String? = nil, tlsKey: String? = nil, logLevel: String? = nil, limits: [String: Int]? = nil,
                rulesDir: String? = nil, integrations: [IntegrationSettings]? = nil, webhookURL: String? = nil,
                webhookSecret: String? = nil, webhookSecretFile: String? = nil) {
        self.listen = listen; self.dataDir = dataDir; self.database = database; self.publicURL = publicURL
        self.tlsCertificate = tlsCertificate; self.tlsKey = tlsKey; self.logLevel = logLevel; self.limits = limits
        self.rulesDir = rulesDir; self.integrations = integrations; self.webhookURL = webhookURL
        self.webhookSecret = webhookSecret; self.webhookSecretFile = webhookSecretFile
    }

    /// This layer with `top`'s fields laid over it.
    public func overlaid(by top: CollectorSettings) -> CollectorSettings {
        var limits = self.limits ?? [:]
        for (k, v) in top.limits ?? [:] { limits[k] = v }
        return CollectorSettings(listen: top.listen ?? listen, dataDir: top.dataDir ?? dataDir, database: top.database ?? database,
                                 publicURL: top.publicURL ?? publicURL, tlsCertificate: top.tlsCertificate ?? tlsCertificate,
                                 tlsKey: top.tlsKey ?? tlsKey, logLevel: top.logLevel ?? logLevel,
                                 limits: limits.isEmpty ? nil : limits, rulesDir: top.rulesDir ?? rulesDir,
                                 integrations: top.integrations ?? integrations, webhookURL: top.webhookURL ?? webhookURL,
                                 webhookSecret: top.webhookSecret ?? webhookSecret, webhookSecretFile: top.webhookSecretFile ?? webhookSecretFile)
    }

    /// Reads a config file: JSON when it ends in `.json`, YAML otherwise (YAML reads JSON too).
    /// - Throws: `ConfigurationError` naming the file and the problem.
    public static func load(file path: String) throws -> CollectorSettings {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigurationError("could not read config file \(path): \(error.localizedDescription)")
        }
        let settings: CollectorSettings
        let tree: Any?
        do {
            if path.hasSuffix(".json") {
                settings = try JSONDecoder().decode(CollectorSettings.self, from: data)
                tree = try JSONSerialization.jsonObject(with: data)
            } else {
                settings = try YAMLDecoder().decode(CollectorSettings.self, from: data)
                tree = try Yams.load(yaml: String(decoding: data, as: UTF8.self))
            }
        } catch {
            throw ConfigurationError("config file \(path) is not valid: \(error); see docs/collector.md for the keys")
        }
        try refuseUnknownKeys(tree, in: path)
        return settings
    }

    /// Decoding skips keys it does not know, so a misspelt one (`tls_certifcate:`) would
    /// quietly leave its setting off (plain HTTP); a key the collector does not read is an
    /// error naming it, at the top level, in an integration and in its filter.
    static func refuseUnknownKeys(_ tree: Any?, in path: String) throws {
        func check<K: CodingKey>(_ object: Any?, _ keys: K.Type, where place: String) throws {
            guard let object = object as? [String: Any] else { return }
            for key in object.keys.sorted() where K(stringValue: key) == nil {
                throw ConfigurationError("config file \(path): unknown key '\(key)'\(place); see docs/collector.md for the keys")
            }
        }
        try check(tree, CodingKeys.self, where: "")
        for (i, integration) in (((tree as? [String: Any])?["integrations"] as? [Any]) ?? []).enumerated() {
            let name = ((integration as? [String: Any])?["name"] as? String).map { " '\($0)'" } ?? ""
            try check(integration, IntegrationSettings.CodingKeys.self, where: " in integration \(i + 1)\(name)")
            try check((integration as? [String: Any])?["filter"], IntegrationFilterSettings.CodingKeys.self, where: " in the filter of integration \(i + 1)\(name)")
        }
    }

    /// The `HELPLINE_COLLECTOR_*` variables of an environment.
    /// - Throws: `ConfigurationError` for a limit that is not a number.
    public static func fromEnvironment(_ env: [String: String]) throws -> CollectorSettings {
        let prefix = "HELPLINE_COLLECTOR_"
        var s = CollectorSettings(listen: env[prefix + "LISTEN"], dataDir: env[prefix + "DATA_DIR"], database: env[prefix + "DATABASE"],
                                  publicURL: env[prefix + "PUBLIC_URL"], tlsCertificate: env[prefix + "TLS_CERTIFICATE"],
                                  tlsKey: env[prefix + "TLS_KEY"], logLevel: env[prefix + "LOG_LEVEL"], rulesDir: env[prefix + "RULES_DIR"],
                                  webhookURL: env[prefix + "WEBHOOK_URL"], webhookSecret: env[prefix + "WEBHOOK_SECRET"],
                                  webhookSecretFile: env[prefix + "WEBHOOK_SECRET_FILE"])
        var limits: [String: Int] = [:]
        for name in CollectorLimits.names.keys {
            guard let text = env[prefix + name.uppercased()] else { continue }
            guard let value = Int(text) else { throw ConfigurationError("\(prefix)\(name.uppercased())=\(text) is not a whole number") }
            limits[name] = value
        }
        s.limits = limits.isEmpty ? nil : limits
        return s
    }
}

/// The resolved configuration of `serve` and `admin`.
public struct CollectorConfiguration: Sendable {
    /// Address to bind.
    public var host: String
    /// Port to bind (0 picks a free one).
    public var port: Int
    /// Data folder (absolute).
    public var dataDirectory: String
    /// SQLite database file (absolute). Unused when `postgresURL` is set.
    public var databasePath: String
    /// The PostgreSQL database (`--database postgres://…`), when the store is PostgreSQL.
    public var postgresURL: String?
    /// Base URL for ticket links, without a trailing slash.
    public var publicURL: String
    /// TLS certificate and key, both or neither.
    public var tls: (certificate: String, key: String)?
    /// Log level name.
    public var logLevel: String
    /// Folder of extra diagnosis rules, if any.
    public var rulesDirectory: String?
    /// Limits in force.
    public var limits: CollectorLimits
    /// Ticket backends, in configuration order (names unique).
    public var integrations: [IntegrationBackend]

    /// Default listen address.
    public static let defaultListen = "127.0.0.1:8470"
    /// Default data folder.
    public static let defaultDataDirectory = "./helpline-data"

    /// Resolves a stack of settings against the defaults.
    /// - Throws: `ConfigurationError` for a malformed address, URL, database or limit.
    /// `environment` is where backends' `*_env` secrets are looked up.
    public init(_ s: CollectorSettings, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let listen = s.listen ?? Self.defaultListen
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError("--listen \(listen) is not HOST:PORT (e.g. 127.0.0.1:8470)")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ConfigurationError("--listen \(listen) has no host; use 0.0.0.0:\(port) to listen on every address") }
        self.host = host
        self.port = port
        dataDirectory = Self.absolute(s.dataDir ?? Self.defaultDataDirectory)
        if let db = s.database {
            if db.hasPrefix("sqlite:") {
                var path = String(db.dropFirst("sqlite:".count))
                if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
                databasePath = Self.absolute(path)
            } else if db.hasPrefix("postgres://") || db.hasPrefix("postgresql://") {
                do { _ = try PostgresURL(db) } catch let error as StoreError { throw ConfigurationError("--database: \(error.message)") }
                postgresURL = db
                databasePath = dataDirectory + "/collector.sqlite"
            } else if db.contains("://") {
                throw ConfigurationError("--database \(PostgresURL.redact(db)): use sqlite:PATH, a file path, or postgres://USER:PASSWORD@HOST:PORT/DATABASE")
            } else {
                databasePath = Self.absolute(db)
            }
        } else {
            databasePath = dataDirectory + "/collector.sqlite"
        }
        switch (s.tlsCertificate, s.tlsKey) {
        case (let c?, let k?): tls = (Self.absolute(c), Self.absolute(k))
        case (nil, nil): tls = nil
        default: throw ConfigurationError("TLS needs both --tls-certificate and --tls-key")
        }
        let scheme = tls == nil ? "http" : "https"
        let shownHost = host.contains(":") ? "[\(host)]" : (host == "0.0.0.0" ? "127.0.0.1" : host)
        var url = s.publicURL ?? "\(scheme)://\(shownHost):\(port)"
        while url.hasSuffix("/") { url.removeLast() }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw ConfigurationError("--public-url \(url) must start with http:// or https://")
        }
        publicURL = url
        logLevel = s.logLevel ?? "info"
        rulesDirectory = s.rulesDir.map(Self.absolute)
        var limits = CollectorLimits()
        for (name, value) in (s.limits ?? [:]).sorted(by: { $0.key < $1.key }) {
            try limits.set(name, value, source: "limits")
        }
        guard limits.maxConcurrentUploads >= 1 else { throw ConfigurationError("limit max_concurrent_uploads must be at least 1") }
        self.limits = limits
        var backends = try (s.integrations ?? []).map { try IntegrationBackend($0, environment: environment, maxCAFileBytes: limits.integrationMaxCAFileBytes) }
        if let webhook = s.webhookURL {
            guard s.webhookSecret == nil || s.webhookSecretFile == nil else {
                throw ConfigurationError("give --webhook-secret or --webhook-secret-file, not both")
            }
            guard s.webhookSecret != nil || s.webhookSecretFile != nil else {
                throw ConfigurationError("--webhook-url needs --webhook-secret or --webhook-secret-file (or HELPLINE_COLLECTOR_WEBHOOK_SECRET) to sign with")
            }
            var simple = IntegrationSettings(name: "webhook", kind: IntegrationKind.webhook.rawValue, url: webhook)
            simple.secret = s.webhookSecret
            simple.secretFile = s.webhookSecretFile
            backends.append(try IntegrationBackend(simple, environment: environment, maxCAFileBytes: limits.integrationMaxCAFileBytes))
        } else if s.webhookSecret != nil || s.webhookSecretFile != nil {
            throw ConfigurationError("--webhook-secret was given without --webhook-url")
        }
        var seen = Set<String>()
        for b in backends where !seen.insert(b.name).inserted {
            throw ConfigurationError("two integrations are named \(b.name); names must be unique (--webhook-url adds one named webhook)")
        }
        // A delivery must finish within its claim, or another worker takes it while it is still
        // in flight and both create: a Jira create is two requests, a GitHub one up to
        // integration_lookup_max_pages + 1.
        for b in backends where b.kind == .jira || b.kind == .github {
            let requests = b.kind == .jira ? 2 : limits.integrationLookupMaxPages + 1
            let longest = requests * limits.integrationRequestTimeoutSeconds
            guard limits.integrationLeaseSeconds > longest else {
                throw ConfigurationError("integration \(b.name): a \(b.kind.rawValue) create can take \(requests) requests of up to "
                    + "integration_request_timeout_seconds (\(limits.integrationRequestTimeoutSeconds) s), \(longest) s in all, but "
                    + "integration_lease_seconds is \(limits.integrationLeaseSeconds): raise the lease above \(longest)"
                    + (b.kind == .github ? " or lower integration_lookup_max_pages" : "") + " or the timeout")
            }
            // The settle wait is a floor on the next attempt, and the backoff's cap would cut it.
            guard limits.integrationBackoffMaxSeconds >= limits.integrationCreateSettleSeconds else {
                throw ConfigurationError("integration \(b.name): integration_backoff_max_seconds (\(limits.integrationBackoffMaxSeconds)) "
                    + "is shorter than integration_create_settle_seconds (\(limits.integrationCreateSettleSeconds)), which a \(b.kind.rawValue) "
                    + "create waits after an unknown outcome; raise the first or lower the second")
            }
        }
        integrations = backends
    }

    /// True when `host` is a loopback address (plain HTTP is fine there).
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    private static func absolute(_ path: String) -> String {
        let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true))
        return url.standardizedFileURL.path
    }
}
