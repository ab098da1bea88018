import Foundation
import Testing
@testable import Collector

/// Settings layers, limits and first-start credentials.
@Suite struct ConfigurationTests {
    @Test func defaults() throws {
        let c = try CollectorConfiguration(CollectorSettings())
        #expect(c.host == "127.0.0.1")
        #expect(c.port == 8470)
        #expect(c.dataDirectory.hasSuffix("/helpline-data"))
        #expect(c.databasePath == c.dataDirectory + "/collector.sqlite")
        #expect(c.publicURL == "http://127.0.0.1:8470")
        #expect(c.isLoopback)
        #expect(c.limits == CollectorLimits())
    }

    @Test func fileThenEnvironmentThenFlags() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try """
            listen: 0.0.0.0:9000
            data_dir: /srv/helpline
            public_url: https://help.example.com/
            limits:
              max_concurrent_uploads: 3
              retention_days: 7
            """.write(toFile: dir.file("c.yaml"), atomically: true, encoding: .utf8)
        let file = try CollectorSettings.load(file: dir.file("c.yaml"))
        let env = try CollectorSettings.fromEnvironment(["HELPLINE_COLLECTOR_RETENTION_DAYS": "14", "HELPLINE_COLLECTOR_LISTEN": "127.0.0.1:9001"])
        let flags = CollectorSettings(listen: "127.0.0.1:9002")
        let c = try CollectorConfiguration(file.overlaid(by: env).overlaid(by: flags))
        #expect(c.port == 9002)
        #expect(c.dataDirectory == "/srv/helpline")
        #expect(c.publicURL == "https://help.example.com")
        #expect(c.limits.maxConcurrentUploads == 3)
        #expect(c.limits.retentionDays == 14)

        try #"{"database": "sqlite:/tmp/x.sqlite", "limits": {"max_bundle_bytes": 5}}"#.write(toFile: dir.file("c.json"), atomically: true, encoding: .utf8)
        let json = try CollectorConfiguration(try CollectorSettings.load(file: dir.file("c.json")))
        #expect(json.databasePath == "/tmp/x.sqlite")
        #expect(json.limits.bundleLimits.maxCompressedBytes == 5)
    }

    /// A misspelt key is an error naming it (decoding would skip it, and `tls_certifcate:`
    /// would quietly serve plain HTTP), at the top level, in an integration and its filter.
    @Test func aKeyTheCollectorDoesNotReadIsRefusedNamingIt() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let cases: [(String, String, String)] = [
            ("top.yaml", "listen: 127.0.0.1:9000\ntls_certifcate: /etc/helpline/c.pem\n", "unknown key 'tls_certifcate'"),
            ("top.json", #"{"listen": "127.0.0.1:9000", "publicurl": "https://h"}"#, "unknown key 'publicurl'"),
            ("integration.yaml", """
                integrations:
                  - name: jira
                    kind: jira
                    url: https://jira.example
                    ca_flie: /etc/ssl/corp.pem
                """, "unknown key 'ca_flie' in integration 1 'jira'"),
            ("filter.yaml", """
                integrations:
                  - name: hooks
                    kind: webhook
                    url: https://hooks.example
                    filter: {min_severity: high, hostname: "lab-*"}
                """, "unknown key 'hostname' in the filter of integration 1 'hooks'"),
        ]
        for (name, text, expected) in cases {
            try text.write(toFile: dir.file(name), atomically: true, encoding: .utf8)
            let error = #expect(throws: ConfigurationError.self) { try CollectorSettings.load(file: dir.file(name)) }
            #expect(error?.message.contains(expected) == true, "\(name): \(String(describing: error))")
        }
        // The shipped collector.conf loads (its uncommented keys; the commented limits are checked by packaging/check.sh).
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try String(contentsOf: root.appendingPathComponent("packaging/collector/collector.conf"), encoding: .utf8)
        try shipped.write(toFile: dir.file("shipped.yaml"), atomically: true, encoding: .utf8)
        #expect(throws: Never.self) { try CollectorSettings.load(file: dir.file("shipped.yaml")) }
    }

    @Test func mistakesAreExplained() throws {
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(listen: "8470")) }
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(database: "mysql://db/helpline")) }
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(database: "postgres://db/helpline?sslmode=maybe")) }
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(tlsCertificate: "/c.pem")) }
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(limits: ["no_such_limit": 1])) }
        #expect(throws: ConfigurationError.self) { try CollectorSettings.fromEnvironment(["HELPLINE_COLLECTOR_MAX_MEMBERS": "many"]) }
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(limits: ["max_concurrent_uploads": 0])) }
    }

    /// Every named limit takes both ends of its range and refuses one past each, saying which.
    @Test func everyLimitAtItsEdges() throws {
        #expect(CollectorLimits.entries.count >= 40)
        for (name, entry) in CollectorLimits.entries {
            for value in [entry.range.lowerBound, entry.range.upperBound] {
                var limits = CollectorLimits()
                try limits.set(name, value, source: "test")
                #expect(limits[keyPath: entry.path] == value, "\(name) = \(value)")
            }
            let below = entry.range.lowerBound.subtractingReportingOverflow(1), above = entry.range.upperBound.addingReportingOverflow(1)
            for value in [below, above].filter({ !$0.overflow }).map(\.partialValue) {
                var limits = CollectorLimits()
                let error = #expect(throws: ConfigurationError.self, "\(name) = \(value)") { try limits.set(name, value, source: "test") }
                #expect(error.map { "\($0)".contains(name) } == true, "\(name): the refusal names the limit")
                #expect(limits == CollectorLimits(), "\(name): a refused value changes nothing")
            }
        }
    }

    /// `sqlite_cache_mib` and `sqlite_checkpoint_pages` reach the connection that writes.
    @Test func sqliteSettingsReachTheWriter() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try SQLiteStore(path: dir.file("c.sqlite"), cacheMiB: 7, checkpointPages: 123)
        try await store.migrate()
        let (cache, checkpoint, sizeLimit) = try await store.writerPragmas()
        #expect(cache == -7 * 1024)
        #expect(checkpoint == 123)
        #expect(sizeLimit == 123 * 4096)
        try await store.close()
    }

    @Test func firstStartIssuesCredentialsOnceAndStoresOnlyHashes() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try SQLiteStore(path: dir.file("db.sqlite"))
        try await store.migrate()
        #expect(try await store.appliedMigrations() == ["v1_initial", "v2_incidents", "v3_enrollment_control", "v4_ticket_requester", "v5_web", "v6_journal_index", "v7_fleet", "v8_fleet_indexes", "v9_bundle_requests", "v10_policies", "v11_inventory", "v12_typed_history", "v13_integrations", "v14_diagnosis_subject", "v15_rule_knowledge", "v16_lean_heartbeat_writes", "v17_process_rows"])
        let creds = try #require(try await FirstStartCredentials.issueIfFirstStart(store: store))
        #expect(creds.lines[0] == "enrollment secret: \(creds.enrollmentSecret)")
        #expect(creds.lines[1] == "admin login: admin \(creds.adminPassword)")
        #expect(creds.enrollmentSecret.hasPrefix("hle_") && creds.enrollmentSecret.count >= 4 + 43)
        #expect(try await FirstStartCredentials.issueIfFirstStart(store: store) == nil)
        let admin = try #require(try await store.user(name: "admin"))
        #expect(admin.user.role == .admin)
        #expect(admin.passwordHash != creds.adminPassword)
        #expect(Secrets.verifyPassword(creds.adminPassword, hash: admin.passwordHash))
        #expect(try await store.enrollmentSecret(hash: Secrets.hash(creds.enrollmentSecret)) != nil)
        try await store.close()
        let raw = try Data(contentsOf: URL(fileURLWithPath: dir.file("db.sqlite")))
        #expect(raw.range(of: Data(creds.enrollmentSecret.utf8)) == nil)
        #expect(raw.range(of: Data(creds.adminPassword.utf8)) == nil)
    }
}
