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

    /// Polls `condition` for up to 10 s.
    private func waitFor(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { Issue.record("condition not met within 10 s"); return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
