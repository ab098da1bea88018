import Foundation
import Shared
import Testing
@testable import Collector

/// Enrollment, host tokens, users and sessions on PostgreSQL where it differs from one SQLite
/// file: several collectors on one database, a database collation that is not byte order,
/// and text that PostgreSQL cannot hold. (The rest is the shared suites run with
/// `HELPLINE_TEST_STORE=postgres`.)
@Suite struct PostgresAccessTests {
    private static func request(machine: String, secretID: Int64) -> EnrollmentRequest {
        EnrollmentRequest(newHostID: UUID().uuidString.lowercased(), machineID: machine, hostname: machine, agentVersion: "1.0",
                          newTokenHash: Secrets.hash(Secrets.generate(.hostToken)), secretID: secretID, currentTokenHash: nil, keyHash: nil)
    }

    private static func newSecret(_ store: some CollectorStore, maxUses: Int?) async throws -> EnrollmentSecretRecord {
        try await store.createEnrollmentSecret(hash: Secrets.hash(Secrets.generate(.enrollmentSecret)), label: nil, expiresAt: nil,
                                               maxUses: maxUses, now: Date())
    }

    /// Two collectors enrolling two new machines at once with a secret that has one use left:
    /// exactly one gets a host, the other is told the secret is used up, and the count stops
    /// at the limit. Several rounds, so the two transactions really overlap.
    @Test func twoCollectorsCannotBothTakeASecretsLastUse() async throws {
        let url = try await TestPostgres.freshDatabase()
        let a = try PostgresStore(url: url), b = try PostgresStore(url: url)
        try await a.migrate()
        for round in 0..<12 {
            let secret = try await Self.newSecret(a, maxUses: 2)
            guard case .created = try await a.enroll(Self.request(machine: "first-\(round)", secretID: secret.id), now: Date()) else {
                throw TestPostgresError("round \(round): the first use of the secret did not create a host")
            }
            async let one = a.enroll(Self.request(machine: "a-\(round)", secretID: secret.id), now: Date())
            async let two = b.enroll(Self.request(machine: "b-\(round)", secretID: secret.id), now: Date())
            let outcomes = try await [one, two]
            let created = outcomes.filter { if case .created = $0 { true } else { false } }
            #expect(created.count == 1, "round \(round): \(outcomes)")
            #expect(outcomes.filter { $0 == .secretUsedUp }.count == 1, "round \(round): \(outcomes)")
            let stored = try await a.enrollmentSecrets().first { $0.id == secret.id }
            #expect(stored?.useCount == 2)
        }
        // 12 first uses and 12 race winners.
        #expect(try await b.hosts().count == 24)
        #expect(try await b.counts().hosts == 24)
        try await a.close(); try await b.close()
        await TestPostgres.drop(url)
    }

    /// A token that one collector replaced is refused by another collector at once, though it
    /// sat in that one's cache for an hour more: the `hosts` trigger's notification drops it.
    @Test func aTokenReplacedThroughAnotherCollectorIsRefusedThereAtOnce() async throws {
        let url = try await TestPostgres.freshDatabase()
        let here = try PostgresStore(url: url, tokenCacheMaxAge: .seconds(3600)), there = try PostgresStore(url: url)
        try await here.migrate()
        let secret = try await Self.newSecret(here, maxUses: nil)
        let old = Secrets.hash(Secrets.generate(.hostToken)), new = Secrets.hash(Secrets.generate(.hostToken))
        _ = try await there.enrollHost(id: "h1", machineID: "m1", hostname: "h", agentVersion: nil, tokenHash: old, secretID: secret.id, now: Date())
        // The cache is off until the listener runs.
        let listening = ContinuousClock.now + .seconds(10)
        while here.tokenCache.isSuspended && ContinuousClock.now < listening { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try await here.host(tokenHash: old)?.id == "h1")
        #expect(here.tokenCache.count == 1)
        _ = try await there.enrollHost(id: "ignored", machineID: "m1", hostname: "h", agentVersion: nil, tokenHash: new, secretID: secret.id, now: Date())
        #expect(try await there.host(tokenHash: old) == nil)
        // Notified within moments (the entry itself would live an hour).
        let deadline = ContinuousClock.now + .seconds(5)
        while here.tokenCache.count > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await here.host(tokenHash: old) == nil)
        #expect(try await here.host(tokenHash: new)?.id == "h1")
        try await here.close(); try await there.close()
        await TestPostgres.drop(url)
    }

    /// A database whose collation is not byte order (ICU en-US: "a" < "B" < "b") still lists
    /// hosts and users in SQLite's order (byte order).
    @Test func hostsAndUsersAreListedInSQLitesOrderWhateverTheCollation() async throws {
        let url = try await TestPostgres.freshDatabase(icuCollation: true)
        let pg = try PostgresStore(url: url)
        try await pg.migrate()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let lite = try SQLiteStore(path: dir.file("db.sqlite"))
        try await lite.migrate()
        let names = ["b-host", "B-host", "a-host", "Ä-host", "a_host", "a-Host"]
        for store in [pg, lite] as [any CollectorStore] {
            let secret = try await Self.newSecret(store, maxUses: nil)
            for (i, n) in names.enumerated() {
                _ = try await store.enrollHost(id: "h\(i)", machineID: "m\(i)", hostname: n, agentVersion: nil,
                                               tokenHash: Secrets.hash(Secrets.generate(.hostToken)), secretID: secret.id, now: Date())
                _ = try await store.addUser(name: n, role: .technician, passwordHash: "x", now: Date())
            }
        }
        let sqliteHosts = try await lite.hosts().map(\.hostname)
        #expect(sqliteHosts == ["B-host", "a-Host", "a-host", "a_host", "b-host", "Ä-host"])
        #expect(try await pg.hosts().map(\.hostname) == sqliteHosts)
        #expect(try await pg.users().map(\.name) == (try await lite.users().map(\.name)))
        try await pg.close(); try await lite.close()
        await TestPostgres.drop(url)
    }

    /// PostgreSQL text cannot hold NUL, which SQLite's can: an agent's hostname, a failed
    /// sign-in's name in the audit log and a sign-in lookup with NUL work instead of failing
    /// the request.
    @Test func textWithNULIsStoredOrAnsweredInsteadOfFailing() async throws {
        let url = try await TestPostgres.freshDatabase()
        let store = try PostgresStore(url: url)
        try await store.migrate()
        let secret = try await Self.newSecret(store, maxUses: nil)
        var request = Self.request(machine: "m1", secretID: secret.id)
        request.hostname = "bad\u{0}host"
        request.agentVersion = "1.0\u{0}"
        guard case .created(let host) = try await store.enroll(request, now: Date()) else {
            throw TestPostgresError("the enrollment did not create a host")
        }
        #expect(host.hostname == "bad\u{FFFD}host" && host.agentVersion == "1.0\u{FFFD}")
        #expect(try await store.user(name: "ad\u{0}min") == nil)
        try await store.recordAudit(AuditEntry(at: Date(), actor: "ad\u{0}min", action: "sign_in_failed", target: "web", detail: "x\u{0}"))
        let entry = try await store.auditLog(limit: 1, offset: 0).first
        #expect(entry?.actor == "ad\u{FFFD}min" && entry?.detail == "x\u{FFFD}")
        try await store.close()
        await TestPostgres.drop(url)
    }
}
