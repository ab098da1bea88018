import Foundation
import Testing
@testable import Collector
import Shared

/// `PostgresStore`'s heartbeat batch: one statement for the whole batch (so the rows SQLite
/// writes one heartbeat after another must come out the same), and two collectors writing
/// one host's heartbeats at once. The rest of the fleet group is tested by the shared suites
/// run with `HELPLINE_TEST_STORE=postgres`.
@Suite struct PostgresFleetTests {
    /// A migrated store on a fresh database, and a second store (another collector) on it.
    struct Databases {
        let url: String
        let a: PostgresStore
        let b: PostgresStore

        init() async throws {
            url = try await TestPostgres.freshDatabase()
            a = try PostgresStore(url: url)
            b = try PostgresStore(url: url)
            try await a.migrate()
        }

        /// A host row, as enrollment leaves it.
        func host() async throws -> String {
            let id = UUID().uuidString.lowercased()
            let hash = String((id.replacingOccurrences(of: "-", with: "") + String(repeating: "0", count: 64)).prefix(64))
            try await a.write { c in
                try await c.execute("""
                    INSERT INTO hosts (id, machine_id, hostname, token_hash, enrolled_at) VALUES (\(id), \(id), 'pc', \(hash), \(Date()))
                    """)
            }
            return id
        }

        /// The host's disks, processes and failed units, and its health row's agent version
        /// and memory figure.
        func rows(_ host: String) async throws -> (disks: [String: String], pids: [Int: String], units: [String], agent: String?,
                                                   osID: String?, memory: Double?, lastSeen: Date?) {
            try await a.read { c in
                var disks: [String: String] = [:], pids: [Int: String] = [:]
                for row in try await c.all("SELECT mount_point, device FROM host_disks WHERE host_id = \(host)") {
                    disks[try row["mount_point"]] = try row["device"]
                }
                for row in try await c.all("SELECT pid, command FROM host_processes WHERE host_id = \(host)") {
                    pids[try row["pid"]] = try row["command"]
                }
                let units = try await c.all("SELECT unit FROM host_failed_units WHERE host_id = \(host) ORDER BY unit").map { try $0["unit"] as String }
                let health = try await c.one("SELECT agent_version, os_id, memory_used_percent FROM host_health WHERE host_id = \(host)")
                let seen = try await c.one("SELECT last_seen_at FROM hosts WHERE id = \(host)")
                return (disks, pids, units, try health?["agent_version"], try health?["os_id"], try health?["memory_used_percent"],
                        try seen?["last_seen_at"])
            }
        }

        func close() async {
            try? await a.close(); try? await b.close()
            await TestPostgres.drop(url)
        }
    }

    static func beat(_ host: String, agent: String, sent: Date, mounts: [(String, String)] = [], pids: [(Int, String)] = [],
                     units: [String] = [], memory: Bool = false, system: Bool = false) -> Heartbeat {
        Heartbeat(host: HostIdentity(hostID: host, hostname: "pc"), sentAt: sent, agentVersion: agent,
                  system: system ? SystemInfo(hostname: "pc", osRelease: .init(id: "debian"), loadAverage: [0.5]) : nil,
                  memory: memory ? MemoryInfo(totalBytes: 1000, availableBytes: 500, freeBytes: 0, buffersBytes: 0, cachedBytes: 0,
                                              swapTotalBytes: 0, swapFreeBytes: 0) : nil,
                  filesystems: mounts.map { FilesystemUsage(mountPoint: $0.0, device: $0.1, fsType: "ext4", readOnly: false, sizeBytes: 100,
                                                            usedBytes: 50, availableBytes: 50, usedPercent: 50, inodesTotal: 0, inodesUsed: 0,
                                                            inodesUsedPercent: 0) },
                  topProcesses: pids.map { ProcessRecord(pid: $0.0, ppid: 1, uid: 0, state: "S", name: "p", commandLine: $0.1, threads: 1,
                                                         rssBytes: 1, cpuPercent: 1) },
                  failedUnits: units.map { UnitRecord(name: $0, description: "d", loadState: "loaded", activeState: "failed", subState: "failed") })
    }

    /// What SQLite leaves after writing a batch's heartbeats one after another: each host's
    /// last heartbeat in the snapshot tables (a repeated disk or process key: its last row),
    /// every heartbeat in the history.
    @Test func aBatchLeavesWhatWritingItsHeartbeatsInOrderLeaves() async throws {
        let db = try await Databases()
        defer { Task { await db.close() } }
        let h1 = try await db.host(), h2 = try await db.host()
        let t = Date(timeIntervalSince1970: 1_790_000_000)
        let first = Self.beat(h1, agent: "1.0", sent: t, mounts: [("/", "sda1"), ("/old", "sdb1")], pids: [(1, "init")], units: ["a.service"],
                              memory: true, system: true)
        let other = Self.beat(h2, agent: "2.0", sent: t, mounts: [("/", "nvme0n1p1")], memory: true)
        let second = Self.beat(h1, agent: "1.1", sent: t.addingTimeInterval(1), mounts: [("/", "sda1"), ("/home", "sda2"), ("/home", "sda3")],
                               pids: [(7, "old"), (7, "new\u{0}line")])
        try await db.a.recordHeartbeats([HeartbeatRow(hostID: h1, receivedAt: t, heartbeat: first),
                                         HeartbeatRow(hostID: h2, receivedAt: t, heartbeat: other),
                                         HeartbeatRow(hostID: h1, receivedAt: t.addingTimeInterval(2), heartbeat: second)])
        #expect(try await db.a.latestHeartbeat(hostID: h1)?.heartbeat == second)
        #expect(try await db.a.latestHeartbeat(hostID: h2)?.heartbeat == other)
        let history = try await db.a.healthHistory(hostID: h1, limit: 10)
        #expect(history.map(\.sentAt) == [second.sentAt, first.sentAt])
        #expect(history.map(\.memoryUsedPercent) == [nil, 50])
        #expect(history.map(\.failedUnitCount) == [0, 1])
        let rows = try await db.rows(h1)
        #expect(rows.disks == ["/": "sda1", "/home": "sda3"])
        #expect(rows.pids == [7: "new\u{FFFD}line"])
        #expect(rows.units.isEmpty)
        // Identity from the last heartbeat, NULL included.
        #expect(rows.agent == "1.1" && rows.osID == nil && rows.memory == nil)
        #expect(rows.lastSeen == t.addingTimeInterval(2))
        let others = try await db.rows(h2)
        #expect(others.disks == ["/": "nvme0n1p1"] && others.agent == "2.0" && others.memory == 50)

        // A heartbeat of a host that is not there (deleted while it waited) is left out; the
        // rest of the batch is stored, with the log mark in the same transaction.
        let missing = UUID().uuidString.lowercased()
        try await db.a.recordHeartbeats([HeartbeatRow(hostID: h2, receivedAt: t.addingTimeInterval(5), heartbeat: Self.beat(h2, agent: "3.0", sent: t)),
                                         HeartbeatRow(hostID: missing, receivedAt: t, heartbeat: Self.beat(missing, agent: "3.0", sent: t))],
                                        logMark: HeartbeatLogMark(key: "heartbeat_log.3", value: "7:42"))
        #expect(try await db.rows(h2).agent == "3.0")
        #expect(try await db.a.healthHistory(hostID: h2, limit: 10).count == 2)
        #expect(try await db.a.healthHistory(hostID: missing, limit: 10).isEmpty)
        #expect(try await db.b.heartbeatLogMark(key: "heartbeat_log.3") == "7:42")
        // A batch of only missing hosts still moves the mark.
        try await db.a.recordHeartbeats([HeartbeatRow(hostID: missing, receivedAt: t, heartbeat: Self.beat(missing, agent: "3.0", sent: t))],
                                        logMark: HeartbeatLogMark(key: "heartbeat_log.3", value: "8:1"))
        #expect(try await db.a.heartbeatLogMark(key: "heartbeat_log.3") == "8:1")
    }

    /// The latest heartbeat's JSON is stored without its processes when the rows hold them
    /// exactly, and read back whole and in order from them; one whose processes the rows
    /// would change (a NUL, which PostgreSQL's text cannot hold) keeps them in its JSON.
    @Test func theLatestJSONLeavesOutTheProcessesTheRowsHold() async throws {
        let db = try await Databases()
        defer { Task { await db.close() } }
        let h = try await db.host()
        let t = Date(timeIntervalSince1970: 1_790_000_000)
        var beat = Self.beat(h, agent: "1.0", sent: t, pids: [(30, "/usr/bin/b --flag"), (4, "/usr/bin/a")])
        beat.topProcesses[0].startTime = t.addingTimeInterval(-3600)
        beat.topProcesses[0].topCPU = true
        beat.topProcesses[1].user = "alice"
        beat.topProcesses[1].topMemory = true
        func body() async throws -> String {
            try await db.a.read { c in try #require(try await c.one("SELECT body FROM heartbeats_latest WHERE host_id = \(h)"))["body"] as String }
        }
        try await db.a.recordHeartbeats([HeartbeatRow(hostID: h, receivedAt: t, heartbeat: beat)])
        #expect(try await db.b.latestHeartbeat(hostID: h)?.heartbeat == beat)
        let stored = try await body()
        #expect(stored.contains(#""topProcesses":[]"#) && !stored.contains("/usr/bin"))

        let nul = Self.beat(h, agent: "1.0", sent: t.addingTimeInterval(60), pids: [(5, "a\u{0}b")])
        try await db.a.recordHeartbeats([HeartbeatRow(hostID: h, receivedAt: t.addingTimeInterval(60), heartbeat: nul)])
        #expect(try await db.b.latestHeartbeat(hostID: h)?.heartbeat == nul)
        #expect(try await db.rows(h).pids == [5: "a\u{FFFD}b"])
    }

    /// Collectors behind one load balancer answer heartbeats once logged: one stores a host's
    /// heartbeat late (its backlog, or its log replayed after a crash) when another has already
    /// stored a newer one. The newer latest state stays; the late one joins the history.
    @Test func aHeartbeatStoredLateLeavesANewerLatestStateAlone() async throws {
        let db = try await Databases()
        defer { Task { await db.close() } }
        let h = try await db.host()
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        try await db.b.recordHeartbeats([HeartbeatRow(hostID: h, receivedAt: t.addingTimeInterval(60),
                                                      heartbeat: Self.beat(h, agent: "new", sent: t, mounts: [("/", "nvme0n1p2")], pids: [(2, "new")]))])
        try await db.a.recordHeartbeats([HeartbeatRow(hostID: h, receivedAt: t,
                                                      heartbeat: Self.beat(h, agent: "old", sent: t, mounts: [("/old", "sda1")], pids: [(1, "old")]))],
                                        logMark: HeartbeatLogMark(key: "heartbeat_log.x", value: "1:1", replay: true))
        let rows = try await db.rows(h)
        #expect(rows.agent == "new" && rows.disks == ["/": "nvme0n1p2"] && rows.pids == [2: "new"])
        #expect(rows.lastSeen == t.addingTimeInterval(60))
        #expect(try await db.a.latestHeartbeat(hostID: h)?.heartbeat.agentVersion == "new")
        #expect(try await db.a.healthHistory(hostID: h, limit: 10).count == 2)
    }

    /// Two collectors write heartbeats of the same host at the same moment, over and over:
    /// the host's disks, processes and units are always the set of one heartbeat, the one
    /// the latest heartbeat and the health row say was last, never a mix.
    @Test func twoCollectorsWritingOneHostAtOnceNeverMixTheirRows() async throws {
        let db = try await Databases()
        defer { Task { await db.close() } }
        let host = try await db.host()
        let bystander = try await db.host()
        let t = Date(timeIntervalSince1970: 1_790_000_000)
        let rounds = 25
        for round in 0..<rounds {
            let sent = t.addingTimeInterval(Double(round))
            let a = Self.beat(host, agent: "a", sent: sent, mounts: [("/a1", "a"), ("/a2", "a"), ("/a3", "a")], pids: [(1, "a"), (2, "a"), (3, "a")],
                              units: ["a1.service", "a2.service"])
            let b = Self.beat(host, agent: "b", sent: sent, mounts: [("/b1", "b")], pids: [(9, "b")], units: ["b.service"])
            let other = Self.beat(bystander, agent: "c", sent: sent, mounts: [("/", "c")])
            async let x: Void = db.a.recordHeartbeats([HeartbeatRow(hostID: bystander, receivedAt: sent, heartbeat: other),
                                                       HeartbeatRow(hostID: host, receivedAt: sent, heartbeat: a)])
            async let y: Void = db.b.recordHeartbeats([HeartbeatRow(hostID: host, receivedAt: sent, heartbeat: b),
                                                       HeartbeatRow(hostID: bystander, receivedAt: sent, heartbeat: other)])
            _ = try await (x, y)
            let latest = try #require(try await db.a.latestHeartbeat(hostID: host))
            let winner = latest.heartbeat.agentVersion
            let rows = try await db.rows(host)
            #expect(rows.agent == winner)
            if winner == "a" {
                #expect(rows.disks == ["/a1": "a", "/a2": "a", "/a3": "a"] && rows.pids == [1: "a", 2: "a", 3: "a"]
                        && rows.units == ["a1.service", "a2.service"])
            } else {
                #expect(winner == "b")
                #expect(rows.disks == ["/b1": "b"] && rows.pids == [9: "b"] && rows.units == ["b.service"])
            }
        }
        #expect(try await db.a.healthHistory(hostID: host, limit: 1000).count == 2 * rounds)
        #expect(try await db.a.healthHistory(hostID: bystander, limit: 1000).count == 2 * rounds)
    }

    /// Saved queries, policy runs, bundle requests and inventory straight on the store
    /// (their shared suites need groups built elsewhere to start an app).
    @Test func policiesBundleRequestsAndInventoryOnTheStore() async throws {
        let db = try await Databases()
        defer { Task { await db.close() } }
        let h1 = try await db.host(), h2 = try await db.host(), h3 = try await db.host()
        let s = db.a
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let policy = try await s.saveQuery(name: "b disk", sql: "SELECT 1", owner: "ann", shared: false,
                                           policy: PolicySettings(intervalMinutes: 5, advice: "Free space.", priority: .high), now: now)
        _ = try await s.saveQuery(name: "A", sql: "SELECT 2", owner: "bob", shared: true, policy: nil, now: now)
        await #expect { try await s.saveQuery(name: "b disk", sql: "x", owner: "ann", shared: true, policy: nil, now: now) } throws: { error in
            (error as? StoreError)?.kind == .conflict
        }
        #expect(try await s.savedQueries(visibleTo: "ann").map(\.name) == ["A", "b disk"])
        #expect(try await s.savedQueries(visibleTo: "carl").map(\.name) == ["A"])
        #expect(try await s.duePolicies(now: now).map(\.id) == [policy.id])
        let opened = try await s.recordPolicyRun(policy, matches: [(h1, "95%"), (h2, ""), (h1, "dup"), (h3, "")], summary: "", maxNewTickets: 2, now: now)
        #expect(opened.count == 2)
        #expect(try await s.duePolicies(now: now.addingTimeInterval(299)).isEmpty)
        #expect(try await s.duePolicies(now: now.addingTimeInterval(300)).map(\.id) == [policy.id])
        #expect(try await s.savedQueries(visibleTo: "ann").first { $0.id == policy.id }?.policyLastResult == "3 hosts match, 2 new tickets")
        // Next run: h1 and h2 are old matches, h3 gets the budget it lacked; h2 leaves.
        let second = try await s.recordPolicyRun(policy, matches: [(h1, ""), (h3, "")], summary: "", maxNewTickets: 5, now: now.addingTimeInterval(300))
        #expect(second.count == 1)
        let matches = try await s.read { c in try await c.all("SELECT host_id FROM policy_matches WHERE query_id = \(policy.id) ORDER BY host_id") }
        #expect(try matches.map { try $0["host_id"] as String } == [h1, h3].sorted())
        #expect(try await s.recordPolicyRun(policy, matches: nil, summary: "boom", maxNewTickets: 5, now: now).isEmpty)
        #expect(try await s.deleteSavedQuery(id: policy.id, by: "carl", isAdmin: false) == false)
        #expect(try await s.deleteSavedQuery(id: policy.id, by: "carl", isAdmin: true))

        await #expect { try await s.createBundleRequest(hostID: "nope", ticketID: nil, requestedBy: "t", note: nil, now: now,
                                                       expiresAt: now.addingTimeInterval(60), maxPending: 2) } throws: { error in
            (error as? StoreError)?.kind == .notFound
        }
        let r1 = try await s.createBundleRequest(hostID: h1, ticketID: opened[0], requestedBy: "t", note: "n", now: now,
                                                 expiresAt: now.addingTimeInterval(60), maxPending: 2)
        _ = try await s.createBundleRequest(hostID: h1, ticketID: nil, requestedBy: "t", note: nil, now: now,
                                            expiresAt: now.addingTimeInterval(60), maxPending: 2)
        await #expect { try await s.createBundleRequest(hostID: h1, ticketID: nil, requestedBy: "t", note: nil, now: now,
                                                       expiresAt: now.addingTimeInterval(60), maxPending: 2) } throws: { error in
            (error as? StoreError)?.message.contains("already has 2 bundle requests waiting") == true
        }
        #expect(try await s.pendingBundleRequests(hostID: h1, now: now).count == 2)
        #expect(try await s.pendingBundleRequests(hostID: h1, now: now.addingTimeInterval(60)).isEmpty)
        #expect(try await s.bundleRequests(hostID: nil, ticketID: opened[0], limit: 10) == [r1])
        #expect(try await s.bundleRequests(hostID: h1, ticketID: nil, limit: 1).count == 1)

        #expect(try await s.inventoryReceivedAt(hostID: h1) == nil)
        try await s.recordInventory(hostID: h1, Inventory(collectedAt: now, kernel: "6.1", packages: [
            InstalledPackage(name: "bash", version: "5.1", architecture: "amd64"), InstalledPackage(name: "bash", version: "5.2", architecture: "amd64"),
        ]), now: now)
        try await s.recordInventory(hostID: h1, Inventory(collectedAt: now, kernel: "6.2", packages: [
            InstalledPackage(name: "zsh", version: "5.9", architecture: "amd64"), InstalledPackage(name: "zsh", version: "6.0", architecture: "amd64"),
        ]), now: now.addingTimeInterval(1))
        #expect(try await s.inventoryReceivedAt(hostID: h1) == now.addingTimeInterval(1))
        let packages = try await s.read { c in try await c.all("SELECT name, version FROM host_packages WHERE host_id = \(h1)") }
        #expect(try packages.map { "\(try $0["name"] as String) \(try $0["version"] as String)" } == ["zsh 6.0"])
    }
}
