import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Shared

/// `CollectorStore` on PostgreSQL, for several collectors sharing one database
/// (`--database postgres://…`).
///
/// The same schema and constraints as `SQLiteStore`, in PostgreSQL's dialect
/// (`PostgresStore+Schema.swift`). Connections come from a `PostgresClient` pool that
/// `init` starts and `close` stops.
///
/// Concurrency: SQLite has one writer, so its read-then-write transactions (ticket
/// numbering, joining a repeat, opening an incident, using the last use of a secret) cannot
/// interleave. Here `write` takes one transaction-scoped advisory lock (`writerLock`) first,
/// so those transactions run one at a time across every collector on the database, with the
/// same outcome as on SQLite. Writes that touch only their own rows and are safe under READ
/// COMMITTED (heartbeats, sessions) use `write(exclusive: false)`.
public final class PostgresStore: CollectorStore {
    /// The pool.
    let client: PostgresClient
    /// Runs `client.run()` until `close`.
    private let runner: Task<Void, Never>
    /// Listens for host-token changes made through any collector (`listenForTokenChanges`).
    private let listener: Task<Void, Never>
    let logger: Logger
    /// Where the database is, without its password (for messages).
    public let location: String
    /// Host tokens already looked up. Whatever changes or deletes `hosts.token_hash` must
    /// call `tokenCache.invalidate(hostID:)` after it commits.
    let tokenCache: HostTokenCache

    /// The advisory lock every exclusive write transaction takes (an arbitrary constant,
    /// "HELPLINE" in ASCII).
    static let writerLock: Int64 = 0x48454C504C494E45
    /// The advisory lock `migrate` takes, so two collectors starting at once migrate once.
    static let migrationLock: Int64 = 0x48454C504D494752

    /// Connects lazily to the database `url` names. Call `migrate()` before use.
    /// - Parameters:
    ///   - url: `postgres://user:password@host:port/database?sslmode=…` or
    ///     `postgres:///database?host=/run/postgresql` (a Unix socket). `sslmode` is
    ///     `disable`, `prefer` (the default over TCP) or `require`; `sslrootcert=PATH` names
    ///     the CA file that `require` verifies the server against.
    ///   - maxConnections: most connections this collector holds, at least 2 (the listener
    ///     for host-token changes holds one).
    ///   - tokenCacheCapacity, tokenCacheMaxAge: as for `SQLiteStore`.
    /// - Throws: `StoreError.unavailable` when the URL cannot be used.
    public init(url: String, maxConnections: Int = 16, tokenCacheCapacity: Int = 100_000,
                tokenCacheMaxAge: Duration = .seconds(60), logger: Logger = PostgresStore.quietLogger) throws {
        let parsed = try PostgresURL(url)
        location = parsed.redacted
        self.logger = logger
        let tokenCache = HostTokenCache(capacity: tokenCacheCapacity, maxAge: tokenCacheMaxAge)
        // Nothing is cached until the listener hears changes.
        tokenCache.suspend()
        self.tokenCache = tokenCache
        var configuration = try parsed.configuration()
        configuration.options.maximumConnections = max(2, maxConnections)
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(10)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
        listener = Task { await Self.listenForTokenChanges(client: client, cache: tokenCache, logger: logger) }
    }

    deinit { runner.cancel(); listener.cancel() }

    /// The channel the `hosts` triggers notify with a host id when its token is replaced,
    /// revoked or deleted (schema `pg1_schema`).
    static let tokenChannel = "helpline_host_tokens"

    /// Holds one connection that LISTENs on `tokenChannel` and drops the cached token of every
    /// host named, so a token replaced or revoked through any collector is refused by all at
    /// once. While the connection is down the cache is suspended (every lookup reads the
    /// database); it resumes, empty, once LISTEN is in force again.
    private static func listenForTokenChanges(client: PostgresClient, cache: HostTokenCache, logger: Logger) async {
        var delay: Duration = .milliseconds(100)
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    let notifications = try await connection.listen(tokenChannel)
                    cache.resume()
                    delay = .milliseconds(100)
                    for try await notification in notifications {
                        cache.invalidate(hostID: notification.payload)
                    }
                }
            } catch {
                if !Task.isCancelled {
                    logger.warning("host-token change listener stopped; tokens are read from the database until it is back",
                                   metadata: ["error": "\(error)"])
                }
            }
            cache.suspend()
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
    }

    /// PostgresNIO logs every failed connection attempt at info; warnings and worse only.
    public static var quietLogger: Logger {
        var logger = Logger(label: "helpline.postgres")
        logger.logLevel = .warning
        return logger
    }

    public func close() async throws {
        listener.cancel()
        _ = await listener.value
        runner.cancel()
        _ = await runner.value
    }

    /// Holds a session-level advisory lock named after the job on one connection while `body`
    /// runs (on other connections); a collector that cannot take it at once skips the pass.
    public func runExclusively(_ name: String, _ body: @Sendable () async throws -> Void) async throws -> Bool {
        let key = Self.lockKey(name)
        // The body's own error (cancellation, a failed pass) comes out as it was thrown.
        var failure: (any Error)?
        let ran: Bool = try await wrap {
            try await client.withConnection { connection in
                let c = PGConnection(connection: connection, logger: logger)
                guard let row = try await c.one("SELECT pg_try_advisory_lock(\(key)) AS locked"), try row["locked"] as Bool else { return false }
                do { try await body() } catch { failure = error }
                do {
                    _ = try await c.one("SELECT pg_advisory_unlock(\(key)) AS unlocked")
                } catch {
                    // A session lock left on a pooled connection would stop the job everywhere:
                    // closing the connection releases it.
                    try? await connection.close()
                }
                return true
            }
        }
        if let failure { throw failure }
        return ran
    }

    /// A job's advisory-lock key: FNV-1a of its name, kept apart from `writerLock` and
    /// `migrationLock`.
    static func lockKey(_ name: String) -> Int64 {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in ("helpline-job:" + name).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        return Int64(bitPattern: hash)
    }

    public func ping() async throws {
        _ = try await read { c in try await c.one("SELECT 1 AS one") }
    }

    // MARK: Plumbing

    /// Runs `body` in a transaction. Exclusive writes (the default) first take `writerLock`,
    /// so they run one at a time across every collector, as on SQLite.
    func write<T: Sendable>(exclusive: Bool = true, _ body: (PGConnection) async throws -> T) async throws -> T {
        try await wrap {
            try await client.withConnection { connection in
                let c = PGConnection(connection: connection, logger: logger)
                try await c.execute("BEGIN")
                do {
                    if exclusive { try await c.execute("SELECT pg_advisory_xact_lock(\(Self.writerLock))") }
                    let result = try await body(c)
                    try await c.execute("COMMIT")
                    return result
                } catch {
                    try? await c.execute("ROLLBACK")
                    throw error
                }
            }
        }
    }

    /// Runs `body` in a read-only transaction: one snapshot for all its statements.
    func read<T: Sendable>(_ body: (PGConnection) async throws -> T) async throws -> T {
        try await wrap {
            try await client.withConnection { connection in
                let c = PGConnection(connection: connection, logger: logger)
                try await c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                do {
                    let result = try await body(c)
                    try await c.execute("COMMIT")
                    return result
                } catch {
                    try? await c.execute("ROLLBACK")
                    throw error
                }
            }
        }
    }

    /// Turns database failures into `StoreError` so callers never see PostgresNIO types;
    /// keeps `StoreError` and unique violations (`PGConnection.isUniqueViolation`), which
    /// callers that expect them turn into their own messages, as they are.
    func wrap<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StoreError {
            throw error
        } catch let error as PSQLError {
            if PGConnection.isUniqueViolation(error) { throw error }
            throw StoreError(.unavailable, "PostgreSQL database \(location): \(PGConnection.describe(error))")
        } catch {
            // The pool's own errors (the server is unreachable, the pool is closed).
            throw StoreError(.unavailable, "PostgreSQL database \(location): \(error); check that the server is running and the URL is right")
        }
    }

    /// Appends an outbox row in the caller's transaction: the event exists exactly when the
    /// change it reports was committed (as `SQLiteStore.recordEvent`).
    static func recordEvent(_ c: PGConnection, _ kind: IntegrationEventKind, ticketID: Int64? = nil, incidentID: Int64? = nil,
                            commentID: Int64? = nil, bundleID: String? = nil, origin: String? = nil, detail: String? = nil,
                            now: Date) async throws {
        try await c.execute("""
            INSERT INTO integration_events (event_uuid, kind, ticket_id, incident_id, comment_id, bundle_id, origin, detail, created_at)
            VALUES (\(UUID().uuidString.lowercased()), \(kind.rawValue), \(ticketID), \(incidentID), \(commentID), \(bundleID), \(origin),
                    \(text(detail.map { String($0.prefix(2000)) })), \(now))
            """)
    }

    /// Sets a ticket's status and its resolved time (shared by `updateTicket` and inbound changes).
    static func setStatus(_ c: PGConnection, ticketID: Int64, _ status: TicketStatus, now: Date) async throws {
        let resolved: Date? = (status == .resolved || status == .closed) ? now : nil
        try await c.execute("UPDATE tickets SET status = \(status.rawValue), updated_at = \(now), resolved_at = \(resolved) WHERE id = \(ticketID)")
    }

    static func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try BundleJSON.encoder().encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String, what: String) throws -> T {
        do { return try BundleJSON.decoder().decode(type, from: Data(text.utf8)) } catch {
            throw StoreError(.corrupt, "could not read the stored \(what): \(error)")
        }
    }

    /// PostgreSQL's `text` cannot hold NUL; SQLite's can. Text from agents (journal
    /// messages, command lines, unit names) goes through this before it is bound.
    static func text(_ s: String) -> String {
        s.utf8.contains(0) ? s.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : s
    }

    /// `text` for an optional.
    static func text(_ s: String?) -> String? { s.map { text($0) } }
}

/// One connection inside a `PostgresStore` transaction. Not to be kept after the closure
/// that received it returns.
struct PGConnection {
    let connection: PostgresConnection
    let logger: Logger

    /// Runs a statement for its effect.
    func execute(_ query: PostgresQuery) async throws {
        try await connection.query(query, logger: logger).collect()
    }

    /// Runs a statement and counts the rows it returned: write `… RETURNING 1` to count the
    /// rows an UPDATE, INSERT or DELETE changed (PostgresNIO's async API has no changes count).
    func count(_ query: PostgresQuery) async throws -> Int {
        var n = 0
        for try await _ in try await connection.query(query, logger: logger) { n += 1 }
        return n
    }

    /// Every row.
    func all(_ query: PostgresQuery) async throws -> [PGRow] {
        try await connection.query(query, logger: logger).collect().map(PGRow.init)
    }

    /// The first row, or nil.
    func one(_ query: PostgresQuery) async throws -> PGRow? {
        try await all(query).first
    }

    /// A unique constraint said no (SQLSTATE 23505).
    static func isUniqueViolation(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return false }
        return error.serverInfo?[.sqlState] == "23505"
    }

    /// The server's message and SQLSTATE, or the client's error.
    static func describe(_ error: PSQLError) -> String {
        if let info = error.serverInfo, let message = info[.message] {
            return "\(message) (SQLSTATE \(info[.sqlState] ?? "?"))"
        }
        return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
    }
}

/// A row read by name, like GRDB's `Row`: `let id: Int64 = try row["id"]`.
struct PGRow {
    let cells: PostgresRandomAccessRow

    init(_ row: PostgresRow) { cells = row.makeRandomAccess() }

    /// The column `name` decoded as `T` (an optional `T` reads NULL as nil).
    subscript<T: PostgresDecodable>(_ name: String) -> T {
        get throws {
            do { return try cells[name].decode(T.self) } catch {
                throw StoreError(.corrupt, "could not read column \(name) as \(T.self): \(error)")
            }
        }
    }

    /// Whether the row has a column `name`.
    func has(_ name: String) -> Bool { cells.contains(name) }
}

/// A `postgres://` URL taken apart.
struct PostgresURL {
    var host: String?
    var port: Int
    var socketPath: String?
    var user: String
    var password: String?
    var database: String?
    enum TLSMode: String { case disable, prefer, require }
    var tls: TLSMode
    var rootCertificate: String?

    /// - Throws: `StoreError.unavailable` naming what is wrong.
    init(_ url: String) throws {
        func bad(_ why: String) -> StoreError {
            StoreError(.unavailable, "database URL \(PostgresURL.redact(url)): \(why); write postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=disable|prefer|require&sslrootcert=PATH]")
        }
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), ["postgres", "postgresql"].contains(scheme) else {
            throw bad("not a postgres:// URL")
        }
        let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        for key in query.keys where !["sslmode", "sslrootcert", "host"].contains(key) {
            throw bad("unknown parameter \(key)")
        }
        if let h = query["host"], h.hasPrefix("/") {
            socketPath = h + "/.s.PGSQL.\(c.port ?? 5432)"
        } else if let h = c.host, !h.isEmpty {
            host = h
        } else {
            throw bad("no host (write HOST, or ?host=/run/postgresql for a Unix socket)")
        }
        port = c.port ?? 5432
        guard (1...65535).contains(port) else { throw bad("port \(port) is out of range") }
        user = c.user.flatMap { $0.removingPercentEncoding } ?? NSUserName()
        password = c.password.flatMap { $0.removingPercentEncoding }
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        database = path.isEmpty ? nil : path.removingPercentEncoding
        let mode = query["sslmode"] ?? (socketPath == nil ? "prefer" : "disable")
        guard let tls = TLSMode(rawValue: mode) else { throw bad("sslmode \(mode) is not disable, prefer or require") }
        self.tls = tls
        rootCertificate = query["sslrootcert"]
        if rootCertificate != nil, tls != .require { throw bad("sslrootcert needs sslmode=require") }
    }

    /// The URL with its password replaced by `***`.
    var redacted: String {
        let target = socketPath.map { "socket \($0)" } ?? "\(host ?? "?"):\(port)"
        return "postgres://\(user)@\(target)/\(database ?? "")"
    }

    static func redact(_ url: String) -> String {
        guard var c = URLComponents(string: url) else { return "(unreadable URL)" }
        if c.password != nil { c.password = "***" }
        return c.string ?? "(unreadable URL)"
    }

    /// PostgresNIO's configuration.
    func configuration() throws -> PostgresClient.Configuration {
        if let socketPath {
            return PostgresClient.Configuration(unixSocketPath: socketPath, username: user, password: password, database: database)
        }
        var tlsConfig = TLSConfiguration.makeClientConfiguration()
        let tlsSetting: PostgresClient.Configuration.TLS
        switch tls {
        case .disable: tlsSetting = .disable
        case .prefer:
            // Encrypts when the server offers it; cannot verify whom it talks to.
            tlsConfig.certificateVerification = .none
            tlsSetting = .prefer(tlsConfig)
        case .require:
            if let rootCertificate {
                do {
                    tlsConfig.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(rootCertificate))
                } catch {
                    throw StoreError(.unavailable, "could not read the database CA file \(rootCertificate): \(error)")
                }
            }
            tlsSetting = .require(tlsConfig)
        }
        return PostgresClient.Configuration(host: host ?? "localhost", port: port, username: user, password: password,
                                            database: database, tls: tlsSetting)
    }
}
