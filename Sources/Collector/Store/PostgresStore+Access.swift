import Foundation
import PostgresNIO
import Shared

// STUB: replaced by the PostgreSQL implementation of this group (see PostgresStore.swift).
extension PostgresStore {
    public func isInitialized() async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func initialize(enrollmentSecretHash: String, adminName: String, adminPasswordHash: String, now: Date) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func createEnrollmentSecret(hash: String, label: String?, expiresAt: Date?, maxUses: Int?, now: Date) async throws -> EnrollmentSecretRecord {
        throw Self.notBuilt(#function)
    }

    public func enrollmentSecrets() async throws -> [EnrollmentSecretRecord] {
        throw Self.notBuilt(#function)
    }

    public func revokeEnrollmentSecret(id: Int64, now: Date) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func enrollmentSecret(hash: String) async throws -> EnrollmentSecretRecord? {
        throw Self.notBuilt(#function)
    }

    public func enroll(_ request: EnrollmentRequest, now: Date) async throws -> EnrollmentOutcome {
        throw Self.notBuilt(#function)
    }

    public func revokeHost(id: String, now: Date) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func approveEnrollment(hostID: String, by approver: String, now: Date) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func enrollHost(id: String, machineID: String, hostname: String, agentVersion: String?, tokenHash: String,
                    secretID: Int64, now: Date) async throws -> (host: HostRecord, created: Bool) {
        throw Self.notBuilt(#function)
    }

    public func host(tokenHash: String) async throws -> HostRecord? {
        throw Self.notBuilt(#function)
    }

    public func host(id: String) async throws -> HostRecord? {
        throw Self.notBuilt(#function)
    }

    public func hosts() async throws -> [HostRecord] {
        throw Self.notBuilt(#function)
    }

    public func addUser(name: String, role: UserRole, passwordHash: String, now: Date) async throws -> UserRecord {
        throw Self.notBuilt(#function)
    }

    public func resetPassword(name: String, passwordHash: String, now: Date) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func removeUser(name: String) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func users() async throws -> [UserRecord] {
        throw Self.notBuilt(#function)
    }

    public func user(name: String) async throws -> (user: UserRecord, passwordHash: String)? {
        throw Self.notBuilt(#function)
    }

    public func createAPIToken(name: String, role: UserRole, hash: String, expiresAt: Date?, now: Date) async throws -> APITokenRecord {
        throw Self.notBuilt(#function)
    }

    public func apiTokens() async throws -> [APITokenRecord] {
        throw Self.notBuilt(#function)
    }

    public func revokeAPIToken(name: String, now: Date) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func apiToken(hash: String) async throws -> APITokenRecord? {
        throw Self.notBuilt(#function)
    }

    public func createSession(userName: String, hash: String, expiresAt: Date, now: Date) async throws {
        throw Self.notBuilt(#function)
    }

    public func sessionUser(hash: String, now: Date) async throws -> UserRecord? {
        throw Self.notBuilt(#function)
    }

    public func webSession(hash: String, now: Date) async throws -> WebSessionUser? {
        throw Self.notBuilt(#function)
    }

    public func deleteSession(hash: String) async throws {
        throw Self.notBuilt(#function)
    }

    public func deleteExpiredSessions(now: Date) async throws -> Int {
        throw Self.notBuilt(#function)
    }

    public func changePassword(name: String, passwordHash: String, keepingSession sessionHash: String?, now: Date) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func recordAudit(_ entry: AuditEntry) async throws {
        throw Self.notBuilt(#function)
    }

    public func pruneAuditLog(before: Date) async throws -> Int {
        throw Self.notBuilt(#function)
    }

    public func auditLog(limit: Int, offset: Int) async throws -> [AuditEntry] {
        throw Self.notBuilt(#function)
    }

    public func counts() async throws -> StoreCounts {
        throw Self.notBuilt(#function)
    }
}
