import Foundation
import GRDB
import Shared

/// `CollectorStore` on one SQLite file: WAL, foreign keys on, constraints in the schema,
/// every statement with bound arguments.
///
/// A `DatabasePool` gives one writer and several concurrent readers. `synchronous = FULL`
/// makes each commit durable before the collector answers, so a receipt is never given for
/// a row a power cut could lose.
///
/// Statements on the agents' hot path (host-token lookup, heartbeat writes) are GRDB cached
/// statements: preparing one costs more than running it (GRDB's authorizer walks every
/// column), and each connection keeps its own prepared copy. Host-token lookups are also
/// answered from `HostTokenCache`, and a miss reads on a connection of its own on the
/// calling thread (`tokenReader`).
public final class SQLiteStore: CollectorStore, BlockingHeartbeatWriter {
    private let pool: DatabasePool
    /// A read-only connection for host-token lookups only, read on the caller's thread: the
    /// pool's async read hands the one-row query to a reader thread and back, which cost
    /// more than the query. That is the usual case, not the exception: agents send a
    /// heartbeat every 15 minutes and a cached token lives a minute. Only this one-row
    /// read runs on it, so a caller never waits behind a long read (web pages and fleet
    /// queries use the pool). `nil` when it could not be opened: the pool answers instead.
    private let tokenReader: DatabaseQueue?
    /// Host tokens already looked up. Whatever changes or deletes `hosts.token_hash` must
    /// call `tokenCache.invalidate(hostID:)` after it commits.
    let tokenCache: HostTokenCache
    /// The database file.
    public let path: String

    /// Opens (creating if needed) the database at `path`. Call `migrate()` before use.
    /// - Parameters:
    ///   - tokenCacheCapacity: most host tokens kept in memory (0 turns the cache off).
    ///   - tokenCacheMaxAge: longest a cached host token lives; bounds how long a token that
    ///     another process sharing this file replaced keeps working here (this process's own
    ///     re-enrollments take effect at once).
    ///   - cacheMiB: page cache of the writing connection (readers keep SQLite's 2 MiB).
    ///   - checkpointPages: WAL pages between automatic checkpoints, and the size the log is
    ///     cut back to afterwards.
    /// - Throws: `StoreError.unavailable` when the file cannot be opened.
    public init(path: String, tokenCacheCapacity: Int = 100_000, tokenCacheMaxAge: Duration = .seconds(60),
                cacheMiB: Int = 32, checkpointPages: Int = 16000) throws {
        self.path = path
        tokenCache = HostTokenCache(capacity: tokenCacheCapacity, maxAge: tokenCacheMaxAge)
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.journalMode = .wal
        config.busyMode = .timeout(10)
        config.label = "helpline-collector"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            if !db.configuration.readonly {
                // Heartbeats from many hosts touch pages all over the host tables: a larger
                // cache for the writer and fewer checkpoints cut the reads, writes and syncs
                // that dominated the heartbeat profile once JSON stopped dominating it.
                try db.execute(sql: "PRAGMA cache_size = -\(max(1, cacheMiB) * 1024)")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(max(1, checkpointPages))")
                try db.execute(sql: "PRAGMA journal_size_limit = \(max(1, checkpointPages) * 4096)")
            }
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw StoreError(.unavailable, "could not open the SQLite database \(path): \(error); check the path and its permissions")
        }
        var readerConfig = config
        readerConfig.readonly = true
        readerConfig.journalMode = .default  // the pool's writer has set WAL; a reader cannot
        readerConfig.label = "helpline-collector.host-tokens"
        tokenReader = try? DatabaseQueue(path: path, configuration: readerConfig)
    }

    public func migrate() async throws {
        try await wrap { try Self.migrator.migrate(self.pool) }
    }

    public func appliedMigrations() async throws -> [String] {
        try await wrap { try self.pool.read { db in try Self.migrator.appliedMigrations(db) } }
    }

    /// The writing connection's `cache_size`, `wal_autocheckpoint` and `journal_size_limit`.
    func writerPragmas() async throws -> (cacheSize: Int, checkpoint: Int, journalSizeLimit: Int) {
        try await wrap {
            try await self.pool.write { db in
                (try Int.fetchOne(db, sql: "PRAGMA cache_size") ?? 0, try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") ?? 0,
                 try Int.fetchOne(db, sql: "PRAGMA journal_size_limit") ?? 0)
            }
        }
    }

    public func ping() async throws {
        _ = try await read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    /// Whether host-token lookups read on the store's own token connection (else the pool).
    var readsTokensOnItsOwnConnection: Bool { tokenReader != nil }

    public func close() async throws {
        try tokenReader?.close()
        try pool.close()
    }

    public func runExclusively(_ name: String, _ body: @Sendable () async throws -> Void) async throws -> Bool {
        try await body()
        return true
    }

    // MARK: First start

    public func isInitialized() async throws -> Bool {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT value FROM collector_state WHERE key = 'initialized_at'") != nil
        }
    }

    public func initialize(enrollmentSecretHash: String, adminName: String, adminPasswordHash: String, now: Date) async throws -> Bool {
        try await write { db in
            if try String.fetchOne(db, sql: "SELECT value FROM collector_state WHERE key = 'initialized_at'") != nil {
                return false
            }
            try db.execute(sql: "INSERT INTO collector_state (key, value) VALUES ('initialized_at', ?)",
                           arguments: [ISO8601DateFormatter().string(from: now)])
            try db.execute(sql: "INSERT INTO enrollment_secrets (secret_hash, label, created_at) VALUES (?, 'first start', ?)",
                           arguments: [enrollmentSecretHash, now])
            try db.execute(sql: """
                INSERT INTO users (name, role, password_hash, created_at, updated_at, must_change_password) VALUES (?, 'admin', ?, ?, ?, 1)
                ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, role = 'admin', updated_at = excluded.updated_at
                """, arguments: [adminName, adminPasswordHash, now, now])
            return true
        }
    }

    // MARK: Enrollment secrets

    private static let secretColumns = "id, label, created_at, expires_at, revoked_at, use_count, last_used_at, max_uses"

    private static func secret(_ row: Row) -> EnrollmentSecretRecord {
        EnrollmentSecretRecord(id: row["id"], label: row["label"], createdAt: row["created_at"], expiresAt: row["expires_at"],
                               revokedAt: row["revoked_at"], useCount: row["use_count"], lastUsedAt: row["last_used_at"],
                               maxUses: row["max_uses"])
    }

    public func createEnrollmentSecret(hash: String, label: String?, expiresAt: Date?, maxUses: Int?, now: Date) async throws -> EnrollmentSecretRecord {
        try await write { db in
            try db.execute(sql: "INSERT INTO enrollment_secrets (secret_hash, label, created_at, expires_at, max_uses) VALUES (?, ?, ?, ?, ?)",
                           arguments: [hash, label, now, expiresAt, maxUses])
            let row = try Row.fetchOne(db, sql: "SELECT \(Self.secretColumns) FROM enrollment_secrets WHERE id = ?",
                                       arguments: [db.lastInsertedRowID])
            return Self.secret(row!)
        }
    }

    public func enrollmentSecrets() async throws -> [EnrollmentSecretRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.secretColumns) FROM enrollment_secrets ORDER BY id DESC").map(Self.secret)
        }
    }

    public func revokeEnrollmentSecret(id: Int64, now: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "UPDATE enrollment_secrets SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [now, id])
            return db.changesCount > 0
        }
    }

    public func enrollmentSecret(hash: String) async throws -> EnrollmentSecretRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.secretColumns) FROM enrollment_secrets WHERE secret_hash = ?",
                             arguments: [hash]).map(Self.secret)
        }
    }

    // MARK: Hosts

    private static let hostColumns = "id, machine_id, hostname, agent_version, enrolled_at, last_seen_at, revoked_at"
    /// `hostColumns` of `hosts h` plus its pending re-enrollment (`LEFT JOIN pending_enrollments p`).
    private static let hostDetailColumns = """
        h.id, h.machine_id, h.hostname, h.agent_version, h.enrolled_at, h.last_seen_at, h.revoked_at,
        p.hostname AS p_hostname, p.agent_version AS p_agent_version, p.key_hash AS p_key_hash,
        p.requested_at AS p_requested_at, p.approved_at AS p_approved_at, p.approved_by AS p_approved_by
        """

    private static func host(_ row: Row) -> HostRecord {
        var host = HostRecord(id: row["id"], machineID: row["machine_id"], hostname: row["hostname"], agentVersion: row["agent_version"],
                              enrolledAt: row["enrolled_at"], lastSeenAt: row["last_seen_at"], revokedAt: row["revoked_at"])
        if row.hasColumn("p_key_hash"), let keyHash = row["p_key_hash"] as String? {
            host.pendingEnrollment = PendingEnrollment(hostname: row["p_hostname"], agentVersion: row["p_agent_version"],
                                                       keyFingerprint: String(keyHash.prefix(12)), requestedAt: row["p_requested_at"],
                                                       approvedAt: row["p_approved_at"], approvedBy: row["p_approved_by"])
        }
        return host
    }

    public func enroll(_ e: EnrollmentRequest, now: Date) async throws -> EnrollmentOutcome {
        let outcome = try await write { db -> EnrollmentOutcome in
            // Counted only when a token is issued, and checked in this transaction so two
            // enrollments cannot both take the last use.
            func useSecret() throws -> Bool {
                try db.execute(sql: """
                    UPDATE enrollment_secrets SET use_count = use_count + 1, last_used_at = ?
                    WHERE id = ? AND (max_uses IS NULL OR use_count < max_uses)
                    """, arguments: [now, e.secretID])
                return db.changesCount == 1
            }
            func fetch(_ id: String) throws -> HostRecord {
                Self.host(try Row.fetchOne(db, sql: "SELECT \(Self.hostColumns) FROM hosts WHERE id = ?", arguments: [id])!)
            }
            guard let row = try Row.fetchOne(db, sql: "SELECT id, token_hash, revoked_at FROM hosts WHERE machine_id = ?",
                                             arguments: [e.machineID]) else {
                guard try useSecret() else { return .secretUsedUp }
                try db.execute(sql: """
                    INSERT INTO hosts (id, machine_id, hostname, agent_version, token_hash, enrolled_at, last_seen_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [e.newHostID, e.machineID, e.hostname, e.agentVersion, e.newTokenHash, now, now])
                return .created(try fetch(e.newHostID))
            }
            let hostID: String = row["id"]
            let revoked = (row["revoked_at"] as Date?) != nil
            let proven = !revoked && e.currentTokenHash != nil && e.currentTokenHash == (row["token_hash"] as String)
            var approved = false
            if !proven, let keyHash = e.keyHash {
                approved = try Bool.fetchOne(db, sql: """
                    SELECT EXISTS (SELECT 1 FROM pending_enrollments WHERE host_id = ? AND key_hash = ? AND approved_at IS NOT NULL)
                    """, arguments: [hostID, keyHash]) ?? false
            }
            if proven || approved {
                guard try useSecret() else { return .secretUsedUp }
                try db.execute(sql: """
                    UPDATE hosts SET hostname = ?, agent_version = ?, token_hash = ?, last_seen_at = ?, revoked_at = NULL WHERE id = ?
                    """, arguments: [e.hostname, e.agentVersion, e.newTokenHash, now, hostID])
                try db.execute(sql: "DELETE FROM pending_enrollments WHERE host_id = ?", arguments: [hostID])
                return .reenrolled(try fetch(hostID))
            }
            guard let keyHash = e.keyHash else { return .pendingApproval(try fetch(hostID), approvable: false) }
            // One pending request per host: a request with another key replaces it and loses
            // any approval (an approval is for the request the admin saw, never inherited).
            try db.execute(sql: """
                INSERT INTO pending_enrollments (host_id, key_hash, hostname, agent_version, requested_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (host_id) DO UPDATE SET
                    hostname = excluded.hostname, agent_version = excluded.agent_version, requested_at = excluded.requested_at,
                    approved_at = CASE WHEN pending_enrollments.key_hash = excluded.key_hash THEN pending_enrollments.approved_at END,
                    approved_by = CASE WHEN pending_enrollments.key_hash = excluded.key_hash THEN pending_enrollments.approved_by END,
                    key_hash = excluded.key_hash
                """, arguments: [hostID, keyHash, e.hostname, e.agentVersion, now])
            return .pendingApproval(try fetch(hostID), approvable: true)
        }
        switch outcome {
        case .created(let h), .reenrolled(let h): tokenCache.invalidate(hostID: h.id)
        case .pendingApproval, .secretUsedUp: break
        }
        return outcome
    }

    public func revokeHost(id: String, now: Date) async throws -> Bool {
        let done = try await write { db in
            try db.execute(sql: "UPDATE hosts SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [now, id])
            return db.changesCount == 1
        }
        tokenCache.invalidate(hostID: id)
        return done
    }

    public func approveEnrollment(hostID: String, by approver: String, now: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "UPDATE pending_enrollments SET approved_at = ?, approved_by = ? WHERE host_id = ?",
                           arguments: [now, String(approver.prefix(64)), hostID])
            return db.changesCount == 1
        }
    }

    public func enrollHost(id: String, machineID: String, hostname: String, agentVersion: String?, tokenHash: String,
                           secretID: Int64, now: Date) async throws -> (host: HostRecord, created: Bool) {
        // Invalidated once the transaction has committed: a lookup that read the old token
        // before the commit then cannot cache it (see `HostTokenCache`). A failed transaction
        // changed nothing.
        let result = try await write { db -> (host: HostRecord, created: Bool) in
            try db.execute(sql: "UPDATE enrollment_secrets SET use_count = use_count + 1, last_used_at = ? WHERE id = ?",
                           arguments: [now, secretID])
            if let existing = try String.fetchOne(db, sql: "SELECT id FROM hosts WHERE machine_id = ?", arguments: [machineID]) {
                try db.execute(sql: """
                    UPDATE hosts SET hostname = ?, agent_version = ?, token_hash = ?, last_seen_at = ? WHERE id = ?
                    """, arguments: [hostname, agentVersion, tokenHash, now, existing])
                let row = try Row.fetchOne(db, sql: "SELECT \(Self.hostColumns) FROM hosts WHERE id = ?", arguments: [existing])
                return (Self.host(row!), false)
            }
            try db.execute(sql: """
                INSERT INTO hosts (id, machine_id, hostname, agent_version, token_hash, enrolled_at, last_seen_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, machineID, hostname, agentVersion, tokenHash, now, now])
            let row = try Row.fetchOne(db, sql: "SELECT \(Self.hostColumns) FROM hosts WHERE id = ?", arguments: [id])
            return (Self.host(row!), true)
        }
        tokenCache.invalidate(hostID: result.host.id)
        return result
    }

    public func host(tokenHash: String) async throws -> HostRecord? {
        if let host = tokenCache.host(tokenHash: tokenHash) { return host }
        let ticket = tokenCache.ticket()
        @Sendable func lookup(_ db: Database) throws -> HostRecord? {
            try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Self.hostColumns) FROM hosts WHERE token_hash = ?"),
                             arguments: [tokenHash]).map(Self.host)
        }
        let host: HostRecord?
        if let tokenReader {
            // An indexed one-row read (microseconds) on a connection nothing else holds.
            host = try wrapSync { try tokenReader.inDatabase(lookup) }
        } else {
            host = try await read(lookup)
        }
        if let host { tokenCache.insert(tokenHash: tokenHash, host: host, ticket: ticket) }
        return host
    }

    public func host(id: String) async throws -> HostRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: """
                SELECT \(Self.hostDetailColumns) FROM hosts h LEFT JOIN pending_enrollments p ON p.host_id = h.id WHERE h.id = ?
                """, arguments: [id]).map(Self.host)
        }
    }

    public func hosts() async throws -> [HostRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.hostDetailColumns) FROM hosts h LEFT JOIN pending_enrollments p ON p.host_id = h.id ORDER BY h.hostname, h.id
                """).map(Self.host)
        }
    }

    // MARK: Users, tokens, sessions

    static func user(_ row: Row) throws -> UserRecord {
        guard let role = UserRole(rawValue: row["role"]) else { throw StoreError(.corrupt, "user \(row["name"] as String) has an unknown role") }
        return UserRecord(name: row["name"], role: role, createdAt: row["created_at"])
    }

    public func addUser(name: String, role: UserRole, passwordHash: String, now: Date) async throws -> UserRecord {
        try await write { db in
            do {
                try db.execute(sql: "INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                               arguments: [name, role.rawValue, passwordHash, now, now])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw StoreError(.conflict, "a user named \(name) already exists; pick another name or use `admin user reset`")
            }
            return UserRecord(name: name, role: role, createdAt: now)
        }
    }

    public func resetPassword(name: String, passwordHash: String, now: Date) async throws -> Bool {
        try await write { db in
            // A password an admin set is known to two people: its owner changes it at first sign-in.
            try db.execute(sql: "UPDATE users SET password_hash = ?, updated_at = ?, must_change_password = 1 WHERE name = ?",
                           arguments: [passwordHash, now, name])
            guard db.changesCount > 0 else { return false }
            // A new password ends the sessions opened with the old one.
            try db.execute(sql: "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)", arguments: [name])
            return true
        }
    }

    public func removeUser(name: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM users WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    public func users() async throws -> [UserRecord] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT name, role, created_at FROM users ORDER BY name").map(Self.user) }
    }

    public func user(name: String) async throws -> (user: UserRecord, passwordHash: String)? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT name, role, created_at, password_hash FROM users WHERE name = ?",
                                             arguments: [name]) else { return nil }
            return (try Self.user(row), row["password_hash"])
        }
    }

    private static func apiToken(_ row: Row) throws -> APITokenRecord {
        guard let role = UserRole(rawValue: row["role"]) else { throw StoreError(.corrupt, "API token \(row["name"] as String) has an unknown role") }
        return APITokenRecord(id: row["id"], name: row["name"], role: role, createdAt: row["created_at"],
                              expiresAt: row["expires_at"], revokedAt: row["revoked_at"])
    }

    private static let tokenColumns = "id, name, role, created_at, expires_at, revoked_at"

    public func createAPIToken(name: String, role: UserRole, hash: String, expiresAt: Date?, now: Date) async throws -> APITokenRecord {
        try await write { db in
            do {
                try db.execute(sql: "INSERT INTO api_tokens (name, role, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                               arguments: [name, role.rawValue, hash, now, expiresAt])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw StoreError(.conflict, "an API token named \(name) already exists; revoke it or pick another name")
            }
            return APITokenRecord(id: db.lastInsertedRowID, name: name, role: role, createdAt: now, expiresAt: expiresAt, revokedAt: nil)
        }
    }

    public func apiTokens() async throws -> [APITokenRecord] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT \(Self.tokenColumns) FROM api_tokens ORDER BY id DESC").map(Self.apiToken) }
    }

    public func revokeAPIToken(name: String, now: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", arguments: [now, name])
            return db.changesCount > 0
        }
    }

    public func apiToken(hash: String) async throws -> APITokenRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.tokenColumns) FROM api_tokens WHERE token_hash = ?", arguments: [hash]).map(Self.apiToken)
        }
    }

    public func createSession(userName: String, hash: String, expiresAt: Date, now: Date) async throws {
        try await write { db in
            guard let userID = try Int64.fetchOne(db, sql: "SELECT id FROM users WHERE name = ?", arguments: [userName]) else {
                throw StoreError(.notFound, "no user named \(userName)")
            }
            try db.execute(sql: "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                           arguments: [hash, userID, now, expiresAt])
        }
    }

    // MARK: Bundles and tickets

    public func bundleReceipt(bundleID: String) async throws -> (hostID: String, receipt: BundleReceipt)? {
        try await read { db in try Self.receipt(db, bundleID: bundleID) }
    }

    private static func receipt(_ db: Database, bundleID: String) throws -> (hostID: String, receipt: BundleReceipt)? {
        guard let row = try Row.fetchOne(db, sql: "SELECT host_id, receipt FROM bundles WHERE bundle_id = ?", arguments: [bundleID]) else {
            return nil
        }
        return (row["host_id"], try decode(BundleReceipt.self, row["receipt"], what: "receipt of bundle \(bundleID)"))
    }

    public func commitBundle(_ bundle: NewBundle, findings: [Finding], policy: any TicketPolicy) async throws -> BundleCommitResult {
        do {
            return try await write { db in
                if let existing = try Self.receipt(db, bundleID: bundle.bundleID) {
                    return .duplicate(hostID: existing.hostID, receipt: existing.receipt)
                }
                let open = try Self.ticketSummaries(db, where: "t.host_id = ? AND t.status IN ('open', 'in_progress', 'waiting_on_user')",
                                                    arguments: [bundle.hostID], limit: 100, offset: 0)
                let ticketID: Int64
                let joined: Bool
                var joinReason: String?
                // A bundle a technician asked for joins the ticket it was asked from.
                let request = try Self.claimBundleRequest(db, bundle)
                let decision: TicketDecision
                if let request, let asked = request.ticketID,
                   try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM tickets WHERE id = ? AND host_id = ?)", arguments: [asked, bundle.hostID]) == true {
                    decision = .join(ticketID: asked, reason: "Bundle \(bundle.bundleID) answers \(request.requestedBy)'s request #\(request.id) for fresh information.")
                } else {
                    decision = policy.decide(bundle: bundle, findings: findings, openTickets: open)
                }
                switch decision {
                case .open(let new):
                    try db.execute(sql: """
                        INSERT INTO tickets (host_id, status, priority, title, note, top_rule_id, created_at, updated_at, requested_by)
                        VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [bundle.hostID, new.priority.rawValue, TicketService.clippedTitle(new.title), new.note, new.topRuleID,
                                         bundle.receivedAt, bundle.receivedAt, bundle.requestedBy])
                    ticketID = db.lastInsertedRowID
                    joined = false
                    try Self.recordEvent(db, .ticketOpened, ticketID: ticketID, bundleID: bundle.bundleID, now: bundle.receivedAt)
                case .join(let id, let reason):
                    try db.execute(sql: "UPDATE tickets SET updated_at = ? WHERE id = ?", arguments: [bundle.receivedAt, id])
                    guard db.changesCount == 1 else { throw StoreError(.notFound, "ticket \(id) chosen for bundle \(bundle.bundleID) does not exist") }
                    try db.execute(sql: "INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at) VALUES (?, 'helpline', ?, 0, ?)",
                                   arguments: [id, reason, bundle.receivedAt])
                    ticketID = id
                    joined = true
                    joinReason = reason
                    try Self.recordEvent(db, .ticketJoined, ticketID: id, bundleID: bundle.bundleID, detail: reason, now: bundle.receivedAt)
                }
                // Known fixes technicians attached to these rules: the receipt carries them in the
                // technician advice; the finding rows keep the rule's advice and the fix apart.
                let fixes = try Self.ruleFixes(db, ruleIDs: Set(findings.map(\.ruleID)))
                let receipt = policy.receipt(bundle: bundle, ticketID: ticketID, joined: joined,
                                             findings: findings.map { f in fixes[f.ruleID].map { $0.applied(to: f) } ?? f })
                try db.execute(sql: """
                    INSERT INTO bundles (bundle_id, host_id, sha256, compressed_bytes, uncompressed_bytes, journal_entries, reason,
                                         created_at, received_at, manifest, members, receipt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [bundle.bundleID, bundle.hostID, bundle.sha256, bundle.compressedBytes, bundle.uncompressedBytes,
                                     bundle.journalEntries, bundle.manifest.reason.rawValue, bundle.manifest.createdAt, bundle.receivedAt,
                                     try Self.encode(bundle.manifest), try Self.encode(bundle.members), try Self.encode(receipt)])
                let bundleRow = db.lastInsertedRowID
                try db.execute(sql: "INSERT INTO ticket_bundles (ticket_id, bundle_row, joined_at, join_reason) VALUES (?, ?, ?, ?)",
                               arguments: [ticketID, bundleRow, bundle.receivedAt, joinReason])
                for (rank, f) in receipt.findings.enumerated() {
                    let fix = fixes[f.ruleID]
                    let advice = fix?.ruleAdvice(from: f.technicianAdvice) ?? f.technicianAdvice
                    var arguments: StatementArguments = [ticketID, bundleRow, f.ruleID, f.category.rawValue, f.severity.rawValue,
                                                         min(max(f.confidence, 0), 1), f.title, f.detail, f.userAdvice, advice,
                                                         try Self.encode(f.evidence), f.lastSeen, rank, f.subject]
                    arguments += [fix?.text, fix?.link, fix?.updatedBy, fix?.updatedAt]
                    try db.execute(sql: """
                        INSERT INTO findings (ticket_id, bundle_row, rule_id, category, severity, confidence, title, detail, user_advice,
                                              technician_advice, evidence, last_seen, rank, subject, known_fix, known_fix_link, known_fix_by, known_fix_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: arguments)
                }
                try db.execute(sql: "UPDATE hosts SET last_seen_at = ? WHERE id = ?", arguments: [bundle.receivedAt, bundle.hostID])
                try Self.linkIncidents(db, findings: receipt.findings, now: bundle.receivedAt, threshold: policy.incidentThreshold)
                if request != nil {
                    // The user sees it happened (helpline status shows visible comments).
                    try db.execute(sql: "INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at) VALUES (?, 'helpline', ?, 1, ?)",
                                   arguments: [ticketID, "Helpline collected fresh information from this computer, as the help desk asked.", bundle.receivedAt])
                }
                return .stored(receipt)
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            // Another writer (another collector on a shared database) won the race for this id.
            guard let existing = try await bundleReceipt(bundleID: bundle.bundleID) else { throw error }
            return .duplicate(hostID: existing.hostID, receipt: existing.receipt)
        }
    }

    public func hostUsage(hostID: String, since: Date) async throws -> HostUsage {
        try await read { db in
            let window = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT count(*) AS n, min(received_at) AS oldest FROM bundles WHERE host_id = ? AND received_at >= ?
                """), arguments: [hostID, since])
            let bytes = try Int64.fetchOne(db.cachedStatement(sql: """
                SELECT coalesce(sum(compressed_bytes), 0) FROM bundles WHERE host_id = ? AND expired = 0
                """), arguments: [hostID]) ?? 0
            return HostUsage(bundlesInWindow: window?["n"] ?? 0, oldestInWindow: window?["oldest"], liveBytes: bytes)
        }
    }

    public func isBlobReferenced(sha256: String) async throws -> Bool {
        try await read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM bundles WHERE sha256 = ?)", arguments: [sha256]) ?? false }
    }

    public func liveBlobDigests() async throws -> Set<String> {
        try await read { db in Set(try String.fetchAll(db, sql: "SELECT DISTINCT sha256 FROM bundles WHERE expired = 0")) }
    }

    static let bundleColumns = """
        b.id AS row_id, b.bundle_id, b.host_id, b.sha256, b.compressed_bytes, b.uncompressed_bytes, b.journal_entries, b.reason,
        b.created_at, b.received_at, b.expired, b.expired_at, b.members, b.manifest,
        (SELECT group_concat(tb.ticket_id) FROM ticket_bundles tb WHERE tb.bundle_row = b.id) AS ticket_ids
        """

    static func bundle(_ row: Row) throws -> BundleRecord {
        let id: String = row["bundle_id"]
        let tickets = (row["ticket_ids"] as String?)?.split(separator: ",").compactMap { Int64($0) } ?? []
        return BundleRecord(bundleID: id, hostID: row["host_id"], sha256: row["sha256"], compressedBytes: row["compressed_bytes"],
                            uncompressedBytes: row["uncompressed_bytes"], journalEntries: row["journal_entries"], reason: row["reason"],
                            createdAt: row["created_at"], receivedAt: row["received_at"], expired: row["expired"],
                            expiredAt: row["expired_at"], ticketIDs: tickets.sorted(),
                            members: try decode([BundleContents.Member].self, row["members"], what: "members of bundle \(id)"),
                            manifest: try decode(Manifest.self, row["manifest"], what: "manifest of bundle \(id)"))
    }

    public func bundle(id: String) async throws -> BundleRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.bundleColumns) FROM bundles b WHERE b.bundle_id = ?", arguments: [id]).map(Self.bundle)
        }
    }

    public func bundles(ticketID: Int64) async throws -> [BundleRecord] {
        try await read { db in try Self.bundles(db, ticketID: ticketID) }
    }

    private static func bundles(_ db: Database, ticketID: Int64) throws -> [BundleRecord] {
        try Row.fetchAll(db, sql: """
            SELECT \(bundleColumns) FROM bundles b JOIN ticket_bundles t ON t.bundle_row = b.id
            WHERE t.ticket_id = ? ORDER BY b.received_at, b.id
            """, arguments: [ticketID]).map(bundle)
    }

    public func bundles(hostID: String, limit: Int, offset: Int) async throws -> [BundleRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.bundleColumns) FROM bundles b WHERE b.host_id = ? ORDER BY b.received_at DESC, b.id DESC LIMIT ? OFFSET ?
                """, arguments: [hostID, limit, offset]).map(Self.bundle)
        }
    }

    static func ticketSummaries(_ db: Database, where condition: String, arguments: StatementArguments,
                                        limit: Int, offset: Int) throws -> [TicketSummary] {
        // `condition` is always a constant written in this file; values go through `arguments`.
        let sql = """
            SELECT t.id, t.host_id, h.hostname, t.status, t.priority, t.title, t.assignee, t.top_rule_id, t.created_at,
                   t.updated_at, t.first_response_at, t.resolved_at, t.requested_by, t.category,
                   (SELECT count(*) FROM ticket_bundles tb WHERE tb.ticket_id = t.id) AS bundle_count
            FROM tickets t JOIN hosts h ON h.id = t.host_id
            WHERE \(condition) ORDER BY t.updated_at DESC, t.id DESC LIMIT ? OFFSET ?
            """
        var args = arguments
        args += [limit, offset]
        return try Row.fetchAll(db, sql: sql, arguments: args).map { row in
            guard let status = TicketStatus(rawValue: row["status"]), let priority = TicketPriority(rawValue: row["priority"]) else {
                throw StoreError(.corrupt, "ticket \(row["id"] as Int64) has an unknown status or priority")
            }
            return TicketSummary(id: row["id"], hostID: row["host_id"], hostname: row["hostname"], status: status, priority: priority,
                                 title: row["title"], assignee: row["assignee"], topRuleID: row["top_rule_id"],
                                 createdAt: row["created_at"], updatedAt: row["updated_at"], firstResponseAt: row["first_response_at"],
                                 resolvedAt: row["resolved_at"], bundleCount: row["bundle_count"], requestedBy: row["requested_by"],
                                 category: (row["category"] as String?).flatMap(FindingCategory.init(rawValue:)))
        }
    }

    public func tickets(_ filter: TicketFilter) async throws -> [TicketSummary] {
        try await read { db in
            switch (filter.status, filter.hostID) {
            case (nil, nil):
                try Self.ticketSummaries(db, where: "1", arguments: [], limit: filter.limit, offset: filter.offset)
            case (let status?, nil):
                try Self.ticketSummaries(db, where: "t.status = ?", arguments: [status.rawValue], limit: filter.limit, offset: filter.offset)
            case (nil, let host?):
                try Self.ticketSummaries(db, where: "t.host_id = ?", arguments: [host], limit: filter.limit, offset: filter.offset)
            case (let status?, let host?):
                try Self.ticketSummaries(db, where: "t.status = ? AND t.host_id = ?", arguments: [status.rawValue, host],
                                         limit: filter.limit, offset: filter.offset)
            }
        }
    }

    private static func comments(_ db: Database, ticketID: Int64, visibleOnly: Bool) throws -> [TicketComment] {
        try Row.fetchAll(db, sql: """
            SELECT id, author, body, visible_to_user, created_at FROM ticket_comments
            WHERE ticket_id = ? AND (visible_to_user = 1 OR ? = 0) ORDER BY id
            """, arguments: [ticketID, visibleOnly]).map {
            TicketComment(id: $0["id"], author: $0["author"], body: $0["body"], visibleToUser: $0["visible_to_user"], createdAt: $0["created_at"])
        }
    }

    public func ticket(id: Int64) async throws -> TicketDetail? {
        try await read { db in
            guard let summary = try Self.ticketSummaries(db, where: "t.id = ?", arguments: [id], limit: 1, offset: 0).first else { return nil }
            let note = try String.fetchOne(db, sql: "SELECT note FROM tickets WHERE id = ?", arguments: [id])
            let findings = try Row.fetchAll(db, sql: """
                SELECT b.bundle_id, f.* FROM findings f JOIN bundles b ON b.id = f.bundle_row
                WHERE f.ticket_id = ? ORDER BY f.bundle_row, f.rank
                """, arguments: [id]).map { row -> TicketFinding in
                let finding = Finding(
                    ruleID: row["rule_id"], category: FindingCategory(rawValue: row["category"]) ?? .other,
                    severity: Severity(rawValue: row["severity"]) ?? .info, confidence: row["confidence"], title: row["title"],
                    detail: row["detail"], userAdvice: row["user_advice"], technicianAdvice: row["technician_advice"],
                    evidence: try Self.decode([Evidence].self, row["evidence"], what: "evidence of a finding on ticket \(id)"),
                    // Not `row["last_seen"]`, which stops the process on a value it cannot read: a
                    // store written before journal times were bounded may hold year 33658.
                    lastSeen: Date.fromDatabaseValue(row["last_seen"] as DatabaseValue), subject: row["subject"])
                let fix = (row["known_fix"] as String?).map {
                    RuleFix(ruleID: finding.ruleID, text: $0, link: row["known_fix_link"], updatedBy: (row["known_fix_by"] as String?) ?? "?",
                            updatedAt: (row["known_fix_at"] as Date?) ?? Date(timeIntervalSince1970: 0))
                }
                return TicketFinding(bundleID: row["bundle_id"], finding: finding, knownFix: fix)
            }
            return TicketDetail(ticket: summary, note: note, findings: findings,
                                comments: try Self.comments(db, ticketID: id, visibleOnly: false),
                                bundles: try Self.bundles(db, ticketID: id), remoteLinks: try Self.remoteLinks(db, ticketID: id))
        }
    }

    public func hostTickets(hostID: String, requestedBy: String?, limit: Int) async throws -> [HostTicket] {
        try await read { db in
            let summaries = try requestedBy.map {
                try Self.ticketSummaries(db, where: "t.host_id = ? AND t.requested_by = ?", arguments: [hostID, $0], limit: limit, offset: 0)
            } ?? Self.ticketSummaries(db, where: "t.host_id = ?", arguments: [hostID], limit: limit, offset: 0)
            return try summaries.map { t in
                HostTicket(id: t.id, status: t.status, title: t.title, assignee: t.assignee, createdAt: t.createdAt, updatedAt: t.updatedAt,
                           replies: try Self.comments(db, ticketID: t.id, visibleOnly: true), requestedBy: t.requestedBy)
            }
        }
    }

    /// Inside the commit of a bundle: opens or grows the incident of each medium-or-worse rule
    /// seen on `threshold.hosts` hosts within the window, and links every ticket of the window
    /// with it. Counting and linking are one statement each, whatever the incident's size.
    static func linkIncidents(_ db: Database, findings: [Finding], now: Date, threshold: (hosts: Int, window: TimeInterval)) throws {
        guard threshold.hosts > 0 else { return }
        let since = now.addingTimeInterval(-threshold.window)
        for (ruleID, title) in findings.incidentRules {
            let hosts = try Int.fetchOne(db, sql: """
                SELECT count(DISTINCT t.host_id) FROM findings f
                JOIN tickets t ON t.id = f.ticket_id
                JOIN bundles b ON b.id = f.bundle_row
                WHERE f.rule_id = ? AND b.received_at >= ?
                """, arguments: [ruleID, since]) ?? 0
            guard hosts >= threshold.hosts else { continue }
            let incidentID: Int64
            if let open = try Int64.fetchOne(db, sql: "SELECT id FROM incidents WHERE rule_id = ? AND status = 'open'", arguments: [ruleID]) {
                incidentID = open
                try db.execute(sql: "UPDATE incidents SET host_count = MAX(host_count, ?), updated_at = ? WHERE id = ?",
                               arguments: [hosts, now, open])
            } else {
                try db.execute(sql: """
                    INSERT INTO incidents (rule_id, title, status, host_count, created_at, updated_at) VALUES (?, ?, 'open', ?, ?, ?)
                    """, arguments: [ruleID, "\(title) (\(ruleID)) on \(hosts) hosts", hosts, now, now])
                incidentID = db.lastInsertedRowID
                try Self.recordEvent(db, .incidentOpened, incidentID: incidentID, now: now)
            }
            try db.execute(sql: """
                INSERT OR IGNORE INTO incident_tickets (incident_id, ticket_id)
                SELECT DISTINCT ?, f.ticket_id FROM findings f JOIN bundles b ON b.id = f.bundle_row
                WHERE f.rule_id = ? AND b.received_at >= ?
                """, arguments: [incidentID, ruleID, since])
        }
    }

    public func incidents(limit: Int) async throws -> [IncidentRecord] {
        try await read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM incidents ORDER BY updated_at DESC, id DESC LIMIT ?", arguments: [limit])
                .compactMap { try Self.incident(db, id: $0) }
        }
    }

    public func incident(id: Int64) async throws -> IncidentRecord? {
        try await read { db in try Self.incident(db, id: id) }
    }

    static func incident(_ db: Database, id: Int64) throws -> IncidentRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM incidents WHERE id = ?", arguments: [id]) else { return nil }
        let tickets = try Int64.fetchAll(db, sql: "SELECT ticket_id FROM incident_tickets WHERE incident_id = ? ORDER BY ticket_id", arguments: [id])
        return IncidentRecord(id: row["id"], ruleID: row["rule_id"], title: row["title"], status: row["status"], hostCount: row["host_count"],
                              createdAt: row["created_at"], updatedAt: row["updated_at"], ticketIDs: tickets)
    }

    public func splitBundle(ticketID: Int64, bundleID: String, author: String, now: Date) async throws -> Int64? {
        try await write { db in
            guard let ticket = try Row.fetchOne(db, sql: "SELECT host_id, priority, requested_by FROM tickets WHERE id = ?", arguments: [ticketID]),
                  let bundle = try Row.fetchOne(db, sql: """
                      SELECT b.id, b.manifest FROM bundles b JOIN ticket_bundles tb ON tb.bundle_row = b.id
                      WHERE b.bundle_id = ? AND tb.ticket_id = ?
                      """, arguments: [bundleID.lowercased(), ticketID]) else { return nil }
            let bundleRow: Int64 = bundle["id"]
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM ticket_bundles WHERE ticket_id = ?", arguments: [ticketID]) ?? 0
            guard count > 1 else {
                throw StoreError(.conflict, "bundle \(bundleID) is the only bundle of ticket \(ticketID); there is nothing to split it from")
            }
            let top = try Row.fetchOne(db, sql: "SELECT rule_id, title, severity FROM findings WHERE bundle_row = ? ORDER BY rank LIMIT 1",
                                       arguments: [bundleRow])
            let split = TicketService.splitTicket(findingTitle: top?["title"], manifest: bundle["manifest"], from: ticketID)
            try db.execute(sql: """
                INSERT INTO tickets (host_id, status, priority, title, note, top_rule_id, created_at, updated_at, requested_by)
                VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [ticket["host_id"] as String, ticket["priority"] as String, split.title, split.note, top?["rule_id"] as String?, now, now,
                                 ticket["requested_by"] as String?])
            let newID = db.lastInsertedRowID
            try db.execute(sql: "UPDATE ticket_bundles SET ticket_id = ?, join_reason = NULL WHERE ticket_id = ? AND bundle_row = ?", arguments: [newID, ticketID, bundleRow])
            try db.execute(sql: "UPDATE findings SET ticket_id = ? WHERE ticket_id = ? AND bundle_row = ?", arguments: [newID, ticketID, bundleRow])
            try db.execute(sql: "INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at) VALUES (?, ?, ?, 0, ?)",
                           arguments: [ticketID, author, "Bundle \(bundleID) was split off into ticket #\(newID).", now])
            try db.execute(sql: "INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at) VALUES (?, ?, ?, 0, ?)",
                           arguments: [newID, author, "Split off from ticket #\(ticketID) (bundle \(bundleID)).", now])
            try db.execute(sql: "UPDATE tickets SET updated_at = ? WHERE id = ?", arguments: [now, ticketID])
            try Self.recordSplit(db, ticketID: ticketID, bundleID: bundleID.lowercased(), newTicketID: newID, actor: author, now: now)
            try Self.recordEvent(db, .ticketOpened, ticketID: newID, bundleID: bundleID.lowercased(), detail: "split off from ticket #\(ticketID)", now: now)
            return newID
        }
    }

    public func addComment(ticketID: Int64, author: String, body: String, visibleToUser: Bool, now: Date) async throws -> TicketComment? {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM tickets WHERE id = ?)", arguments: [ticketID]) == true else {
                return nil
            }
            try db.execute(sql: "INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [ticketID, author, body, visibleToUser, now])
            let id = db.lastInsertedRowID
            try db.execute(sql: "UPDATE tickets SET updated_at = ? WHERE id = ?", arguments: [now, ticketID])
            if visibleToUser {
                try db.execute(sql: "UPDATE tickets SET first_response_at = ? WHERE id = ? AND first_response_at IS NULL",
                               arguments: [now, ticketID])
                // Only replies the user may see leave Helpline: internal notes stay internal.
                try Self.recordEvent(db, .ticketUpdated, ticketID: ticketID, commentID: id, detail: "reply by \(author)", now: now)
            }
            return TicketComment(id: id, author: author, body: body, visibleToUser: visibleToUser, createdAt: now)
        }
    }

    public func updateTicket(id: Int64, status: TicketStatus?, priority: TicketPriority?, assignee: String?,
                             now: Date) async throws -> TicketSummary? {
        try await write { db in
            guard let before = try Self.ticketSummaries(db, where: "t.id = ?", arguments: [id], limit: 1, offset: 0).first else { return nil }
            if let status {
                try Self.setStatus(db, ticketID: id, status, now: now)
            }
            if let priority {
                try db.execute(sql: "UPDATE tickets SET priority = ?, updated_at = ? WHERE id = ?", arguments: [priority.rawValue, now, id])
            }
            if let assignee {
                try db.execute(sql: "UPDATE tickets SET assignee = ?, updated_at = ? WHERE id = ?",
                               arguments: [assignee.isEmpty ? nil : assignee, now, id])
            }
            let after = try Self.ticketSummaries(db, where: "t.id = ?", arguments: [id], limit: 1, offset: 0).first
            if let after {
                var changed: [String] = []
                if after.status != before.status { changed.append("status: \(after.status.rawValue)") }
                if after.priority != before.priority { changed.append("priority: \(after.priority.rawValue)") }
                if after.assignee != before.assignee { changed.append("assignee: \(after.assignee ?? "nobody")") }
                if !changed.isEmpty {
                    let resolved = after.status != before.status && !after.status.isActive
                    try Self.recordEvent(db, resolved ? .ticketResolved : .ticketUpdated, ticketID: id,
                                         detail: changed.joined(separator: ", "), now: now)
                }
            }
            return after
        }
    }

    // MARK: Heartbeats

    public func recordHeartbeats(_ heartbeats: [HeartbeatRow], logMark: HeartbeatLogMark?) async throws {
        guard !heartbeats.isEmpty || logMark != nil else { return }
        let encoded = try Self.encodedHeartbeats(heartbeats)
        try await wrap { try await self.pool.writeWithoutTransaction { db in try Self.commitHeartbeats(db, encoded, logMark: logMark) } }
    }

    /// `recordHeartbeats` on the caller's thread (`BlockingHeartbeatWriter`).
    public func recordHeartbeatsBlocking(_ heartbeats: [HeartbeatRow], logMark: HeartbeatLogMark?) throws {
        guard !heartbeats.isEmpty || logMark != nil else { return }
        let encoded = try Self.encodedHeartbeats(heartbeats)
        try wrapSync { try pool.writeWithoutTransaction { db in try Self.commitHeartbeats(db, encoded, logMark: logMark) } }
    }

    public func heartbeatLogMark(key: String) async throws -> String? {
        try await read { db in try String.fetchOne(db, sql: "SELECT value FROM collector_state WHERE key = ?", arguments: [key]) }
    }

    /// The agent's own bytes when the caller kept them (already validated by decoding);
    /// otherwise one encoder for the batch (one per heartbeat showed in the profile).
    private static func encodedHeartbeats(_ heartbeats: [HeartbeatRow]) throws -> [(HeartbeatRow, String)] {
        let encoder = BundleJSON.encoder()
        return try heartbeats.map { ($0, try $0.storedJSON(encoder)) }
    }

    /// One transaction for the batch. Heartbeats are a health snapshot that the next one
    /// replaces: they commit with `synchronous = NORMAL` (durable across a crash of the
    /// collector, not across a power cut), which spares an fsync per batch. Bundles and
    /// tickets keep FULL.
    private static func commitHeartbeats(_ db: Database, _ encoded: [(HeartbeatRow, String)], logMark: HeartbeatLogMark?) throws {
        try db.execute(sql: "PRAGMA synchronous = NORMAL")
        defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
        try db.inTransaction {
            try insertHeartbeats(db, encoded, replay: logMark?.replay ?? false)
            if let logMark, let value = logMark.value {
                try db.execute(sql: "INSERT INTO collector_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                               arguments: [logMark.key, value])
            }
            return .commit
        }
    }

    private static func insertHeartbeats(_ db: Database, _ encoded: [(HeartbeatRow, String)], replay: Bool) throws {
        var statements = try HeartbeatStatements(db, replay: replay)
        for (row, body) in encoded {
            try insertHeartbeat(&statements, row, body: body)
        }
    }

    public func latestHeartbeat(hostID: String) async throws -> StoredHeartbeat? {
        try await read { db in
            guard var stored = try Row.fetchOne(db, sql: "SELECT host_id, received_at, body FROM heartbeats_latest WHERE host_id = ?",
                                                arguments: [hostID]).map(Self.heartbeat) else { return nil }
            // Stored without its processes since v17_process_rows: they are the host's rows.
            if stored.heartbeat.topProcesses.isEmpty {
                stored.heartbeat.topProcesses = try Row.fetchAll(db, sql: """
                    SELECT pid, ppid, uid, user, state, name, command, threads, rss_bytes, start_time, cpu_percent, top_cpu, top_memory
                    FROM host_processes WHERE host_id = ? ORDER BY ordinal, pid
                    """, arguments: [hostID]).map { row in
                    ProcessRecord(pid: row["pid"], ppid: (row["ppid"] as Int?) ?? 0, uid: row["uid"], user: row["user"], state: row["state"],
                                  name: row["name"], commandLine: row["command"], threads: row["threads"],
                                  rssBytes: UInt64(clamping: row["rss_bytes"] as Int64), startTime: row["start_time"] as Date?,
                                  cpuPercent: row["cpu_percent"], topCPU: row["top_cpu"], topMemory: row["top_memory"])
                }
            }
            return stored
        }
    }

    public func healthHistory(hostID: String, limit: Int) async throws -> [HealthPoint] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT at, sent_at, memory_used_percent, max_disk_used_percent, failed_unit_count FROM health_history
                WHERE host_id = ? ORDER BY at DESC, id DESC LIMIT ?
                """, arguments: [hostID, limit]).map { row in
                HealthPoint(at: row["at"], sentAt: row["sent_at"], memoryUsedPercent: row["memory_used_percent"],
                            maxDiskUsedPercent: row["max_disk_used_percent"], failedUnitCount: row["failed_unit_count"])
            }
        }
    }

    private static func heartbeat(_ row: Row) throws -> StoredHeartbeat {
        StoredHeartbeat(hostID: row["host_id"], receivedAt: row["received_at"],
                        heartbeat: try decode(Heartbeat.self, row["body"], what: "a heartbeat of host \(row["host_id"] as String)"))
    }

    // MARK: Retention

    public func bundlesToExpire(receivedBefore: Date, keepPerHost: Int, limit: Int) async throws -> [BundleRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.bundleColumns) FROM bundles b WHERE b.expired = 0 AND (
                    b.received_at < ? OR b.id IN (
                        SELECT id FROM (
                            SELECT id, row_number() OVER (PARTITION BY host_id ORDER BY received_at DESC, id DESC) AS n
                            FROM bundles WHERE expired = 0)
                        WHERE n > ?))
                ORDER BY b.received_at LIMIT ?
                """, arguments: [receivedBefore, keepPerHost, limit]).map(Self.bundle)
        }
    }

    public func markExpired(bundleIDs: [String], reason: String, now: Date) async throws {
        try await write { db in
            for id in bundleIDs {
                try db.execute(sql: "UPDATE bundles SET expired = 1, expired_at = ? WHERE bundle_id = ? AND expired = 0", arguments: [now, id])
                guard db.changesCount > 0 else { continue }
                // Its journal index stops answering with it; `purgeJournalIndexes` removes the
                // rows afterwards, in bounded transactions (a 200k-entry bundle takes seconds).
                try db.execute(sql: """
                    DELETE FROM journal_indexes WHERE bundle_row = (SELECT id FROM bundles WHERE bundle_id = ?)
                    """, arguments: [id])
                try db.execute(sql: """
                    INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at)
                    SELECT tb.ticket_id, 'helpline', ?, 0, ? FROM ticket_bundles tb JOIN bundles b ON b.id = tb.bundle_row
                    WHERE b.bundle_id = ?
                    """, arguments: ["Bundle \(id) expired (\(reason)); its findings stay on this ticket, its raw data is gone.", now, id])
            }
        }
    }

    // MARK: Figures

    public func counts() async throws -> StoreCounts {
        try await read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT (SELECT count(*) FROM hosts) AS hosts,
                       (SELECT count(*) FROM tickets WHERE status IN ('open', 'in_progress', 'waiting_on_user')) AS open_tickets,
                       (SELECT count(*) FROM bundles WHERE expired = 0) AS live,
                       (SELECT count(*) FROM bundles WHERE expired = 1) AS expired
                """)!
            return StoreCounts(hosts: row["hosts"], openTickets: row["open_tickets"], liveBundles: row["live"], expiredBundles: row["expired"])
        }
    }

    // MARK: Plumbing

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await wrap { try await self.pool.read(body) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await wrap { try await self.pool.write(body) }
    }

    /// Turns database failures into `StoreError` so callers never see GRDB types; keeps
    /// `StoreError` and unique-constraint errors (which `commitBundle` handles) as they are.
    private func wrap<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw translated(error)
        }
    }

    /// `wrap` for a body that runs on the caller's thread.
    private func wrapSync<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw translated(error)
        }
    }

    private func translated(_ error: any Error) -> any Error {
        guard let error = error as? DatabaseError, error.extendedResultCode != .SQLITE_CONSTRAINT_UNIQUE else { return error }
        return StoreError(.unavailable, "SQLite database \(path): \(error.message ?? error.description)")
    }

    private static func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try BundleJSON.encoder().encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String, what: String) throws -> T {
        do { return try BundleJSON.decoder().decode(type, from: Data(text.utf8)) } catch {
            throw StoreError(.corrupt, "could not read the stored \(what): \(error)")
        }
    }
}
