import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import Diagnosis
@testable import Collector
@testable import Shared

/// `export` / `import` between SQLite and PostgreSQL, and `migrate`.
@Suite struct TransferTests {
    static let finding = Finding(ruleID: "disk.space_low", category: .disk, severity: .high, confidence: 0.9, title: "Disk almost full",
                                 detail: "/ is 97% full", userAdvice: "Delete some files", technicianAdvice: "Check /var/log")

    /// Fills a collector through the API: hosts, bundles → tickets, findings, an incident,
    /// the journal index, comments, heartbeats, a saved query, audit rows, integration events.
    static func fill(_ tc: TestCollector) async throws {
        try await tc.app().test(.router) { client in
            let api = try await tc.apiToken(role: .admin)
            let auth: HTTPFields = [.authorization: "Bearer \(api)"]
            for i in 0..<3 {
                let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "machine-\(i)", hostname: "laptop-\(i)")
                let manifest = sampleManifest(hostID: host.hostID, machineID: "machine-\(i)", note: "it's \"slow\"\nsince ünïcode 🚀")
                let receipt = try decode(BundleReceipt.self, try await upload(client, token: host.hostToken, try makeBundle(manifest: manifest, journalEntries: 30)))
                let beat = Heartbeat(host: HostIdentity(hostID: host.hostID, hostname: "laptop-\(i)"), sentAt: Date(timeIntervalSince1970: 1_790_000_000.123),
                                     agentVersion: "0.1.0", spooledBundles: i)
                let response = try await client.execute(uri: "/api/v1/heartbeats", method: .post, headers: [
                    .authorization: "Bearer \(host.hostToken)", .contentType: "application/json",
                ], body: ByteBuffer(bytes: try BundleJSON.encoder().encode(beat)))
                #expect(response.status == .accepted)
                let comment = try await client.execute(uri: "/api/v1/tickets/\(receipt.ticketID)/comments", method: .post,
                                                       headers: auth + [.contentType: "application/json"],
                                                       body: ByteBuffer(string: #"{"body":"Please restart \"NetworkManager\"","visibleToUser":\#(i % 2 == 0)}"#))
                #expect(comment.status == .created)
                // The journal view builds the index; the raw download writes an audit row.
                #expect(try await client.execute(uri: "/api/v1/bundles/\(manifest.bundleID)/journal?limit=5", method: .get, headers: auth).status == .ok)
                #expect(try await client.execute(uri: "/api/v1/bundles/\(manifest.bundleID)/raw", method: .get, headers: auth).status == .ok)
            }
        }
        _ = try await tc.store.saveQuery(name: "full disks", sql: "SELECT hostname FROM disks WHERE used_percent > 90", owner: "admin",
                                         shared: true, policy: nil, now: Date(timeIntervalSince1970: 1_790_000_001.5))
        try await tc.store.recordAudit(AuditEntry(id: 0, at: Date(timeIntervalSince1970: 1_790_000_002.25), actor: "admin", action: "sign_in",
                                                  target: "web", detail: "from 127.0.0.1"))
    }

    /// A transfer file's header and rows by table.
    static func contents(_ path: String) throws -> (header: TransferHeader, rows: [String: [[String: TransferValue]]]) {
        let reader = try TransferReader(path: path)
        var rows: [String: [[String: TransferValue]]] = [:]
        while let row = try reader.next() { rows[row.table, default: []].append(row.values) }
        return (reader.header, rows)
    }

    /// Every table's row count.
    static func counts(_ store: any StoreTransfer, _ dir: TempDir) async throws -> [String: Int] {
        let path = dir.file("counts-\(UUID().uuidString).jsonl.gz")
        let header = try await store.exportRows(to: path, collectorVersion: "test")
        return Dictionary(uniqueKeysWithValues: header.tables.map { ($0.name, $0.rows) })
    }

    static func freshSQLite(_ dir: TempDir) async throws -> SQLiteStore {
        let store = try SQLiteStore(path: dir.file("\(UUID().uuidString).sqlite"))
        try await store.migrate()
        return store
    }

    static func freshPostgres() async throws -> PostgresStore {
        let store = try PostgresStore(url: try await TestPostgres.freshDatabase())
        try await store.migrate()
        return store
    }

    static func drop(_ store: PostgresStore) async {
        try? await store.close()
        let name = store.location.split(separator: "/").last.map(String.init) ?? ""
        if let admin = try? TestPostgres.adminURL(), var c = URLComponents(string: admin) {
            c.path = "/" + name
            await TestPostgres.drop(c.string!)
        }
    }

    @Test func sqliteToPostgresAndBackKeepsEveryRow() async throws {
        let tc = try await TestCollector(limits: ["incident_hosts": 2], diagnoser: FixedDiagnoser(findings: [Self.finding]))
        let dir = try TempDir()
        let pg = try await Self.freshPostgres()
        let sqlite = try await Self.freshSQLite(dir)
        defer { Task { await tc.close(); await Self.drop(pg); try? await sqlite.close(); dir.cleanup() } }
        try await Self.fill(tc)
        let source = try #require(tc.store as? any StoreTransfer)

        let a = dir.file("a.jsonl.gz"), b = dir.file("b.jsonl.gz"), c = dir.file("c.jsonl.gz")
        let exported = try await source.exportRows(to: a, collectorVersion: "1.2.3")
        #expect(!FileManager.default.fileExists(atPath: a + ".partial"))
        let imported = try await pg.importRows(from: a)
        #expect(imported == exported)
        let fromPG = try await pg.exportRows(to: b, collectorVersion: "1.2.3")
        #expect(fromPG.source == "postgresql")
        _ = try await sqlite.importRows(from: b)
        let fromSQLite = try await sqlite.exportRows(to: c, collectorVersion: "1.2.3")
        #expect(fromSQLite.source == "sqlite")

        let (ha, ra) = try Self.contents(a), (hb, rb) = try Self.contents(b), (hc, rc) = try Self.contents(c)
        #expect(ha.schema == TransferSchema.current && hb.schema == ha.schema && hc.schema == ha.schema)
        #expect(Set(ha.tables.map(\.name)) == Set(hb.tables.map(\.name)))
        #expect(hb.tables == hc.tables)
        // Everything the brief names is in the file, so the comparison below means something.
        for table in ["hosts", "users", "tickets", "findings", "incidents", "incident_tickets", "ticket_comments", "journal_entries",
                      "journal_indexes", "heartbeats_latest", "health_history", "saved_queries", "audit_log", "integration_events",
                      "bundles", "ticket_bundles", "enrollment_secrets", "api_tokens", "collector_state"] {
            #expect((ra[table]?.count ?? 0) > 0, "no rows in \(table)")
        }
        #expect(!ha.tables.contains { $0.name.hasPrefix("journal_text") || $0.name.hasSuffix("migrations") })
        for table in ha.tables.map(\.name) {
            #expect(ra[table] ?? [] == rb[table] ?? [], "\(table) differs after SQLite → PostgreSQL")
            #expect(rb[table] ?? [] == rc[table] ?? [], "\(table) differs after PostgreSQL → SQLite")
        }
        // Reading through the stores: the same hosts and users (times in the file are whole
        // milliseconds, so a PostgreSQL source's microseconds are compared by id and name).
        #expect(try await pg.hosts() == sqlite.hosts())
        #expect(try await pg.users() == sqlite.users())
        #expect(try await pg.hosts().map { [$0.id, $0.hostname] } == tc.store.hosts().map { [$0.id, $0.hostname] })
        #expect(try await sqlite.users().map(\.name) == tc.store.users().map(\.name))
        // The journal text index was rebuilt on SQLite.
        let bundleID = try #require(ra["bundles"]?.first?["bundle_id"]).textValue
        let page = try await sqlite.journalPage(bundleID: bundleID, filter: BundleArchive.JournalFilter(text: "link down"), offset: 0, limit: 50)
        #expect(page?.entries.count == 3)

        // A new ticket continues the numbering on both.
        let maxTicket = try #require(ra["tickets"]?.compactMap { $0["id"]?.integerValue }.max())
        let hostID = try #require(ra["hosts"]?.first?["id"]).textValue
        let nextPG = try await pg.write { c in
            try await c.one("INSERT INTO tickets (host_id, priority, title, created_at, updated_at) VALUES (\(hostID), 'normal', 't', now(), now()) RETURNING id")!["id"] as Int64
        }
        #expect(nextPG == maxTicket + 1)
        let nextSQLite = try await sqlite.write { db in
            try db.execute(sql: "INSERT INTO tickets (host_id, priority, title, created_at, updated_at) VALUES (?, 'normal', 't', ?, ?)",
                           arguments: [hostID, Date(), Date()])
            return db.lastInsertedRowID
        }
        #expect(nextSQLite == maxTicket + 1)
    }

    @Test func importRefusesAStoreWithRowsAndChangesNothing() async throws {
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.finding]))
        let dir = try TempDir()
        let pg = try await Self.freshPostgres()
        defer { Task { await tc.close(); await Self.drop(pg); dir.cleanup() } }
        try await Self.fill(tc)
        let source = try #require(tc.store as? any StoreTransfer)
        let file = dir.file("x.jsonl.gz")
        _ = try await source.exportRows(to: file, collectorVersion: "test")
        let before = try await Self.counts(source, dir)
        // Into itself (it has tickets, hosts, users).
        let error = await #expect(throws: StoreError.self) { try await source.importRows(from: file) }
        #expect(error?.kind == .conflict)
        #expect(error?.message.contains("not empty") == true)
        #expect(error?.message.contains("tickets") == true)
        #expect(try await Self.counts(source, dir) == before)
        // A PostgreSQL store with one user only.
        _ = try await pg.addUser(name: "someone", role: .technician, passwordHash: "x", now: Date())
        let pgBefore = try await Self.counts(pg, dir)
        let refused = await #expect(throws: StoreError.self) { try await pg.importRows(from: file) }
        #expect(refused?.message.contains("1 users") == true)
        #expect(try await Self.counts(pg, dir) == pgBefore)
    }

    @Test func damagedFilesFailAndLeaveTheTargetEmpty() async throws {
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.finding]))
        let dir = try TempDir()
        let pg = try await Self.freshPostgres()
        let sqlite = try await Self.freshSQLite(dir)
        defer { Task { await tc.close(); await Self.drop(pg); try? await sqlite.close(); dir.cleanup() } }
        try await Self.fill(tc)
        let source = try #require(tc.store as? any StoreTransfer)
        let good = dir.file("good.jsonl.gz")
        _ = try await source.exportRows(to: good, collectorVersion: "test")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: good)))

        // Cut gzip; a flipped byte; whole lines missing at the end (valid gzip); a wrong count;
        // another schema.
        var variants: [(String, [UInt8], String)] = []
        variants.append(("cut", Array(bytes.prefix(bytes.count * 2 / 3)), "gzip"))
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x5a
        variants.append(("flipped", flipped, "damaged"))
        let (header, rows) = try Self.contents(good)
        var lines = try String(decoding: Self.gunzip(bytes), as: UTF8.self).split(separator: "\n").map(String.init)
        lines.removeLast(3)
        variants.append(("short", try gzip(Array((lines.joined(separator: "\n") + "\n").utf8)), "ends early"))
        var all = try String(decoding: Self.gunzip(bytes), as: UTF8.self).split(separator: "\n").map(String.init)
        all.remove(at: all.count - 2)
        all[all.count - 1] = #"{"end":true,"rows":\#(rows.values.reduce(0) { $0 + $1.count } - 1)}"#
        variants.append(("miscounted", try gzip(Array((all.joined(separator: "\n") + "\n").utf8)), "the header says"))
        var other = header
        other.schema = "v99_future"
        var renamed = try String(decoding: Self.gunzip(bytes), as: UTF8.self).split(separator: "\n").map(String.init)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        renamed[0] = String(decoding: try encoder.encode(other), as: UTF8.self)
        variants.append(("schema", try gzip(Array((renamed.joined(separator: "\n") + "\n").utf8)), "v99_future"))

        for (name, data, words) in variants {
            let path = dir.file("\(name).jsonl.gz")
            try Data(data).write(to: URL(fileURLWithPath: path))
            for target in [pg as any StoreTransfer, sqlite as any StoreTransfer] {
                let error = await #expect(throws: StoreError.self, "\(name)") { try await target.importRows(from: path) }
                #expect(error?.message.contains(words) == true, "\(name): \(error?.message ?? "")")
                #expect(try await Self.counts(target, dir).values.allSatisfy { $0 == 0 }, "\(name) left rows behind")
            }
        }
        if let schemaError = await #expect(throws: StoreError.self, performing: { try await pg.importRows(from: dir.file("schema.jsonl.gz")) }) {
            #expect(schemaError.message.contains(TransferSchema.current))
        }
    }

    /// PostgreSQL's migrations name the SQLite schema they equal: a migration added to one
    /// store without its twin in the other fails here.
    @Test func schemaNamesAgree() {
        let last = PostgresStore.migrations.last?.name ?? ""
        #expect(PostgresStore.transferSchemaNames[last] == SQLiteStore.migrator.migrations.last)
    }

    @Test func neutralTimesRoundTrip() {
        for t in [0.0, 1_790_000_000.123, 1_790_000_000.999_9, -86_400.5, 951_782_400.001] {
            let text = TransferTime.format(Date(timeIntervalSince1970: t))
            #expect(TransferTime.parse(text).map(TransferTime.format) == text)
        }
        #expect(TransferTime.format(Date(timeIntervalSince1970: 951_782_400.001)) == "2000-02-29 00:00:00.001")
        #expect(TransferTime.format(Date(timeIntervalSince1970: 1_790_000_000.999_9)) == "2026-09-21 14:13:20.999")
        #expect(TransferTime.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31 23:59:59.500")
        #expect(TransferTime.parse("2026-13-01 00:00:00.000") == nil)
        #expect(TransferTime.parse("2026-09-21T14:13:20Z") == nil)
    }

    @Test func migrateReportsWhatItApplied() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let configuration = try CollectorConfiguration(CollectorSettings(dataDir: dir.file("data")))
        let first = try await MigrateCommand.migrate(configuration)
        #expect(first.already.isEmpty)
        #expect(first.applied == SQLiteStore.migrator.migrations)
        let second = try await MigrateCommand.migrate(configuration)
        #expect(second.applied.isEmpty)
        #expect(second.already == SQLiteStore.migrator.migrations)

        let url = try await TestPostgres.freshDatabase()
        defer { Task { await TestPostgres.drop(url) } }
        let pgConfiguration = try CollectorConfiguration(CollectorSettings(dataDir: dir.file("data2"), database: url))
        // Two at once: each migration is applied once.
        let firstPG = try await MigrateCommand.migrate(pgConfiguration)
        #expect(firstPG.already.isEmpty && firstPG.applied == PostgresStore.migrations.map(\.name))
        let again = try await MigrateCommand.migrate(pgConfiguration)
        #expect(again.applied.isEmpty && again.already == PostgresStore.migrations.map(\.name))

        let unreachable = try CollectorConfiguration(CollectorSettings(dataDir: dir.file("data3"), database: "postgres://nobody@127.0.0.1:1/none?sslmode=disable"))
        let error = await #expect(throws: StoreError.self) { try await MigrateCommand.migrate(unreachable) }
        #expect(error?.kind == .unavailable)
        #expect(TransferCommands.exitCode(error!) == 2)
    }

    static func gunzip(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        let inflater = try GzipInflater()
        try bytes.withUnsafeBytes { raw in try inflater.decompress(raw) { out += $0 } }
        try inflater.finish()
        return out
    }
}

extension TransferValue {
    var integerValue: Int64? { if case .integer(let v) = self { return v }; return nil }
    var textValue: String { if case .text(let s) = self { return s }; return "" }
}
