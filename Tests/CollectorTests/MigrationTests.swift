import Foundation
import GRDB
import Testing
@testable import Collector
@testable import Shared

/// Stores filled by older versions open with this one: the migrations keep what is there and
/// the code reads it. Each test stops the migrator at an older version, writes rows as that
/// version's schema had them, then opens the file with `SQLiteStore` as `serve` does.
@Suite struct MigrationTests {
    static let at = Date(timeIntervalSince1970: 1_790_000_000)

    /// Before journal times were bounded, a bundle could store a finding last seen in year
    /// 33658, a date no SQLite date column reads back: its ticket now reads without that time
    /// instead of stopping the collector.
    @Test func aFindingLastSeenPastYear9999ReadsBackWithoutThatTime() async throws {
        var finding = IntegrationTests.finding
        finding.lastSeen = Self.at
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [finding]))
        defer { Task { await tc.close() } }
        let (ticket, _) = try await IntegrationTests.ticket(tc)
        #expect(try await tc.store.ticket(id: ticket)?.findings.first?.finding.lastSeen == Self.at)
        try await tc.sqliteStore.write { db in try db.execute(sql: "UPDATE findings SET last_seen = '33658-01-01 00:00:00.000'") }
        let detail = try #require(try await tc.store.ticket(id: ticket))
        #expect(detail.findings.count == 1 && detail.findings.first?.finding.lastSeen == nil)
    }

    /// The first schema (v1): a host, a technician, a bundle, its ticket with a finding and a
    /// reply. After every migration the ticket reads back whole, and the store takes heartbeats.
    @Test func aStoreFromTheFirstVersionKeepsItsTicketAndTakesHeartbeats() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.file("collector.sqlite")
        let hostID = UUID().uuidString.lowercased()
        let manifest = sampleManifest(hostID: hostID, note: "the wifi drops every hour")
        let finding = Finding(ruleID: "network.wifi_drops", category: .network, severity: .high, confidence: 0.8,
                              title: "Wi-Fi drops", detail: "d", userAdvice: "u", technicianAdvice: "t",
                              evidence: [Evidence(kind: "journal", label: "NetworkManager", value: "link down", time: Self.at, cursor: "s=1")])
        let encoder = BundleJSON.encoder()
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v1_initial")
            try await queue.write { db in
                try db.execute(sql: """
                    INSERT INTO hosts (id, machine_id, hostname, agent_version, token_hash, enrolled_at, last_seen_at)
                    VALUES (?, 'machine-1', 'laptop-42', '0.1.0', ?, ?, ?)
                    """, arguments: [hostID, String(repeating: "a", count: 64), Self.at, Self.at])
                try db.execute(sql: "INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES ('tina', 'technician', 'x', ?, ?)",
                               arguments: [Self.at, Self.at])
                try db.execute(sql: """
                    INSERT INTO bundles (bundle_id, host_id, sha256, compressed_bytes, uncompressed_bytes, journal_entries, reason,
                        created_at, received_at, manifest, members, receipt)
                    VALUES (?, ?, ?, 100, 1000, 2, 'user_request', ?, ?, ?, '[]', '{}')
                    """, arguments: [manifest.bundleID, hostID, String(repeating: "b", count: 64), Self.at, Self.at,
                                     String(decoding: try encoder.encode(manifest), as: UTF8.self)])
                try db.execute(sql: """
                    INSERT INTO tickets (host_id, priority, title, note, assignee, top_rule_id, created_at, updated_at)
                    VALUES (?, 'high', 'Wi-Fi drops', 'the wifi drops every hour', 'tina', 'network.wifi_drops', ?, ?)
                    """, arguments: [hostID, Self.at, Self.at])
                try db.execute(sql: "INSERT INTO ticket_bundles (ticket_id, bundle_row, joined_at) VALUES (1, 1, ?)", arguments: [Self.at])
                try db.execute(sql: """
                    INSERT INTO findings (ticket_id, bundle_row, rule_id, category, severity, confidence, title, detail, user_advice,
                        technician_advice, evidence, rank) VALUES (1, 1, ?, 'network', 'high', 0.8, 'Wi-Fi drops', 'd', 'u', 't', ?, 0)
                    """, arguments: [finding.ruleID, String(decoding: try encoder.encode(finding.evidence), as: UTF8.self)])
                try db.execute(sql: "INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at) VALUES (1, 'tina', 'Please restart.', 1, ?)",
                               arguments: [Self.at])
            }
            try queue.close()
        }

        let store = try SQLiteStore(path: path, tokenCacheCapacity: 0)
        try await store.migrate()
        #expect(try await store.appliedMigrations() == SQLiteStore.migrator.migrations)
        let detail = try #require(try await store.ticket(id: 1))
        #expect(detail.ticket.title == "Wi-Fi drops" && detail.ticket.status == .open && detail.ticket.priority == .high)
        #expect(detail.ticket.assignee == "tina" && detail.ticket.hostname == "laptop-42" && detail.ticket.requestedBy == nil)
        #expect(detail.note == "the wifi drops every hour")
        #expect(detail.findings.map(\.finding.ruleID) == ["network.wifi_drops"] && detail.findings.first?.finding.evidence == finding.evidence)
        #expect(detail.findings.first?.bundleID == manifest.bundleID && detail.findings.first?.knownFix == nil)
        #expect(detail.comments.map(\.body) == ["Please restart."])
        #expect(detail.bundles.map(\.bundleID) == [manifest.bundleID] && detail.bundles.first?.manifest == manifest)
        #expect(try await store.users().map(\.name) == ["tina"])

        // The tables later versions added take this host's heartbeats.
        let beat = FleetQueryTests.heartbeat(hostID, hostname: "laptop-42", rootUsed: 95.5, at: Self.at)
        try await store.recordHeartbeats([HeartbeatRow(hostID: hostID, receivedAt: Date(), heartbeat: beat)])
        #expect(try await store.latestHeartbeat(hostID: hostID)?.heartbeat == beat)
        #expect(try await store.healthHistory(hostID: hostID, limit: 10).count == 1)
        try await Self.checkIntegrity(store)
        try await store.close()
    }

    /// v16 rebuilt `host_health` (clustered by host) and replaced the disk indexes: every row a
    /// v15 store held comes through with every column, and the dashboard's indexes exist.
    @Test func theHostHealthRebuildKeepsEveryRowAndColumn() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.file("collector.sqlite")
        let hosts = (0..<300).map { _ in UUID().uuidString.lowercased() }
        let healthSQL = "SELECT * FROM host_health ORDER BY host_id"
        let disksSQL = "SELECT * FROM host_disks ORDER BY host_id, mount_point"
        let before: (health: [[DatabaseValue]], disks: [[DatabaseValue]])
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v15_rule_knowledge")
            before = try await queue.write { db in
                for (i, id) in hosts.enumerated() {
                    try db.execute(sql: """
                        INSERT INTO hosts (id, machine_id, hostname, agent_version, token_hash, enrolled_at, last_seen_at)
                        VALUES (?, ?, ?, '0.3.0', ?, ?, ?)
                        """, arguments: [id, "m-\(i)", "host-\(i)", String(format: "%064x", i), Self.at, Self.at])
                    let d = Double(i)
                    try db.execute(sql: """
                        INSERT INTO host_health (host_id, received_at, sent_at, agent_version, os_id, os_version, os_name, kernel, cpu_model,
                            cpu_count, uptime_seconds, load1, load5, load15, memory_total_bytes, memory_available_bytes, memory_used_percent,
                            swap_total_bytes, swap_used_percent, psi_cpu_some_avg10, psi_memory_some_avg10, psi_memory_full_avg10,
                            psi_io_some_avg10, psi_io_full_avg10, oom_kills, max_disk_used_percent, failed_unit_count, spooled_bundles)
                        VALUES (?, ?, ?, ?, 'debian', '12', 'Debian GNU/Linux 12', ?, 'CPU', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [id, Self.at.addingTimeInterval(d), Self.at, "0.\(i % 4).0", "6.1.0-\(i % 7)", i % 16 + 1, d * 60,
                                         d / 100, d / 200, d / 300, 8 << 30, (i % 2 == 0 ? nil : 1 << 30) as Int?, d.truncatingRemainder(dividingBy: 100),
                                         4 << 30, d / 10, d / 50, Double(i % 30), d / 70, d / 80, d / 90, i % 3, Double(i % 101), i % 4, i % 5])
                    for (m, used) in [("/", Double(i % 101)), ("/home", 91.5), ("/media/cdrom", 100)] {
                        try db.execute(sql: """
                            INSERT INTO host_disks (host_id, mount_point, device, fs_type, read_only, size_bytes, used_bytes, available_bytes,
                                used_percent, inodes_used_percent) VALUES (?, ?, '/dev/sda1', ?, ?, 1000, ?, ?, ?, 3.5)
                            """, arguments: [id, m, m == "/media/cdrom" ? "iso9660" : "ext4", m == "/media/cdrom", Int(used * 10), 1000 - Int(used * 10), used])
                    }
                }
                return (try Self.values(db, healthSQL), try Self.values(db, disksSQL))
            }
            try queue.close()
        }
        #expect(before.health.count == 300 && before.disks.count == 900)

        let store = try SQLiteStore(path: path, tokenCacheCapacity: 0)
        try await store.migrate()
        try await store.close()
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        try await queue.read { db in
            #expect(try Self.values(db, healthSQL) == before.health)
            #expect(try Self.values(db, disksSQL) == before.disks)
            let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'host_health'") ?? ""
            #expect(sql.contains("WITHOUT ROWID"))
            let indexes = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('host_health', 'host_disks')"))
            #expect(indexes.isSuperset(of: ["host_health_agent_version", "host_health_kernel", "host_health_memory_pressure", "host_disks_full"]))
            #expect(indexes.isDisjoint(with: ["host_disks_used", "host_disks_writable_used"]))
            // The dashboard's full-disk query walks the partial index and finds the writable ones.
            let full = try Int.fetchOne(db, sql: "SELECT count(*) FROM host_disks WHERE used_percent > 90 AND read_only = 0") ?? 0
            #expect(full == 300 + hosts.indices.filter { $0 % 101 > 90 }.count, "every /home, and the roots over 90 %")
            #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
            #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
        }
    }

    /// v17 stores the latest heartbeat without its processes: one stored before keeps them in
    /// its JSON and reads back as it was; the next is stored with `"topProcesses":[]` and its
    /// processes come back from the rows.
    @Test func aLatestHeartbeatFromBeforeV17KeepsItsProcessesAndTheNextIsStoredWithout() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.file("collector.sqlite")
        let host = UUID().uuidString.lowercased()
        var old = FleetQueryTests.heartbeat(host, hostname: "laptop-42", rootUsed: 50, at: Self.at)
        old.topProcesses.append(ProcessRecord(pid: 7, ppid: 1, uid: 0, state: "S", name: "sshd", commandLine: "sshd: /usr/sbin/sshd -D",
                                              threads: 1, rssBytes: 1 << 20, startTime: Self.at, cpuPercent: 0, topMemory: true))
        let oldJSON = String(decoding: try BundleJSON.encoder().encode(old), as: UTF8.self)
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v16_lean_heartbeat_writes")
            try await queue.write { db in
                try db.execute(sql: """
                    INSERT INTO hosts (id, machine_id, hostname, agent_version, token_hash, enrolled_at, last_seen_at)
                    VALUES (?, 'm', 'laptop-42', '0.1.0', ?, ?, ?)
                    """, arguments: [host, String(repeating: "a", count: 64), Self.at, Self.at])
                try db.execute(sql: "INSERT INTO heartbeats_latest (host_id, received_at, sent_at, body) VALUES (?, ?, ?, ?)",
                               arguments: [host, Self.at, Self.at, oldJSON])
            }
            try queue.close()
        }
        let store = try SQLiteStore(path: path, tokenCacheCapacity: 0)
        try await store.migrate()
        #expect(try await store.latestHeartbeat(hostID: host)?.heartbeat == old)

        var next = old
        next.sentAt = Self.at.addingTimeInterval(60)
        next.topProcesses.reverse()
        try await store.recordHeartbeats([HeartbeatRow(hostID: host, receivedAt: Self.at.addingTimeInterval(61), heartbeat: next)])
        #expect(try await store.latestHeartbeat(hostID: host)?.heartbeat == next)
        let body = try await store.read { db in try String.fetchOne(db, sql: "SELECT body FROM heartbeats_latest WHERE host_id = ?", arguments: [host]) }
        let stored = try BundleJSON.decoder().decode(Heartbeat.self, from: Data(try #require(body).utf8))
        #expect(stored.topProcesses.isEmpty && !(body ?? "").contains("sshd"))
        var withoutProcesses = next
        withoutProcesses.topProcesses = []
        #expect(stored == withoutProcesses)
        try await Self.checkIntegrity(store)
        try await store.close()
    }

    /// Every row's values, in column order.
    static func values(_ db: Database, _ sql: String) throws -> [[DatabaseValue]] {
        try Row.fetchAll(db, sql: sql).map { Array($0.databaseValues) }
    }

    static func checkIntegrity(_ store: SQLiteStore) async throws {
        let path = store.path
        let queue = try DatabaseQueue(path: path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        defer { try? queue.close() }
        let (integrity, foreignKeys) = try await queue.read { db in
            (try String.fetchAll(db, sql: "PRAGMA integrity_check"), try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").count)
        }
        #expect(integrity == ["ok"] && foreignKeys == 0)
    }
}
