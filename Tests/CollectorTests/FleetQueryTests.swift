import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// Fleet queries: typed heartbeat rows, the documented views, and a sandbox the database
/// engine enforces.
@Suite struct FleetQueryTests {
    static func heartbeat(_ hostID: String, hostname: String, rootUsed: Double, memoryAvailablePercent: UInt64 = 50,
                          failed: [String] = [], at: Date = Date()) -> Heartbeat {
        let gib: UInt64 = 1 << 30
        return Heartbeat(
            host: HostIdentity(hostID: hostID, hostname: hostname), sentAt: at, agentVersion: "0.1.0",
            system: SystemInfo(hostname: hostname, osRelease: .init(id: "debian", versionID: "12", prettyName: "Debian GNU/Linux 12 (bookworm)"),
                               kernel: .init(sysname: "Linux", release: "6.1.0-18-amd64", version: "#1", machine: "x86_64"), uptimeSeconds: 3600,
                               loadAverage: [0.5, 0.4, 0.3]),
            memory: MemoryInfo(totalBytes: 16 * gib, availableBytes: 16 * gib * memoryAvailablePercent / 100, freeBytes: gib, buffersBytes: 0,
                               cachedBytes: 0, swapTotalBytes: 2 * gib, swapFreeBytes: gib,
                               pressure: ["memory": PressureStall(some: .init(avg10: 12.5, avg60: 3, avg300: 1, totalMicroseconds: 9))], oomKills: 2),
            filesystems: [
                FilesystemUsage(mountPoint: "/", device: "/dev/nvme0n1p2", fsType: "ext4", readOnly: false, sizeBytes: 256 * gib,
                                usedBytes: UInt64(Double(256 * gib) * rootUsed / 100), availableBytes: UInt64(Double(256 * gib) * (100 - rootUsed) / 100),
                                usedPercent: rootUsed, inodesTotal: 100, inodesUsed: 1, inodesUsedPercent: 1),
                FilesystemUsage(mountPoint: "/boot/efi", device: "/dev/nvme0n1p1", fsType: "vfat", readOnly: false, sizeBytes: gib,
                                usedBytes: gib / 10, availableBytes: gib * 9 / 10, usedPercent: 10, inodesTotal: 0, inodesUsed: 0, inodesUsedPercent: 0),
            ],
            topProcesses: [ProcessRecord(pid: 42, ppid: 1, uid: 1000, user: "alice", state: "R", name: "firefox-esr", commandLine: "/usr/lib/firefox-esr/firefox-esr",
                                         threads: 80, rssBytes: 2 * gib, cpuPercent: 150)],
            failedUnits: failed.map { UnitRecord(name: $0, description: "d", loadState: "loaded", activeState: "failed", subState: "failed", result: "exit-code") },
            spooledBundles: 1)
    }

    /// A store with three hosts' heartbeats; answers the test collector and the host ids.
    static func fleet() async throws -> (TestCollector, [String]) {
        let tc = try await TestCollector()
        var ids: [String] = []
        for (i, name) in ["alpha", "beta", "gamma"].enumerated() {
            let id = UUID().uuidString.lowercased()
            _ = try await tc.store.enrollHost(id: id, machineID: "m-\(name)", hostname: name, agentVersion: "0.1.0",
                                              tokenHash: Secrets.hash(Secrets.generate(.hostToken)), secretID: 1, now: Date())
            ids.append(id)
            let beat = heartbeat(id, hostname: name, rootUsed: [95.5, 40, 90][i], failed: i == 1 ? ["cups.service"] : [])
            try await tc.store.recordHeartbeats([HeartbeatRow(hostID: id, receivedAt: Date(), heartbeat: beat)])
        }
        return (tc, ids)
    }

    /// SQLite's sandbox on the store's file itself (tests of SQLite's confinement).
    static func sandbox(_ tc: TestCollector, rows: Int = 100) -> QuerySandbox {
        QuerySandbox(databasePath: tc.configuration.databasePath, maxRows: rows, maxSQLBytes: 4096)
    }

    /// The engine the collector uses for this store (SQLite's sandbox, or PostgreSQL's with
    /// `HELPLINE_TEST_STORE=postgres`).
    static func queries(_ tc: TestCollector, rows: Int = 100) -> TestQueries {
        var configuration = tc.configuration
        configuration.limits.queryMaxRows = rows
        configuration.limits.queryMaxSQLBytes = 4096
        return TestQueries(queries: FleetQueries(configuration: configuration, reads: BlobReadPool(limit: 2, budget: .seconds(30), retryAfter: 1),
                                                 store: tc.store))
    }

    /// `FleetQueries.answer` as a throwing call.
    struct TestQueries: Sendable {
        let queries: FleetQueries
        func run(_ sql: String, deadline: ContinuousClock.Instant) async throws(QueryError) -> QueryResult {
            try await queries.answer(sql, deadline: deadline).get()
        }
    }

    /// The dashboard's built-in queries, rewritten for 100,000 hosts (BENCHMARKS.md), still
    /// answer what their titles say; and the views that read `hostname` by subquery name
    /// the right host.
    @Test func dashboardQueriesAnswerOnTheFixtureFleet() async throws {
        let (tc, ids) = try await Self.fleet()
        defer { Task { await tc.close() } }
        let q = Self.queries(tc)
        var answers: [String: QueryResult] = [:]
        for item in WebController.dashboard {
            answers[item.title] = try await q.run(item.sql, deadline: .now + .seconds(5))
        }
        #expect(answers["Disks over 90 %"]?.rows.map { $0.prefix(3) } == [[.text("alpha"), .text("/"), .real(95.5)]])
        #expect(answers["Failed units"]?.rows == [[.text("cups.service"), .integer(1)]])
        #expect(answers["Agent versions"]?.rows == [[.text("0.1.0"), .integer(3)]])
        #expect(answers["Kernels"]?.rows == [[.text("6.1.0-18-amd64"), .integer(3)]])
        #expect(answers["Not seen for 7 days"]?.rows == [])
        #expect(answers["Memory pressure"]?.rows.count == 3)
        let named = try await q.run("SELECT hostname, kernel FROM health WHERE host_id = '\(ids[1])'", deadline: .now + .seconds(5))
        #expect(named.rows == [[.text("beta"), .text("6.1.0-18-amd64")]])
    }

    @Test func viewsAnswerFromTypedHeartbeatRows() async throws {
        let (tc, _) = try await Self.fleet()
        defer { Task { await tc.close() } }
        let q = Self.queries(tc)
        let full = try await q.run("SELECT hostname, mount_point, used_percent FROM disks WHERE used_percent >= 90 ORDER BY hostname", deadline: .now + .seconds(5))
        #expect(full.columns == ["hostname", "mount_point", "used_percent"])
        #expect(full.rows == [[.text("alpha"), .text("/"), .real(95.5)], [.text("gamma"), .text("/"), .real(90)]])
        let units = try await q.run("SELECT hostname, unit, result FROM failed_units", deadline: .now + .seconds(5))
        #expect(units.rows == [[.text("beta"), .text("cups.service"), .text("exit-code")]])
        let health = try await q.run("SELECT count(*), min(memory_used_percent), max(psi_memory_some_avg10), sum(oom_kills) FROM health", deadline: .now + .seconds(5))
        #expect(health.rows == [[.integer(3), .real(50), .real(12.5), .integer(6)]])
        let hosts = try await q.run("SELECT os_id, kernel, count(*) FROM hosts GROUP BY os_id, kernel", deadline: .now + .seconds(5))
        #expect(hosts.rows == [[.text("debian"), .text("6.1.0-18-amd64"), .integer(3)]])
        let procs = try await q.run("SELECT name, rss_bytes FROM processes WHERE cpu_percent > 100 LIMIT 1", deadline: .now + .seconds(5))
        #expect(procs.rows == [[.text("firefox-esr"), .integer(2 << 30)]])
        // Every documented view answers, with exactly its documented columns.
        for view in FleetSchema.views {
            let r = try await q.run("SELECT * FROM \(view.name) LIMIT 1", deadline: .now + .seconds(5))
            #expect(r.columns == view.columns.map(\.name), "\(view.name)")
        }
        // A second heartbeat replaces the latest rows and adds history.
        let (id, beat) = (try #require(try await tc.store.hosts().first { $0.hostname == "beta" }).id, Self.heartbeat("", hostname: "beta", rootUsed: 97))
        try await tc.store.recordHeartbeats([HeartbeatRow(hostID: id, receivedAt: Date(), heartbeat: beat)])
        let after = try await q.run("SELECT count(*) FROM failed_units WHERE hostname = 'beta'", deadline: .now + .seconds(5))
        #expect(after.rows == [[.integer(0)]])
        let history = try await q.run("SELECT count(*) FROM health_history WHERE hostname = 'beta'", deadline: .now + .seconds(5))
        #expect(history.rows == [[.integer(2)]])
    }

    /// The heartbeat writer binds through SQLite's C API: every kind of value lands as GRDB
    /// would have stored it (dates as its text, rounded to the millisecond; nil as NULL, ''
    /// as text; huge counters clamped), and what changes only with an upgrade (kernel,
    /// agent) is still updated.
    @Test func heartbeatRowsHoldWhatWasSentAndFollowUpgrades() async throws {
        let (tc, ids) = try await Self.fleet()
        defer { Task { await tc.close() } }
        let q = Self.queries(tc)
        let sent = Date(timeIntervalSince1970: 1_796_000_000.4567)
        var beat = Self.heartbeat(ids[0], hostname: "alpha", rootUsed: 12.5, failed: ["x.service"], at: sent)
        beat.agentVersion = "0.2.0"
        beat.system?.kernel?.release = "6.12.9-amd64"
        beat.system?.loadAverage = [2.25, 1.5]
        beat.memory?.oomKills = UInt64.max
        beat.failedUnits[0].since = Date(timeIntervalSince1970: 0.9996)
        beat.failedUnits[0].restarts = 3
        beat.topProcesses[0].user = nil
        beat.topProcesses[0].commandLine = ""
        let received = Date(timeIntervalSince1970: 1_796_000_001.0004)
        try await tc.store.recordHeartbeats([HeartbeatRow(hostID: ids[0], receivedAt: received, heartbeat: beat)])
        let health = try await q.run("""
            SELECT agent_version, kernel, received_at, load1, load5, load15, oom_kills, max_disk_used_percent, failed_unit_count
            FROM health WHERE host_id = '\(ids[0])'
            """, deadline: .now + .seconds(5))
        #expect(health.rows == [[.text("0.2.0"), .text("6.12.9-amd64"), .text("2026-11-30 00:53:21.000"), .real(2.25), .real(1.5), .null,
                                 .integer(Int64.max), .real(12.5), .integer(1)]])
        let unit = try await q.run("SELECT since, restarts FROM failed_units WHERE host_id = '\(ids[0])'", deadline: .now + .seconds(5))
        #expect(unit.rows == [[.text("1970-01-01 00:00:01.000"), .integer(3)]])
        let process = try await q.run("SELECT user, command FROM processes WHERE host_id = '\(ids[0])'", deadline: .now + .seconds(5))
        #expect(process.rows == [[.null, .text("")]])
        let history = try await q.run("SELECT at, load1 FROM health_history WHERE host_id = '\(ids[0])' ORDER BY at LIMIT 1", deadline: .now + .seconds(5))
        #expect(history.rows == [[.text("2026-11-30 00:53:21.000"), .real(2.25)]])
        let hosts = try await q.run("SELECT last_seen_at, kernel FROM hosts WHERE host_id = '\(ids[0])'", deadline: .now + .seconds(5))
        #expect(hosts.rows == [[.text("2026-11-30 00:53:21.000"), .text("6.12.9-amd64")]])
        // Stored dates read back as the same Date through GRDB (the store's own reads).
        let latest = try #require(try await tc.store.latestHeartbeat(hostID: ids[0]))
        #expect(abs(latest.receivedAt.timeIntervalSince(received)) < 0.001)
        let kernels = try await q.run(try #require(WebController.dashboard.first { $0.title == "Kernels" }).sql, deadline: .now + .seconds(5))
        #expect(kernels.rows == [[.text("6.1.0-18-amd64"), .integer(2)], [.text("6.12.9-amd64"), .integer(1)]])
    }

    /// A host's disks, processes and failed units are written as a difference from its previous
    /// heartbeat (upsert what changed, delete what is gone): after any sequence of heartbeats the
    /// rows are exactly those a host sending only the last one gets — a process that
    /// disappeared, one whose values changed, one unchanged, a new one, a pid sent twice (the
    /// last wins, as before), and mount points that differ only in Unicode normalization
    /// (distinct keys for SQLite, equal strings for Swift).
    @Test func heartbeatRowsFollowWhatChangedAndWhatWentAway() async throws {
        let (tc, ids) = try await Self.fleet()
        defer { Task { await tc.close() } }
        let q = Self.queries(tc)
        let fresh = UUID().uuidString.lowercased()
        _ = try await tc.store.enrollHost(id: fresh, machineID: "m-delta", hostname: "delta", agentVersion: "0.1.0",
                                          tokenHash: Secrets.hash(Secrets.generate(.hostToken)), secretID: 1, now: Date())
        let gib: UInt64 = 1 << 30
        func process(_ pid: Int, _ name: String, cpu: Double, rss: UInt64, state: String = "S", user: String? = "alice") -> ProcessRecord {
            ProcessRecord(pid: pid, ppid: 1, uid: 1000, user: user, state: state, name: name, commandLine: "/usr/bin/\(name) --flag", threads: 4,
                          rssBytes: rss, cpuPercent: cpu)
        }
        func disk(_ mount: String, used: Double, readOnly: Bool = false) -> FilesystemUsage {
            FilesystemUsage(mountPoint: mount, device: "/dev/sdb1", fsType: "exfat", readOnly: readOnly, sizeBytes: 64 * gib,
                            usedBytes: UInt64(Double(64 * gib) * used / 100), availableBytes: UInt64(Double(64 * gib) * (100 - used) / 100),
                            usedPercent: used, inodesTotal: 0, inodesUsed: 0, inodesUsedPercent: 0)
        }
        func unit(_ name: String, restarts: Int?, result: String? = "exit-code") -> UnitRecord {
            var u = UnitRecord(name: name, description: "the \(name)", loadState: "loaded", activeState: "failed", subState: "failed", result: result)
            u.restarts = restarts
            u.since = Date(timeIntervalSince1970: 1_796_000_000)
            return u
        }
        var first = Self.heartbeat(ids[0], hostname: "alpha", rootUsed: 40)
        first.topProcesses = [process(42, "firefox", cpu: 12.5, rss: gib), process(43, "slack", cpu: 3, rss: gib / 2),
                              process(44, "java", cpu: 80, rss: 3 * gib), process(45, "code", cpu: 1, rss: gib / 4)]
        first.filesystems += [disk("/media/usb", used: 30), disk("/media/caf\u{E9}", used: 5), disk("/media/cafe\u{301}", used: 6)]
        first.failedUnits = [unit("a.service", restarts: 1), unit("b.service", restarts: nil), unit("c.service", restarts: 0)]
        var second = first
        second.topProcesses = [process(42, "firefox", cpu: 12.5, rss: gib),                       // unchanged
                               process(43, "slack", cpu: 7.5, rss: gib / 3, state: "R", user: nil), // changed
                               process(46, "node", cpu: 20, rss: gib),                              // new; 44 and 45 gone
                               process(47, "first", cpu: 1, rss: 1), process(47, "second", cpu: 2, rss: 2)]  // the last wins
        second.filesystems = [first.filesystems[0], disk("/media/cafe\u{301}", used: 7, readOnly: true),  // é precomposed gone
                              disk("/media/new", used: 50)]
        second.failedUnits = [unit("b.service", restarts: 2, result: nil), unit("d.service", restarts: 0)]  // a, c gone
        for beat in [first, second] {
            try await tc.store.recordHeartbeats([HeartbeatRow(hostID: ids[0], receivedAt: Date(), heartbeat: beat)])
        }
        var only = second
        only.host.hostID = fresh
        try await tc.store.recordHeartbeats([HeartbeatRow(hostID: fresh, receivedAt: Date(), heartbeat: only)])

        for (view, key) in [("processes", "pid"), ("disks", "mount_point"), ("failed_units", "unit")] {
            func rows(_ host: String) async throws -> [[QueryValue]] {
                try await q.run("SELECT * FROM \(view) WHERE host_id = '\(host)' ORDER BY \(key)", deadline: .now + .seconds(5)).rows.map { Array($0.dropFirst(2)) }
            }
            let mine = try await rows(ids[0]), only = try await rows(fresh)
            #expect(mine == only, "\(view)")
        }
        let processes = try await q.run("SELECT pid, name, user, state, cpu_percent, rss_bytes FROM processes WHERE host_id = '\(ids[0])' ORDER BY pid",
                                  deadline: .now + .seconds(5))
        #expect(processes.rows == [
            [.integer(42), .text("firefox"), .text("alice"), .text("S"), .real(12.5), .integer(1 << 30)],
            [.integer(43), .text("slack"), .null, .text("R"), .real(7.5), .integer(Int64(gib / 3))],
            [.integer(46), .text("node"), .text("alice"), .text("S"), .real(20), .integer(1 << 30)],
            [.integer(47), .text("second"), .text("alice"), .text("S"), .real(2), .integer(2)],
        ])
        let disks = try await q.run("SELECT mount_point, read_only, used_percent FROM disks WHERE host_id = '\(ids[0])' ORDER BY mount_point",
                              deadline: .now + .seconds(5))
        #expect(disks.rows == [[.text("/"), .integer(0), .real(40)], [.text("/media/cafe\u{301}"), .integer(1), .real(7)],
                               [.text("/media/new"), .integer(0), .real(50)]])
        let units = try await q.run("SELECT unit, result, restarts FROM failed_units WHERE host_id = '\(ids[0])' ORDER BY unit",
                              deadline: .now + .seconds(5))
        #expect(units.rows == [[.text("b.service"), .null, .integer(2)], [.text("d.service"), .text("exit-code"), .integer(0)]])
        // A heartbeat without any of them leaves none.
        var empty = second
        (empty.topProcesses, empty.filesystems, empty.failedUnits) = ([], [], [])
        try await tc.store.recordHeartbeats([HeartbeatRow(hostID: ids[0], receivedAt: Date(), heartbeat: empty)])
        let left = try await q.run("""
            SELECT (SELECT count(*) FROM processes WHERE host_id = '\(ids[0])'), (SELECT count(*) FROM disks WHERE host_id = '\(ids[0])'),
                   (SELECT count(*) FROM failed_units WHERE host_id = '\(ids[0])')
            """, deadline: .now + .seconds(5))
        #expect(left.rows == [[.integer(0), .integer(0), .integer(0)]])
    }

    /// The dashboard's disk and memory questions read the partial indexes that keep
    /// heartbeats from moving index entries (v16_lean_heartbeat_writes): a change to their SQL
    /// or to the views that loses the index shows here, not as a slow page at 100,000 hosts.
    @Test func dashboardReadsThePartialIndexes() async throws {
        let (tc, _) = try await Self.fleet()
        defer { Task { await tc.close() } }
        let q = Self.sandbox(tc)
        for (title, index) in [("Disks over 90 %", "host_disks_full"), ("Memory pressure", "host_health_memory_pressure")] {
            let sql = try #require(WebController.dashboard.first { $0.title == title }).sql
            let plan = try q.run("EXPLAIN QUERY PLAN " + sql, deadline: .now + .seconds(5))
            let text = plan.rows.flatMap { $0 }.map { "\($0)" }.joined(separator: " ")
            #expect(text.contains(index), "\(title): \(text)")
        }
    }

    /// A view SQLite flattens into the query (a join behind `findings` and `tickets`) is read
    /// whatever columns the query picks; naming a store table is refused however it is spelt.
    @Test func joinedViewsAnswerAnyColumnsAndBaseTablesStayClosed() async throws {
        let (tc, _) = try await Self.fleet()
        defer { Task { await tc.close() } }
        let q = Self.queries(tc)
        for sql in ["SELECT hostname, rule_id FROM findings", "SELECT rule_id, count(*) AS n FROM findings GROUP BY rule_id",
                    "SELECT ticket_id FROM findings", "SELECT count(*) AS n FROM findings",
                    "SELECT hostname, rule_id, severity, count(*) AS n FROM findings GROUP BY hostname, rule_id, severity ORDER BY 1, 2, 3",
                    "SELECT status, count(*) AS n FROM tickets GROUP BY status", "SELECT DISTINCT hostname FROM findings",
                    "SELECT t.title FROM tickets t JOIN findings f ON f.ticket_id = t.ticket_id WHERE f.severity = 'high'"] {
            do { _ = try await q.run(sql, deadline: .now + .seconds(5)) } catch { Issue.record("\(sql): \(error)") }
        }
        for sql in ["SELECT id FROM bundles", "SELECT hostname FROM main.hosts", "SELECT token_hash FROM main.hosts",
                    "SELECT name FROM users", "SELECT f.rule_id FROM findings f JOIN ticket_bundles tb ON tb.ticket_id = f.ticket_id",
                    "SELECT (SELECT count(*) FROM sessions) AS n FROM hosts"] {
            do {
                let r = try await q.run(sql, deadline: .now + .seconds(5))
                Issue.record("\(sql) ran: \(r.rows.count) rows")
            } catch {
                #expect(error.code == .refused && error.message.contains("is not allowed"), "\(sql): \(error)")
            }
        }
    }

    @Test func everyRefusedConstructSaysWhatAndWhy() async throws {
        let (tc, _) = try await Self.fleet()
        defer { Task { await tc.close() } }
        let q = Self.sandbox(tc)
        let before = try Data(contentsOf: URL(fileURLWithPath: tc.configuration.databasePath))
        let cases: [(String, QueryError.Code, String)] = [
            ("DELETE FROM hosts", .refused, "read-only"),
            ("DELETE FROM main.hosts", .refused, "read-only"),
            ("UPDATE main.tickets SET status = 'closed'", .refused, "read-only"),
            ("INSERT INTO main.users (name) VALUES ('x')", .refused, "read-only"),
            ("DROP TABLE main.hosts", .refused, "only SELECT"),
            ("CREATE TABLE x (a)", .refused, "only SELECT"),
            ("CREATE TEMP VIEW v AS SELECT 1", .refused, ""),
            ("ALTER TABLE main.hosts ADD COLUMN x", .refused, ""),
            ("ATTACH DATABASE '/tmp/helpline-attack.db' AS a", .refused, "ATTACH"),
            ("DETACH DATABASE temp", .refused, ""),
            ("PRAGMA writable_schema = 1", .refused, "PRAGMA"),
            ("PRAGMA main.table_info(hosts)", .refused, "PRAGMA"),
            ("SELECT * FROM pragma_table_info('hosts')", .refused, ""),
            ("SELECT load_extension('/tmp/x.so')", .refused, "load_extension"),
            ("SELECT zeroblob(1000000000)", .refused, "zeroblob"),
            ("SELECT randomblob(1000000000)", .refused, "randomblob"),
            ("SELECT fts3_tokenizer('simple')", .refused, "fts3_tokenizer"),
            ("SELECT * FROM sqlite_master", .refused, "sqlite_master"),
            ("SELECT * FROM sqlite_temp_master", .refused, "sqlite_temp_master"),
            ("SELECT password_hash FROM main.users", .refused, "users"),
            ("SELECT token_hash FROM main.sessions", .refused, "sessions"),
            ("SELECT * FROM hosts h JOIN main.api_tokens t", .refused, "api_tokens"),
            ("WITH x AS (SELECT * FROM main.enrollment_secrets) SELECT * FROM x", .refused, "enrollment_secrets"),
            ("SELECT (SELECT body FROM main.ticket_comments LIMIT 1)", .refused, "ticket_comments"),
            ("SELECT 1; DELETE FROM main.hosts", .refused, "one statement"),
            ("SELECT 1; SELECT 2", .refused, "one statement"),
            ("BEGIN", .refused, "transactions"),
            ("VACUUM", .refused, ""),
            ("REINDEX", .refused, ""),
            ("ANALYZE", .refused, ""),
            ("", .invalid, "empty"),
            ("-- only a comment", .invalid, "only comments"),
            ("SELEC 1", .invalid, "syntax"),
            ("SELECT ?", .invalid, ""),
            ("SELECT 1\u{0}; DELETE FROM main.hosts", .refused, "NUL"),
            (String(repeating: "x", count: 5000), .refused, "query_max_sql_bytes"),
        ]
        for (sql, code, words) in cases {
            do {
                let r = try q.run(sql, deadline: .now + .seconds(5))
                Issue.record("\(sql.prefix(60)) ran: \(r.rows.count) rows")
            } catch {
                #expect(error.code == code, "\(sql.prefix(60)): \(error)")
                #expect(words.isEmpty || error.message.contains(words), "\(sql.prefix(60)): \(error.message)")
            }
        }
        // Allowed: comments after the statement, CTEs, subqueries, window functions.
        #expect(try q.run("SELECT count(*) FROM hosts; -- all of them", deadline: .now + .seconds(5)).rows == [[.integer(3)]])
        let cte = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 10) SELECT sum(x) FROM n"
        #expect(try q.run(cte, deadline: .now + .seconds(5)).rows == [[.integer(55)]])
        let window = "SELECT hostname, rank() OVER (ORDER BY max_disk_used_percent DESC) FROM health ORDER BY 2 LIMIT 1"
        #expect(try q.run(window, deadline: .now + .seconds(5)).rows == [[.text("alpha"), .integer(1)]])
        // Nothing was written: the database file is byte for byte the same.
        #expect(try Data(contentsOf: URL(fileURLWithPath: tc.configuration.databasePath)) == before)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/helpline-attack.db"))
    }

    @Test func timeAndRowLimitsAtTheirEdges() async throws {
        let (tc, _) = try await Self.fleet()
        defer { Task { await tc.close() } }
        let started = ContinuousClock.now
        #expect(throws: QueryError(code: .timeout, message: "the query ran longer than its time limit and was stopped; narrow it (a WHERE, a LIMIT) or ask an admin about query_time_limit_ms")) {
            try Self.sandbox(tc).run("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n", deadline: .now + .milliseconds(200))
        }
        #expect(ContinuousClock.now - started < .seconds(3), "stopped near its deadline")
        let three = "SELECT hostname FROM hosts ORDER BY hostname"
        let exact = try Self.sandbox(tc, rows: 3).run(three, deadline: .now + .seconds(5))
        #expect(exact.rows.count == 3 && !exact.truncated)
        let cut = try Self.sandbox(tc, rows: 2).run(three, deadline: .now + .seconds(5))
        #expect(cut.rows == [[.text("alpha")], [.text("beta")]] && cut.truncated)
        // A value over the length cap is an error, not memory.
        let big = try Self.sandbox(tc).run("SELECT length(printf('%.*c', 5000000, 'x'))", deadline: .now + .seconds(5))
        #expect(big.rows == [[.null]])
        for (name, value) in [("query_max_rows", 0), ("query_time_limit_ms", 9), ("query_max_sql_bytes", 15)] {
            #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(limits: [name: value])) }
        }
    }

    @Test func healthHistoryIsHourlyAfterADayAndGoneAfterItsDays() async throws {
        let (tc, ids) = try await Self.fleet()
        defer { Task { await tc.close() } }
        let now = Date()
        // Twelve heartbeats 10 minutes apart two days ago, and one 20 days ago.
        let base = now.addingTimeInterval(-2 * 86_400).timeIntervalSince1970
        let hourStart = (base / 3600).rounded(.down) * 3600
        for i in 0..<12 {
            let at = Date(timeIntervalSince1970: hourStart + Double(i) * 600)
            try await tc.store.recordHeartbeats([HeartbeatRow(hostID: ids[0], receivedAt: at, heartbeat: Self.heartbeat(ids[0], hostname: "alpha", rootUsed: 50))])
        }
        try await tc.store.recordHeartbeats([HeartbeatRow(hostID: ids[0], receivedAt: now.addingTimeInterval(-20 * 86_400),
                                                          heartbeat: Self.heartbeat(ids[0], hostname: "alpha", rootUsed: 50))])
        let retention = RetentionService(store: tc.store, blobs: try BlobStore(dataDirectory: tc.configuration.dataDirectory),
                                         limits: tc.configuration.limits, metrics: tc.metrics, logger: .init(label: "test"))
        try await retention.runOnce(now: now)
        let rows = try await Self.queries(tc).run("SELECT at FROM health_history WHERE host_id = '\(ids[0])' ORDER BY at", deadline: .now + .seconds(5))
        // 12 over two hours became 2 (one per hour); the 20-day-old one is past 14 days; today's stays.
        #expect(rows.rows.count == 3, "\(rows.rows)")
    }

    @Test func inventoriesBecomePackageAndHardwareRows() async throws {
        let tc = try await TestCollector(limits: ["max_inventory_packages": 3])
        defer { Task { await tc.close() } }
        let tech = try await tc.apiToken("tech", role: .technician)
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "inv-host", hostname: "inv")
            func send(_ packages: [InstalledPackage], token: String = host.hostToken) async throws -> TestResponse {
                let inventory = Inventory(collectedAt: Date(), kernel: "6.1.0-18-amd64", systemVendor: "LENOVO", productName: "21AHCTO1WW",
                                          biosVendor: "LENOVO", biosVersion: "N3MET18W (1.17 )", packages: packages)
                return try await client.execute(uri: "/api/v1/inventory", method: .post,
                                                headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                                body: ByteBuffer(bytes: try BundleJSON.encoder().encode(inventory)))
            }
            let three = [InstalledPackage(name: "openssl", version: "3.0.11-1~deb12u2", architecture: "amd64"),
                         InstalledPackage(name: "firefox-esr", version: "115.5.0esr-1~deb12u1", architecture: "amd64"),
                         InstalledPackage(name: "adduser", version: "3.134", architecture: "all")]
            #expect(try await send(three + [InstalledPackage(name: "x", version: "1", architecture: "all")]).status == .unprocessableContent,
                    "one over max_inventory_packages")
            let ok = try await send(three)
            let ack = try decode(InventoryAck.self, ok)
            #expect(ok.status == .accepted && ack.packages == 3, "exactly at the limit")
            let soon = try await send(three)
            #expect(soon.status == .tooManyRequests && errorCode(soon) == "inventory_too_soon" && soon.headers[.retryAfter] != nil)
            #expect(try await send(three, token: tech).status == .unauthorized, "a technician token is not a host")
            let q = Self.queries(tc)
            let versions = try await q.run("SELECT hostname, version FROM packages WHERE name = 'openssl'", deadline: .now + .seconds(5))
            #expect(versions.rows == [[.text("inv"), .text("3.0.11-1~deb12u2")]])
            let hw = try await q.run("SELECT product_name, bios_version, package_count FROM inventory", deadline: .now + .seconds(5))
            #expect(hw.rows == [[.text("21AHCTO1WW"), .text("N3MET18W (1.17 )"), .integer(3)]])
        }
    }

    @Test func docsDescribeEveryViewAndColumn() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/fleet.md").standardized.path
        let doc = try String(contentsOfFile: path, encoding: .utf8)
        for view in FleetSchema.views {
            #expect(doc.contains("### `\(view.name)`"), "docs/fleet.md lacks view \(view.name)")
            for c in view.columns {
                #expect(doc.contains("| `\(c.name)` | \(c.type) | \(c.meaning) |"), "docs/fleet.md lacks \(view.name).\(c.name) as the schema says it")
            }
        }
    }

    @Test func theAPIAnswersJSONAndCSVToTechniciansOnly() async throws {
        let (tc, _) = try await Self.fleet()
        defer { Task { await tc.close() } }
        let tech = try await tc.apiToken("tech", role: .technician)
        try await tc.app().test(.router) { client in
            func post(_ body: String, token: String?) async throws -> TestResponse {
                var headers: HTTPFields = [.contentType: "application/json"]
                if let token { headers[.authorization] = "Bearer \(token)" }
                return try await client.execute(uri: "/api/v1/query", method: .post, headers: headers, body: ByteBuffer(string: body))
            }
            let sql = #"{"sql":"SELECT hostname, used_percent FROM disks WHERE mount_point = '/' ORDER BY used_percent DESC"}"#
            let ok = try await post(sql, token: tech)
            #expect(ok.status == .ok)
            let result = try decode(QueryResult.self, ok)
            #expect(result.rows.first == [.text("alpha"), .real(95.5)])
            let csv = try await post(#"{"sql":"SELECT hostname, '=cmd()' AS f FROM hosts ORDER BY hostname LIMIT 1","format":"csv"}"#, token: tech)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(String(buffer: csv.body) == "hostname,f\r\nalpha,'=cmd()\r\n")
            let refused = try await post(#"{"sql":"SELECT * FROM main.users"}"#, token: tech)
            #expect(refused.status == .badRequest && errorCode(refused) == "query_refused")
            #expect(try await post(#"{"sql":"SELECT 1","format":"xml"}"#, token: tech).status == .badRequest)
            #expect(try await post(sql, token: nil).status == .unauthorized)
            let schema = try await client.execute(uri: "/api/v1/query/schema", method: .get, headers: [.authorization: "Bearer \(tech)"])
            #expect(String(buffer: schema.body).contains("\"failed_units\""))
            let audit = try await tc.store.auditLog(limit: 10, offset: 0)
            #expect(audit.filter { $0.action == "fleet_query" && $0.actor == "tech" }.count == 3)
        }
    }
}
