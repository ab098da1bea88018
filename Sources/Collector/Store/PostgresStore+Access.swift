import Foundation
import PostgresNIO
import Shared

/// First start, enrollment secrets, hosts and enrollment, users, API tokens, sessions, the
/// audit log and the figures: `SQLiteStore.swift` (first half, `counts`) and
/// `SQLiteStore+Web.swift` (sessions, audit) on PostgreSQL, in the same order.
///
/// Names and hostnames are ordered `COLLATE "C"` (byte order, as SQLite's BINARY), whatever
/// the database's own collation.
extension PostgresStore {
    // MARK: First start

    public func isInitialized() async throws -> Bool {
        try await read { c in
            try await c.one("SELECT value FROM collector_state WHERE key = 'initialized_at'") != nil
        }
    }

    public func initialize(enrollmentSecretHash: String, adminName: String, adminPasswordHash: String, now: Date) async throws -> Bool {
        try await write { c in
            if try await c.one("SELECT value FROM collector_state WHERE key = 'initialized_at'") != nil {
                return false
            }
            try await c.execute("INSERT INTO collector_state (key, value) VALUES ('initialized_at', \(ISO8601DateFormatter().string(from: now)))")
            try await c.execute("INSERT INTO enrollment_secrets (secret_hash, label, created_at) VALUES (\(enrollmentSecretHash), 'first start', \(now))")
            try await c.execute("""
                INSERT INTO users (name, role, password_hash, created_at, updated_at, must_change_password)
                VALUES (\(adminName), 'admin', \(adminPasswordHash), \(now), \(now), true)
                ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'admin', updated_at = EXCLUDED.updated_at
                """)
            return true
        }
    }

    // MARK: Enrollment secrets

    private static let secretColumns = "id, label, created_at, expires_at, revoked_at, use_count, last_used_at, max_uses"

    private static func secret(_ row: PGRow) throws -> EnrollmentSecretRecord {
        EnrollmentSecretRecord(id: try row["id"], label: try row["label"], createdAt: try row["created_at"], expiresAt: try row["expires_at"],
                               revokedAt: try row["revoked_at"], useCount: try row["use_count"], lastUsedAt: try row["last_used_at"],
                               maxUses: try row["max_uses"])
    }

    public func createEnrollmentSecret(hash: String, label: String?, expiresAt: Date?, maxUses: Int?, now: Date) async throws -> EnrollmentSecretRecord {
        try await write(exclusive: false) { c in
            let row = try await c.one("""
                INSERT INTO enrollment_secrets (secret_hash, label, created_at, expires_at, max_uses)
                VALUES (\(hash), \(Self.text(label)), \(now), \(expiresAt), \(maxUses))
                RETURNING \(unescaped: Self.secretColumns)
                """)
            return try Self.secret(row!)
        }
    }

    public func enrollmentSecrets() async throws -> [EnrollmentSecretRecord] {
        try await read { c in
            try await c.all("SELECT \(unescaped: Self.secretColumns) FROM enrollment_secrets ORDER BY id DESC").map(Self.secret)
        }
    }

    public func revokeEnrollmentSecret(id: Int64, now: Date) async throws -> Bool {
        try await write(exclusive: false) { c in
            try await c.count("UPDATE enrollment_secrets SET revoked_at = \(now) WHERE id = \(id) AND revoked_at IS NULL RETURNING 1") > 0
        }
    }

    public func enrollmentSecret(hash: String) async throws -> EnrollmentSecretRecord? {
        try await read { c in
            try await c.one("SELECT \(unescaped: Self.secretColumns) FROM enrollment_secrets WHERE secret_hash = \(hash)").map(Self.secret)
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

    private static func host(_ row: PGRow) throws -> HostRecord {
        var host = HostRecord(id: try row["id"], machineID: try row["machine_id"], hostname: try row["hostname"],
                              agentVersion: try row["agent_version"], enrolledAt: try row["enrolled_at"],
                              lastSeenAt: try row["last_seen_at"], revokedAt: try row["revoked_at"])
        if row.has("p_key_hash"), let keyHash = try row["p_key_hash"] as String? {
            host.pendingEnrollment = PendingEnrollment(hostname: try row["p_hostname"], agentVersion: try row["p_agent_version"],
                                                       keyFingerprint: String(keyHash.prefix(12)), requestedAt: try row["p_requested_at"],
                                                       approvedAt: try row["p_approved_at"], approvedBy: try row["p_approved_by"])
        }
        return host
    }

    public func enroll(_ e: EnrollmentRequest, now: Date) async throws -> EnrollmentOutcome {
        // Agent-supplied text cannot hold NUL here (see `text`); the controller already cut it to the column limits.
        let hostname = Self.text(e.hostname), agentVersion = Self.text(e.agentVersion)
        // Exclusive: the machine lookup, the use of the secret and the insert are one step
        // across every collector, so two enrollments cannot both take a secret's last use nor
        // both create the same machine.
        let outcome = try await write { c -> EnrollmentOutcome in
            // Counted only when a token is issued, and checked in this transaction so two
            // enrollments cannot both take the last use.
            func useSecret() async throws -> Bool {
                try await c.count("""
                    UPDATE enrollment_secrets SET use_count = use_count + 1, last_used_at = \(now)
                    WHERE id = \(e.secretID) AND (max_uses IS NULL OR use_count < max_uses) RETURNING 1
                    """) == 1
            }
            func fetch(_ id: String) async throws -> HostRecord {
                guard let row = try await c.one("SELECT \(unescaped: Self.hostColumns) FROM hosts WHERE id = \(id)") else {
                    throw StoreError(.notFound, "host \(id) vanished during its enrollment")
                }
                return try Self.host(row)
            }
            guard let row = try await c.one("SELECT id, token_hash, revoked_at FROM hosts WHERE machine_id = \(e.machineID)") else {
                guard try await useSecret() else { return .secretUsedUp }
                try await c.execute("""
                    INSERT INTO hosts (id, machine_id, hostname, agent_version, token_hash, enrolled_at, last_seen_at)
                    VALUES (\(e.newHostID), \(e.machineID), \(hostname), \(agentVersion), \(e.newTokenHash), \(now), \(now))
                    """)
                return .created(try await fetch(e.newHostID))
            }
            let hostID: String = try row["id"]
            let revoked = (try row["revoked_at"] as Date?) != nil
            let tokenHash: String = try row["token_hash"]
            let proven = !revoked && e.currentTokenHash != nil && e.currentTokenHash == tokenHash
            var approved = false
            if !proven, let keyHash = e.keyHash {
                approved = try await c.one("""
                    SELECT 1 AS one FROM pending_enrollments WHERE host_id = \(hostID) AND key_hash = \(keyHash) AND approved_at IS NOT NULL
                    """) != nil
            }
            if proven || approved {
                guard try await useSecret() else { return .secretUsedUp }
                try await c.execute("""
                    UPDATE hosts SET hostname = \(hostname), agent_version = \(agentVersion), token_hash = \(e.newTokenHash),
                                     last_seen_at = \(now), revoked_at = NULL
                    WHERE id = \(hostID)
                    """)
                try await c.execute("DELETE FROM pending_enrollments WHERE host_id = \(hostID)")
                return .reenrolled(try await fetch(hostID))
            }
            guard let keyHash = e.keyHash else { return .pendingApproval(try await fetch(hostID), approvable: false) }
            // One pending request per host: a request with another key replaces it and loses
            // any approval (an approval is for the request the admin saw, never inherited).
            try await c.execute("""
                INSERT INTO pending_enrollments (host_id, key_hash, hostname, agent_version, requested_at)
                VALUES (\(hostID), \(keyHash), \(hostname), \(agentVersion), \(now))
                ON CONFLICT (host_id) DO UPDATE SET
                    hostname = EXCLUDED.hostname, agent_version = EXCLUDED.agent_version, requested_at = EXCLUDED.requested_at,
                    approved_at = CASE WHEN pending_enrollments.key_hash = EXCLUDED.key_hash THEN pending_enrollments.approved_at END,
                    approved_by = CASE WHEN pending_enrollments.key_hash = EXCLUDED.key_hash THEN pending_enrollments.approved_by END,
                    key_hash = EXCLUDED.key_hash
                """)
            return .pendingApproval(try await fetch(hostID), approvable: true)
        }
        switch outcome {
        case .created(let h), .reenrolled(let h): tokenCache.invalidate(hostID: h.id)
        case .pendingApproval, .secretUsedUp: break
        }
        return outcome
    }

    public func revokeHost(id: String, now: Date) async throws -> Bool {
        let done = try await write { c in
            try await c.count("UPDATE hosts SET revoked_at = \(now) WHERE id = \(id) AND revoked_at IS NULL RETURNING 1") == 1
        }
        tokenCache.invalidate(hostID: id)
        return done
    }

    public func approveEnrollment(hostID: String, by approver: String, now: Date) async throws -> Bool {
        try await write { c in
            try await c.count("""
                UPDATE pending_enrollments SET approved_at = \(now), approved_by = \(Self.text(String(approver.prefix(64))))
                WHERE host_id = \(hostID) RETURNING 1
                """) == 1
        }
    }

    public func enrollHost(id: String, machineID: String, hostname: String, agentVersion: String?, tokenHash: String,
                           secretID: Int64, now: Date) async throws -> (host: HostRecord, created: Bool) {
        let hostname = Self.text(hostname), agentVersion = Self.text(agentVersion)
        // Invalidated once the transaction has committed: a lookup that read the old token
        // before the commit then cannot cache it (see `HostTokenCache`). A failed transaction
        // changed nothing.
        let result = try await write { c -> (host: HostRecord, created: Bool) in
            try await c.execute("UPDATE enrollment_secrets SET use_count = use_count + 1, last_used_at = \(now) WHERE id = \(secretID)")
            if let existing = try await c.one("SELECT id FROM hosts WHERE machine_id = \(machineID)") {
                let existingID: String = try existing["id"]
                let row = try await c.one("""
                    UPDATE hosts SET hostname = \(hostname), agent_version = \(agentVersion), token_hash = \(tokenHash), last_seen_at = \(now)
                    WHERE id = \(existingID) RETURNING \(unescaped: Self.hostColumns)
                    """)
                return (try Self.host(row!), false)
            }
            let row = try await c.one("""
                INSERT INTO hosts (id, machine_id, hostname, agent_version, token_hash, enrolled_at, last_seen_at)
                VALUES (\(id), \(machineID), \(hostname), \(agentVersion), \(tokenHash), \(now), \(now))
                RETURNING \(unescaped: Self.hostColumns)
                """)
            return (try Self.host(row!), true)
        }
        tokenCache.invalidate(hostID: result.host.id)
        return result
    }

    public func host(tokenHash: String) async throws -> HostRecord? {
        if let host = tokenCache.host(tokenHash: tokenHash) { return host }
        let ticket = tokenCache.ticket()
        // One statement outside a transaction block (it is its own snapshot): the agents'
        // hot path, which BEGIN and COMMIT would make three round trips.
        let host = try await wrap {
            try await client.withConnection { connection in
                let c = PGConnection(connection: connection, logger: logger)
                return try await c.one("SELECT \(unescaped: Self.hostColumns) FROM hosts WHERE token_hash = \(tokenHash)").map(Self.host)
            }
        }
        if let host { tokenCache.insert(tokenHash: tokenHash, host: host, ticket: ticket) }
        return host
    }

    public func host(id: String) async throws -> HostRecord? {
        try await read { c in
            try await c.one("""
                SELECT \(unescaped: Self.hostDetailColumns) FROM hosts h LEFT JOIN pending_enrollments p ON p.host_id = h.id WHERE h.id = \(id)
                """).map(Self.host)
        }
    }

    public func hosts() async throws -> [HostRecord] {
        try await read { c in
            try await c.all("""
                SELECT \(unescaped: Self.hostDetailColumns) FROM hosts h LEFT JOIN pending_enrollments p ON p.host_id = h.id
                ORDER BY h.hostname COLLATE "C", h.id COLLATE "C"
                """).map(Self.host)
        }
    }

    // MARK: Users, tokens, sessions

    private static func user(_ row: PGRow) throws -> UserRecord {
        let name: String = try row["name"]
        guard let role = UserRole(rawValue: try row["role"]) else { throw StoreError(.corrupt, "user \(name) has an unknown role") }
        return UserRecord(name: name, role: role, createdAt: try row["created_at"])
    }

    public func addUser(name: String, role: UserRole, passwordHash: String, now: Date) async throws -> UserRecord {
        try await write { c in
            do {
                try await c.execute("""
                    INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (\(name), \(role.rawValue), \(passwordHash), \(now), \(now))
                    """)
            } catch where PGConnection.isUniqueViolation(error) {
                throw StoreError(.conflict, "a user named \(name) already exists; pick another name or use `admin user reset`")
            }
            return UserRecord(name: name, role: role, createdAt: now)
        }
    }

    public func resetPassword(name: String, passwordHash: String, now: Date) async throws -> Bool {
        try await write { c in
            // A password an admin set is known to two people: its owner changes it at first sign-in.
            guard try await c.count("""
                UPDATE users SET password_hash = \(passwordHash), updated_at = \(now), must_change_password = true WHERE name = \(name) RETURNING 1
                """) > 0 else { return false }
            // A new password ends the sessions opened with the old one.
            try await c.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = \(name))")
            return true
        }
    }

    public func removeUser(name: String) async throws -> Bool {
        try await write { c in try await c.count("DELETE FROM users WHERE name = \(name) RETURNING 1") > 0 }
    }

    public func users() async throws -> [UserRecord] {
        try await read { c in try await c.all("SELECT name, role, created_at FROM users ORDER BY name COLLATE \"C\"").map(Self.user) }
    }

    public func user(name: String) async throws -> (user: UserRecord, passwordHash: String)? {
        // PostgreSQL text cannot hold NUL, so no stored name has one (a sign-in form can send it).
        guard !name.utf8.contains(0) else { return nil }
        return try await read { c in
            guard let row = try await c.one("SELECT name, role, created_at, password_hash FROM users WHERE name = \(name)") else { return nil }
            return (try Self.user(row), try row["password_hash"])
        }
    }

    private static func apiToken(_ row: PGRow) throws -> APITokenRecord {
        let name: String = try row["name"]
        guard let role = UserRole(rawValue: try row["role"]) else { throw StoreError(.corrupt, "API token \(name) has an unknown role") }
        return APITokenRecord(id: try row["id"], name: name, role: role, createdAt: try row["created_at"],
                              expiresAt: try row["expires_at"], revokedAt: try row["revoked_at"])
    }

    private static let tokenColumns = "id, name, role, created_at, expires_at, revoked_at"

    public func createAPIToken(name: String, role: UserRole, hash: String, expiresAt: Date?, now: Date) async throws -> APITokenRecord {
        try await write { c in
            let row: PGRow?
            do {
                row = try await c.one("""
                    INSERT INTO api_tokens (name, role, token_hash, created_at, expires_at) VALUES (\(name), \(role.rawValue), \(hash), \(now), \(expiresAt))
                    RETURNING id
                    """)
            } catch where PGConnection.isUniqueViolation(error) {
                throw StoreError(.conflict, "an API token named \(name) already exists; revoke it or pick another name")
            }
            return APITokenRecord(id: try row!["id"], name: name, role: role, createdAt: now, expiresAt: expiresAt, revokedAt: nil)
        }
    }

    public func apiTokens() async throws -> [APITokenRecord] {
        try await read { c in try await c.all("SELECT \(unescaped: Self.tokenColumns) FROM api_tokens ORDER BY id DESC").map(Self.apiToken) }
    }

    public func revokeAPIToken(name: String, now: Date) async throws -> Bool {
        try await write(exclusive: false) { c in
            try await c.count("UPDATE api_tokens SET revoked_at = \(now) WHERE name = \(name) AND revoked_at IS NULL RETURNING 1") > 0
        }
    }

    public func apiToken(hash: String) async throws -> APITokenRecord? {
        try await read { c in
            try await c.one("SELECT \(unescaped: Self.tokenColumns) FROM api_tokens WHERE token_hash = \(hash)").map(Self.apiToken)
        }
    }

    public func createSession(userName: String, hash: String, expiresAt: Date, now: Date) async throws {
        // One statement: correct under READ COMMITTED on its own (a user removed meanwhile inserts nothing).
        try await write(exclusive: false) { c in
            guard try await c.count("""
                INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
                SELECT \(hash), id, \(now), \(expiresAt) FROM users WHERE name = \(userName) RETURNING 1
                """) == 1 else {
                throw StoreError(.notFound, "no user named \(userName)")
            }
        }
    }

    // MARK: Sessions

    public func webSession(hash: String, now: Date) async throws -> WebSessionUser? {
        try await read { c in
            try await c.one("""
                SELECT u.name, u.role, u.created_at, u.must_change_password FROM sessions s JOIN users u ON u.id = s.user_id
                WHERE s.token_hash = \(hash) AND s.expires_at > \(now)
                """).map { WebSessionUser(user: try Self.user($0), mustChangePassword: try $0["must_change_password"]) }
        }
    }

    public func deleteSession(hash: String) async throws {
        try await write(exclusive: false) { c in try await c.execute("DELETE FROM sessions WHERE token_hash = \(hash)") }
    }

    public func deleteExpiredSessions(now: Date) async throws -> Int {
        try await write(exclusive: false) { c in try await c.count("DELETE FROM sessions WHERE expires_at <= \(now) RETURNING 1") }
    }

    public func changePassword(name: String, passwordHash: String, keepingSession sessionHash: String?, now: Date) async throws -> Bool {
        try await write { c in
            guard try await c.count("""
                UPDATE users SET password_hash = \(passwordHash), updated_at = \(now), must_change_password = false WHERE name = \(name) RETURNING 1
                """) > 0 else { return false }
            // Every other session of the user ends: whoever knew the old password is signed out.
            try await c.execute("""
                DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = \(name)) AND token_hash IS DISTINCT FROM \(sessionHash)
                """)
            return true
        }
    }

    // MARK: Audit

    /// One audit row, fields cut to the column limits, in the caller's transaction (shared
    /// with `recordAudit`; `setRuleFix` and `deleteRuleFix` write theirs with it too).
    static func insertAudit(_ c: PGConnection, _ entry: AuditEntry) async throws {
        let actor = text(clippedScalars(entry.actor, 128).nonEmpty ?? "?"), action = text(clippedScalars(entry.action, 64))
        let target = text(clippedScalars(entry.target, 256)), detail = text(clippedScalars(entry.detail, 1024))
        try await c.execute("INSERT INTO audit_log (at, actor, action, target, detail) VALUES (\(entry.at), \(actor), \(action), \(target), \(detail))")
    }

    public func recordAudit(_ entry: AuditEntry) async throws {
        try await write(exclusive: false) { c in try await Self.insertAudit(c, entry) }
    }

    public func pruneAuditLog(before: Date) async throws -> Int {
        try await write(exclusive: false) { c in try await c.count("DELETE FROM audit_log WHERE at < \(before) RETURNING 1") }
    }

    public func auditLog(limit: Int, offset: Int) async throws -> [AuditEntry] {
        try await read { c in
            try await c.all("SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT \(limit) OFFSET \(offset)").map {
                AuditEntry(id: try $0["id"], at: try $0["at"], actor: try $0["actor"], action: try $0["action"], target: try $0["target"],
                           detail: try $0["detail"])
            }
        }
    }

    // MARK: Figures

    public func counts() async throws -> StoreCounts {
        try await read { c in
            let row = try await c.one("""
                SELECT (SELECT count(*) FROM hosts) AS hosts,
                       (SELECT count(*) FROM tickets WHERE status IN ('open', 'in_progress', 'waiting_on_user')) AS open_tickets,
                       (SELECT count(*) FROM bundles WHERE NOT expired) AS live,
                       (SELECT count(*) FROM bundles WHERE expired) AS expired
                """)!
            return StoreCounts(hosts: try row["hosts"], openTickets: try row["open_tickets"], liveBundles: try row["live"],
                               expiredBundles: try row["expired"])
        }
    }
}
