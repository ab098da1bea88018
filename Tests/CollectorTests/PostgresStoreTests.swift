import Foundation
import Testing
@testable import Collector

/// The PostgreSQL store's own plumbing: URLs, migrations, errors. Everything a store does is
/// tested through the whole suite run with `HELPLINE_TEST_STORE=postgres` (scripts/test.sh).
@Suite struct PostgresStoreTests {
    @Test func urlsAreReadAndBadOnesNamed() throws {
        let tcp = try PostgresURL("postgres://alice:s%40cret@db.example:6543/helpline?sslmode=require")
        #expect(tcp.host == "db.example" && tcp.port == 6543 && tcp.user == "alice" && tcp.password == "s@cret")
        #expect(tcp.database == "helpline" && tcp.tls == .require)
        #expect(!tcp.redacted.contains("cret"))
        let socket = try PostgresURL("postgresql:///helpline?host=/run/postgresql")
        #expect(socket.socketPath == "/run/postgresql/.s.PGSQL.5432" && socket.tls == .disable)
        #expect(try PostgresURL("postgres://u@h/d").tls == .prefer)

        for (bad, why) in [("mysql://u@h/d", "not a postgres"), ("postgres://u@h/d?sslmode=verify-none", "sslmode"),
                           ("postgres://u@h/d?application_name=x", "unknown parameter"), ("postgres:///d", "no host"),
                           ("postgres://u@h/d?sslrootcert=/ca.pem", "needs sslmode=require"),
                           ("postgres://u:hunter2@h:0/d", "out of range")] {
            #expect { try PostgresURL(bad) } throws: { error in
                let message = (error as? StoreError)?.message ?? ""
                return message.contains(why) && !message.contains("hunter2")
            }
        }
    }

    @Test func configurationTakesAPostgresURLAndRefusesOthers() throws {
        let c = try CollectorConfiguration(CollectorSettings(dataDir: "/tmp/x", database: "postgres://u:p@127.0.0.1:5432/helpline"))
        #expect(c.postgresURL == "postgres://u:p@127.0.0.1:5432/helpline")
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(database: "postgres://u@h/d?sslmode=maybe")) }
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(database: "mysql://u@h/d")) }
    }

    @Test func migrationsApplyOnceEvenFromTwoCollectorsAtOnce() async throws {
        let url = try await TestPostgres.freshDatabase()
        let a = try PostgresStore(url: url), b = try PostgresStore(url: url)
        async let first: Void = a.migrate()
        async let second: Void = b.migrate()
        _ = try await (first, second)
        #expect(try await a.appliedMigrations() == PostgresStore.migrations.map(\.name))
        try await a.migrate()
        #expect(try await b.appliedMigrations() == PostgresStore.migrations.map(\.name))
        try await a.ping()
        try await a.close(); try await b.close()
        await TestPostgres.drop(url)
    }

    @Test func anUnreachableServerIsAClearError() async throws {
        let store = try PostgresStore(url: "postgres://u:p@127.0.0.1:1/helpline?sslmode=disable")
        await #expect { try await store.migrate() } throws: { error in
            let message = (error as? StoreError)?.message ?? ""
            return (error as? StoreError)?.kind == .unavailable && message.contains("127.0.0.1:1") && !message.contains(":p@")
        }
        try await store.close()
    }

    @Test func migrationStatementsSplitAtLineEnds() {
        let parts = PostgresStore.statements("""
            -- a comment; with a semicolon
            CREATE TABLE a (x text CHECK (x <> ';'));
            CREATE INDEX a_x ON a(x);
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM 1;
                RETURN NULL;
            END
            $$;
            """)
        #expect(parts.count == 3)
        #expect(parts.prefix(2) == ["CREATE TABLE a (x text CHECK (x <> ';'))", "CREATE INDEX a_x ON a(x)"])
        #expect(parts.last?.hasSuffix("END\n$$") == true)
    }

    @Test func aTokenChangedThroughOneCollectorLeavesEveryCacheAtOnce() async throws {
        let url = try await TestPostgres.freshDatabase()
        let here = try PostgresStore(url: url, tokenCacheMaxAge: .seconds(3600))
        let there = try PostgresStore(url: url)
        try await here.migrate()
        let old = String(repeating: "a", count: 64), new = String(repeating: "b", count: 64)
        try await there.write { c in
            try await c.execute("""
                INSERT INTO hosts (id, machine_id, hostname, token_hash, enrolled_at) VALUES ('h1', 'm1', 'laptop', \(old), now()),
                    ('h2', 'm2', 'desk', \(String(repeating: "c", count: 64)), now())
                """)
        }
        // The cache is suspended until the listener runs; then entries stay (an hour's max age).
        try await waitFor { !here.tokenCache.isSuspended }
        let host = HostRecord(id: "h1", machineID: "m1", hostname: "laptop", agentVersion: nil, enrolledAt: Date(), lastSeenAt: nil, revokedAt: nil)
        here.tokenCache.insert(tokenHash: old, host: host, ticket: here.tokenCache.ticket())
        var other = host; other.id = "h2"
        here.tokenCache.insert(tokenHash: String(repeating: "c", count: 64), host: other, ticket: here.tokenCache.ticket())
        #expect(here.tokenCache.count == 2)

        // Replaced through the other collector: gone here, the other host's entry kept.
        try await there.write { c in try await c.execute("UPDATE hosts SET token_hash = \(new) WHERE id = 'h1'") }
        try await waitFor { here.tokenCache.host(tokenHash: old) == nil }
        #expect(here.tokenCache.count == 1)
        // A change that does not touch the token (last seen) announces nothing.
        try await there.write { c in try await c.execute("UPDATE hosts SET last_seen_at = now() WHERE id = 'h2'") }
        try await Task.sleep(for: .milliseconds(300))
        #expect(here.tokenCache.count == 1)
        // Revoked through the other collector: gone too.
        try await there.write { c in try await c.execute("UPDATE hosts SET revoked_at = now() WHERE id = 'h2'") }
        try await waitFor { here.tokenCache.count == 0 }

        try await here.close(); try await there.close()
        await TestPostgres.drop(url)
    }

    @Test func aJobRunsOnOneCollectorAtATime() async throws {
        let url = try await TestPostgres.freshDatabase()
        let a = try PostgresStore(url: url), b = try PostgresStore(url: url)
        try await a.migrate()
        let gate = AsyncGate()
        // a holds "retention" while b tries it (skipped) and another job (runs).
        async let first = a.runExclusively("retention") { await gate.wait() }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await b.runExclusively("retention") {} == false)
        #expect(try await b.runExclusively("policies") {} == true)
        await gate.open()
        #expect(try await first == true)
        // Released, also after a pass that failed.
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await b.runExclusively("retention") { throw Boom() } }
        #expect(try await a.runExclusively("retention") {} == true)
        try await a.close(); try await b.close()
        await TestPostgres.drop(url)
    }

    @Test func aSharedDataDirectoryKeepsWhatAnotherCollectorIsWriting() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let shared = try BlobStore(dataDirectory: dir.path, shared: true)
        let digests = ["aa" + String(repeating: "1", count: 62), "bb" + String(repeating: "2", count: 62), "cc" + String(repeating: "3", count: 62)]
        for d in digests {
            try FileManager.default.createDirectory(atPath: shared.root + "/" + d.prefix(2), withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: shared.path(for: d), contents: Data("x".utf8))
        }
        FileManager.default.createFile(atPath: shared.temporary + "/upload-fresh", contents: Data())
        FileManager.default.createFile(atPath: shared.temporary + "/upload-old", contents: Data())
        let old = Date().addingTimeInterval(-BlobStore.sharedOrphanAge - 60)
        for path in [shared.path(for: digests[1]), shared.temporary + "/upload-old"] {
            try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: path)
        }
        // digests[0] is live; [1] is an old orphan; [2] is fresh (another collector's, not committed yet).
        #expect(shared.removeOrphans(liveDigests: [digests[0]]) == (temporary: 1, blobs: 1))
        #expect(Set(shared.digests()) == [digests[0], digests[2]])
        #expect(FileManager.default.fileExists(atPath: shared.temporary + "/upload-fresh"))
        // One collector alone (SQLite) removes every orphan at once.
        let own = try BlobStore(dataDirectory: dir.path)
        #expect(own.removeOrphans(liveDigests: [digests[0]]) == (temporary: 1, blobs: 1))
        #expect(own.digests() == [digests[0]])
    }

    /// Polls `condition` for up to 10 s.
    private func waitFor(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { Issue.record("condition not met within 10 s"); return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
