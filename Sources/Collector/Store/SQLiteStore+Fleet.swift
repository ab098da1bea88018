import Foundation
import GRDB
import Shared

extension SQLiteStore {
    /// The statements of a heartbeat batch, looked up in GRDB's cache once per batch (the
    /// lookup hashes the SQL text) and bound through SQLite's C API.
    struct HeartbeatStatements {
        var latest, health, identity, history, seen: SQLiteRawStatement
        var disks, deleteDisk, disk, processes, deleteProcess, process, units, deleteUnit, unit: SQLiteRawStatement

        /// - Parameter replay: history rows already stored for the same host and time are not
        ///   added again (`HeartbeatLogMark.replay`).
        init(_ db: Database, replay: Bool = false) throws {
            // The JSON is kept for the latest heartbeat only: history is typed
            // (`health_history`), a hundred bytes a beat instead of the 5 KiB JSON.
            latest = try SQLiteRawStatement(db, sql: """
                INSERT INTO heartbeats_latest (host_id, received_at, sent_at, body) VALUES (?, ?, ?, ?)
                ON CONFLICT (host_id) DO UPDATE SET received_at = excluded.received_at, sent_at = excluded.sent_at, body = excluded.body
                """)
            // The figures that change with every heartbeat are an upsert; what changes only
            // with an upgrade (agent, OS, kernel, CPU) is written only when it differs, so the
            // indexes on agent version and kernel are not rewritten by every heartbeat
            // (v16_lean_heartbeat_writes).
            health = try SQLiteRawStatement(db, sql: """
                INSERT INTO host_health (host_id, received_at, sent_at, agent_version, os_id, os_version, os_name, kernel, cpu_model,
                    cpu_count, uptime_seconds, load1, load5, load15, memory_total_bytes, memory_available_bytes, memory_used_percent,
                    swap_total_bytes, swap_used_percent, psi_cpu_some_avg10, psi_memory_some_avg10, psi_memory_full_avg10,
                    psi_io_some_avg10, psi_io_full_avg10, oom_kills, max_disk_used_percent, failed_unit_count, spooled_bundles)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (host_id) DO UPDATE SET received_at = excluded.received_at, sent_at = excluded.sent_at,
                    uptime_seconds = excluded.uptime_seconds, load1 = excluded.load1, load5 = excluded.load5, load15 = excluded.load15,
                    memory_total_bytes = excluded.memory_total_bytes, memory_available_bytes = excluded.memory_available_bytes,
                    memory_used_percent = excluded.memory_used_percent, swap_total_bytes = excluded.swap_total_bytes,
                    swap_used_percent = excluded.swap_used_percent, psi_cpu_some_avg10 = excluded.psi_cpu_some_avg10,
                    psi_memory_some_avg10 = excluded.psi_memory_some_avg10, psi_memory_full_avg10 = excluded.psi_memory_full_avg10,
                    psi_io_some_avg10 = excluded.psi_io_some_avg10, psi_io_full_avg10 = excluded.psi_io_full_avg10,
                    oom_kills = excluded.oom_kills, max_disk_used_percent = excluded.max_disk_used_percent,
                    failed_unit_count = excluded.failed_unit_count, spooled_bundles = excluded.spooled_bundles
                """)
            identity = try SQLiteRawStatement(db, sql: """
                UPDATE host_health SET agent_version = ?2, os_id = ?3, os_version = ?4, os_name = ?5, kernel = ?6, cpu_model = ?7, cpu_count = ?8
                WHERE host_id = ?1 AND (agent_version IS NOT ?2 OR os_id IS NOT ?3 OR os_version IS NOT ?4 OR os_name IS NOT ?5
                    OR kernel IS NOT ?6 OR cpu_model IS NOT ?7 OR cpu_count IS NOT ?8)
                """)
            // A host's disks, top processes and failed units are mostly the same from one
            // heartbeat to the next, with new figures: each row is an upsert that writes only
            // when a value differs (SQLite then rewrites the cell in place when its size is
            // unchanged), and only the rows of what is gone are deleted. Deleting them all and
            // inserting them again emptied and refilled the host's leaf pages, which rebalanced
            // them with their neighbours on every heartbeat.
            disks = try SQLiteRawStatement(db, sql: "SELECT mount_point FROM host_disks WHERE host_id = ?")
            deleteDisk = try SQLiteRawStatement(db, sql: "DELETE FROM host_disks WHERE host_id = ? AND mount_point = ?")
            disk = try SQLiteRawStatement(db, sql: """
                INSERT INTO host_disks (host_id, mount_point, device, fs_type, read_only, size_bytes, used_bytes, available_bytes,
                    used_percent, inodes_used_percent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (host_id, mount_point) DO UPDATE SET device = excluded.device, fs_type = excluded.fs_type,
                    read_only = excluded.read_only, size_bytes = excluded.size_bytes, used_bytes = excluded.used_bytes,
                    available_bytes = excluded.available_bytes, used_percent = excluded.used_percent,
                    inodes_used_percent = excluded.inodes_used_percent
                WHERE device IS NOT excluded.device OR fs_type IS NOT excluded.fs_type OR read_only IS NOT excluded.read_only
                    OR size_bytes IS NOT excluded.size_bytes OR used_bytes IS NOT excluded.used_bytes
                    OR available_bytes IS NOT excluded.available_bytes OR used_percent IS NOT excluded.used_percent
                    OR inodes_used_percent IS NOT excluded.inodes_used_percent
                """)
            processes = try SQLiteRawStatement(db, sql: "SELECT pid FROM host_processes WHERE host_id = ?")
            deleteProcess = try SQLiteRawStatement(db, sql: "DELETE FROM host_processes WHERE host_id = ? AND pid = ?")
            process = try SQLiteRawStatement(db, sql: """
                INSERT INTO host_processes (host_id, pid, name, user, uid, state, cpu_percent, rss_bytes, threads, command,
                    ppid, start_time, top_cpu, top_memory, ordinal)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (host_id, pid) DO UPDATE SET name = excluded.name, user = excluded.user, uid = excluded.uid,
                    state = excluded.state, cpu_percent = excluded.cpu_percent, rss_bytes = excluded.rss_bytes,
                    threads = excluded.threads, command = excluded.command, ppid = excluded.ppid, start_time = excluded.start_time,
                    top_cpu = excluded.top_cpu, top_memory = excluded.top_memory, ordinal = excluded.ordinal
                WHERE name IS NOT excluded.name OR user IS NOT excluded.user OR uid IS NOT excluded.uid OR state IS NOT excluded.state
                    OR cpu_percent IS NOT excluded.cpu_percent OR rss_bytes IS NOT excluded.rss_bytes
                    OR threads IS NOT excluded.threads OR command IS NOT excluded.command OR ppid IS NOT excluded.ppid
                    OR start_time IS NOT excluded.start_time OR top_cpu IS NOT excluded.top_cpu
                    OR top_memory IS NOT excluded.top_memory OR ordinal IS NOT excluded.ordinal
                """)
            units = try SQLiteRawStatement(db, sql: "SELECT unit FROM host_failed_units WHERE host_id = ?")
            deleteUnit = try SQLiteRawStatement(db, sql: "DELETE FROM host_failed_units WHERE host_id = ? AND unit = ?")
            unit = try SQLiteRawStatement(db, sql: """
                INSERT INTO host_failed_units (host_id, unit, description, active_state, sub_state, result, since, restarts)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (host_id, unit) DO UPDATE SET description = excluded.description, active_state = excluded.active_state,
                    sub_state = excluded.sub_state, result = excluded.result, since = excluded.since, restarts = excluded.restarts
                WHERE description IS NOT excluded.description OR active_state IS NOT excluded.active_state
                    OR sub_state IS NOT excluded.sub_state OR result IS NOT excluded.result OR since IS NOT excluded.since
                    OR restarts IS NOT excluded.restarts
                """)
            history = try SQLiteRawStatement(db, sql: replay ? """
                INSERT INTO health_history (host_id, at, sent_at, memory_used_percent, swap_used_percent, max_disk_used_percent, load1,
                    psi_memory_some_avg10, psi_io_some_avg10, failed_unit_count) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
                WHERE NOT EXISTS (SELECT 1 FROM health_history WHERE host_id = ?1 AND at = ?2)
                """ : """
                INSERT INTO health_history (host_id, at, sent_at, memory_used_percent, swap_used_percent, max_disk_used_percent, load1,
                    psi_memory_some_avg10, psi_io_some_avg10, failed_unit_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            seen = try SQLiteRawStatement(db, sql: "UPDATE hosts SET last_seen_at = ? WHERE id = ?")
        }
    }

    /// Writes one heartbeat: the latest JSON, the host's health, disks, top processes and
    /// failed units (replacing the previous ones: what is gone is deleted, what changed is
    /// updated, what did not is left alone), a history row, and the host's last-seen
    /// time. Runs inside the heartbeat batch's transaction. A host that no longer exists (deleted
    /// while its heartbeat waited) writes nothing.
    static func insertHeartbeat(_ s: inout HeartbeatStatements, _ row: HeartbeatRow, body: String) throws {
        let h = row.heartbeat
        let host = row.hostID
        let received = databaseDate(row.receivedAt)
        s.seen.reset(); s.seen.bind(received); s.seen.bind(host); try s.seen.run()
        guard s.seen.changes > 0 else { return }
        let sent = databaseDate(h.sentAt)
        func int(_ n: UInt64?) -> Int64? { n.map { Int64(clamping: $0) } }
        func finite(_ d: Double) -> Double { d.isFinite ? d : 0 }
        var memoryUsed: Double?
        var swapUsed: Double?
        if let m = h.memory, m.totalBytes > 0 {
            memoryUsed = Double(m.totalBytes - min(m.availableBytes, m.totalBytes)) / Double(m.totalBytes) * 100
            if m.swapTotalBytes > 0 {
                swapUsed = Double(m.swapTotalBytes - min(m.swapFreeBytes, m.swapTotalBytes)) / Double(m.swapTotalBytes) * 100
            }
        }
        let psi = h.memory?.pressure ?? [:]
        let maxDisk = h.filesystems.lazy.map(\.usedPercent).filter(\.isFinite).max()
        let load = h.system?.loadAverage ?? []
        let agentVersion = clipped(h.agentVersion, 64)
        let osID = h.system?.osRelease?.id.map { clipped($0, 64) }
        let osVersion = h.system?.osRelease?.versionID.map { clipped($0, 64) }
        let osName = h.system?.osRelease?.prettyName.map { clipped($0, 200) }
        let kernel = h.system?.kernel.map { clipped($0.release, 200) }
        let cpuModel = h.system?.cpuModel.map { clipped($0, 200) }
        let cpuCount = h.system?.cpuCount

        s.latest.reset()
        s.latest.bind(host); s.latest.bind(received); s.latest.bind(sent); s.latest.bind(body)
        try s.latest.run()

        s.health.reset()
        s.health.bind(host); s.health.bind(received); s.health.bind(sent)
        s.health.bind(agentVersion); s.health.bind(osID); s.health.bind(osVersion); s.health.bind(osName); s.health.bind(kernel)
        s.health.bind(cpuModel); s.health.bind(cpuCount)
        s.health.bind(h.system?.uptimeSeconds)
        s.health.bind(load.count > 0 ? load[0] : nil); s.health.bind(load.count > 1 ? load[1] : nil); s.health.bind(load.count > 2 ? load[2] : nil)
        s.health.bind(int(h.memory?.totalBytes)); s.health.bind(int(h.memory?.availableBytes)); s.health.bind(memoryUsed)
        s.health.bind(int(h.memory?.swapTotalBytes)); s.health.bind(swapUsed)
        s.health.bind(psi["cpu"]?.some?.avg10); s.health.bind(psi["memory"]?.some?.avg10); s.health.bind(psi["memory"]?.full?.avg10)
        s.health.bind(psi["io"]?.some?.avg10); s.health.bind(psi["io"]?.full?.avg10)
        s.health.bind(int(h.memory?.oomKills)); s.health.bind(maxDisk); s.health.bind(h.failedUnits.count); s.health.bind(max(0, h.spooledBundles))
        try s.health.run()

        s.identity.reset()
        s.identity.bind(host); s.identity.bind(agentVersion); s.identity.bind(osID); s.identity.bind(osVersion); s.identity.bind(osName)
        s.identity.bind(kernel); s.identity.bind(cpuModel); s.identity.bind(cpuCount)
        try s.identity.run()

        let diskRows = h.filesystems.prefix(Self.fleetRowsPerHost).map { f in (f, mount: clipped(f.mountPoint, 512)) }
        try Self.deleteGone(&s.disks, &s.deleteDisk, host: host, keeping: Set(diskRows.map { Array($0.mount.utf8) }))
        for (f, mount) in diskRows {
            s.disk.reset()
            s.disk.bind(host); s.disk.bind(mount); s.disk.bind(clipped(f.device, 512))
            s.disk.bind(clipped(f.fsType, 64)); s.disk.bind(f.readOnly); s.disk.bind(Int64(clamping: f.sizeBytes))
            s.disk.bind(Int64(clamping: f.usedBytes)); s.disk.bind(Int64(clamping: f.availableBytes))
            s.disk.bind(finite(f.usedPercent)); s.disk.bind(finite(f.inodesUsedPercent))
            try s.disk.run()
        }
        // By index, reading each field in place: `for p in` copied every record (four strings
        // retained and released per process, ten processes a beat).
        let processes = h.topProcesses
        let processCount = min(processes.count, Self.fleetRowsPerHost)
        var pids = Set<Int64>(minimumCapacity: processCount)
        for i in 0..<processCount { pids.insert(Int64(processes[i].pid)) }
        try Self.deleteGone(&s.processes, &s.deleteProcess, host: host, keeping: pids)
        for i in 0..<processCount {
            s.process.reset()
            s.process.bind(host); s.process.bind(processes[i].pid); s.process.bind(clipped(processes[i].name, 64))
            s.process.bind(processes[i].user.map { clipped($0, 64) }); s.process.bind(processes[i].uid)
            s.process.bind(clipped(processes[i].state, 8)); s.process.bind(finite(processes[i].cpuPercent))
            s.process.bind(Int64(clamping: processes[i].rssBytes)); s.process.bind(processes[i].threads)
            s.process.bind(clipped(processes[i].commandLine, Heartbeat.commandLineCharacters))
            s.process.bind(processes[i].ppid); s.process.bind(processes[i].startTime.map(databaseDate))
            s.process.bind(processes[i].topCPU); s.process.bind(processes[i].topMemory); s.process.bind(i)
            try s.process.run()
        }
        let unitRows = h.failedUnits.prefix(Self.fleetRowsPerHost).map { u in (u, name: clipped(u.name, 256)) }
        try Self.deleteGone(&s.units, &s.deleteUnit, host: host, keeping: Set(unitRows.map { Array($0.name.utf8) }))
        for (u, name) in unitRows {
            s.unit.reset()
            s.unit.bind(host); s.unit.bind(name); s.unit.bind(clipped(u.description, 512))
            s.unit.bind(clipped(u.activeState, 32)); s.unit.bind(clipped(u.subState, 32)); s.unit.bind(u.result.map { clipped($0, 64) })
            s.unit.bind(u.since.map(databaseDate)); s.unit.bind(u.restarts)
            try s.unit.run()
        }
        s.history.reset()
        s.history.bind(host); s.history.bind(received); s.history.bind(sent); s.history.bind(memoryUsed); s.history.bind(swapUsed)
        s.history.bind(maxDisk); s.history.bind(load.first); s.history.bind(psi["memory"]?.some?.avg10); s.history.bind(psi["io"]?.some?.avg10)
        s.history.bind(h.failedUnits.count)
        try s.history.run()
    }

    /// Deletes the host's rows whose key (an integer) is not in `keeping`: `select` reads the
    /// host's keys, `delete` removes one by host and key.
    static func deleteGone(_ select: inout SQLiteRawStatement, _ delete: inout SQLiteRawStatement, host: String, keeping: Set<Int64>) throws {
        var gone: [Int64] = []
        select.reset(); select.bind(host)
        while try select.next() {
            let key = select.int64(at: 0)
            if !keeping.contains(key) { gone.append(key) }
        }
        for key in gone {
            delete.reset(); delete.bind(host); delete.bind(key); try delete.run()
        }
    }

    /// Deletes the host's rows whose key (a text, compared byte for byte as SQLite does) is not
    /// in `keeping`.
    static func deleteGone(_ select: inout SQLiteRawStatement, _ delete: inout SQLiteRawStatement, host: String, keeping: Set<[UInt8]>) throws {
        var gone: [[UInt8]] = []
        select.reset(); select.bind(host)
        while try select.next() {
            let key = select.bytes(at: 0)
            if !keeping.contains(key) { gone.append(key) }
        }
        for key in gone {
            delete.reset(); delete.bind(host); delete.bind(String(decoding: key, as: UTF8.self)); try delete.run()
        }
    }

    /// `date` as GRDB stores it, without its `DateFormatter` (ICU) for the usual dates.
    static func databaseDate(_ date: Date) -> String {
        UTCTimestamp(date)?.sqlite ?? String.fromDatabaseValue(date.databaseValue) ?? ""
    }

    /// Most disks, processes or failed units kept per host (a heartbeat is bounded in bytes,
    /// this bounds the rows).
    static let fleetRowsPerHost = 64

    public func pruneHealthHistory(hourlyBefore: Date, deleteBefore: Date) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM health_history WHERE at < ?", arguments: [deleteBefore])
            var removed = db.changesCount
            // After a day, one row per host and hour: the first of each hour stays.
            try db.execute(sql: """
                DELETE FROM health_history WHERE at < ? AND id NOT IN (
                    SELECT min(id) FROM health_history WHERE at < ? GROUP BY host_id, strftime('%Y-%m-%d %H', at))
                """, arguments: [hourlyBefore, hourlyBefore])
            removed += db.changesCount
            return removed
        }
    }

    static func savedQuery(_ row: Row) -> SavedQuery {
        SavedQuery(id: row["id"], name: row["name"], sql: row["sql"], owner: row["owner"], shared: row["shared"], createdAt: row["created_at"],
                   policyIntervalMinutes: row["policy_interval_minutes"], policyAdvice: row["policy_advice"],
                   policyPriority: (row["policy_priority"] as String?).flatMap(TicketPriority.init(rawValue:)),
                   policyLastRunAt: row["policy_last_run_at"], policyLastResult: row["policy_last_result"])
    }

    public func saveQuery(name: String, sql: String, owner: String, shared: Bool, policy: PolicySettings?, now: Date) async throws -> SavedQuery {
        try await write { db in
            do {
                try db.execute(sql: """
                    INSERT INTO saved_queries (name, sql, owner, shared, created_at, policy_interval_minutes, policy_advice, policy_priority)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [name, sql, owner, shared, now, policy?.intervalMinutes, policy?.advice, policy?.priority.rawValue])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw StoreError(.conflict, "you already saved a query named \(name); choose another name or delete that one")
            }
            return SavedQuery(id: db.lastInsertedRowID, name: name, sql: sql, owner: owner, shared: shared, createdAt: now,
                              policyIntervalMinutes: policy?.intervalMinutes, policyAdvice: policy?.advice, policyPriority: policy?.priority)
        }
    }

    public func duePolicies(now: Date) async throws -> [SavedQuery] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM saved_queries WHERE policy_interval_minutes IS NOT NULL
                  AND (policy_last_run_at IS NULL OR unixepoch(policy_last_run_at) + policy_interval_minutes * 60 <= unixepoch(?))
                ORDER BY id LIMIT 100
                """, arguments: [now]).map(Self.savedQuery)
        }
    }

    public func recordPolicyRun(_ policy: SavedQuery, matches: [(hostID: String, detail: String)]?, summary: String, maxNewTickets: Int,
                                now: Date) async throws -> [Int64] {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM saved_queries WHERE id = ?)", arguments: [policy.id]) == true else { return [] }
            guard let matches else {
                // A failed run changes no match: a host is not "new" again because of an error.
                try db.execute(sql: "UPDATE saved_queries SET policy_last_run_at = ?, policy_last_result = ? WHERE id = ?",
                               arguments: [now, String(summary.prefix(1000)), policy.id])
                return []
            }
            let before = Set(try String.fetchAll(db, sql: "SELECT host_id FROM policy_matches WHERE query_id = ?", arguments: [policy.id]))
            var matched = Set<String>()
            var opened: [Int64] = []
            let rule = "policy.\(policy.id)"
            let advice = policy.policyAdvice ?? ""
            for match in matches {
                guard matched.insert(match.hostID).inserted,
                      try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM hosts WHERE id = ? AND revoked_at IS NULL)", arguments: [match.hostID]) == true
                else { continue }
                if before.contains(match.hostID) {
                    try db.execute(sql: "UPDATE policy_matches SET last_matched_at = ? WHERE query_id = ? AND host_id = ?",
                                   arguments: [now, policy.id, match.hostID])
                    continue
                }
                var ticketID: Int64?
                let text = "The fleet policy “\(policy.name)” found this host before its user called." + (advice.isEmpty ? "" : "\n\n\(advice)")
                    + (match.detail.isEmpty ? "" : "\n\nWhat it saw: \(match.detail)")
                if let open = try Int64.fetchOne(db, sql: """
                    SELECT id FROM tickets WHERE host_id = ? AND top_rule_id = ? AND status IN ('open', 'in_progress', 'waiting_on_user')
                    ORDER BY id DESC LIMIT 1
                    """, arguments: [match.hostID, rule]) {
                    try db.execute(sql: "INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at) VALUES (?, 'helpline', ?, 0, ?)",
                                   arguments: [open, "The policy matched again. " + text, now])
                    try db.execute(sql: "UPDATE tickets SET updated_at = ? WHERE id = ?", arguments: [now, open])
                    ticketID = open
                } else if opened.count < maxNewTickets {
                    try db.execute(sql: """
                        INSERT INTO tickets (host_id, status, priority, title, note, top_rule_id, created_at, updated_at)
                        VALUES (?, 'open', ?, ?, ?, ?, ?, ?)
                        """, arguments: [match.hostID, (policy.policyPriority ?? .normal).rawValue, TicketService.clippedTitle("Policy: \(policy.name)"),
                                         text, rule, now, now])
                    ticketID = db.lastInsertedRowID
                    opened.append(db.lastInsertedRowID)
                    try Self.recordEvent(db, .ticketOpened, ticketID: db.lastInsertedRowID, detail: "fleet policy \(policy.name)", now: now)
                } else {
                    continue  // over this run's ticket budget: counts as new again next run
                }
                try db.execute(sql: """
                    INSERT INTO policy_matches (query_id, host_id, first_matched_at, last_matched_at, ticket_id) VALUES (?, ?, ?, ?, ?)
                    """, arguments: [policy.id, match.hostID, now, now, ticketID])
            }
            for gone in before.subtracting(matched) {
                try db.execute(sql: "DELETE FROM policy_matches WHERE query_id = ? AND host_id = ?", arguments: [policy.id, gone])
            }
            let summary = "\(matched.count) hosts match, \(opened.count) new tickets"
            try db.execute(sql: "UPDATE saved_queries SET policy_last_run_at = ?, policy_last_result = ? WHERE id = ?",
                           arguments: [now, summary, policy.id])
            return opened
        }
    }

    public func savedQueries(visibleTo user: String) async throws -> [SavedQuery] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM saved_queries WHERE owner = ? OR shared = 1 ORDER BY name, id LIMIT 500",
                             arguments: [user]).map(Self.savedQuery)
        }
    }

    public func deleteSavedQuery(id: Int64, by user: String, isAdmin: Bool) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM saved_queries WHERE id = ? AND (owner = ? OR ?)", arguments: [id, user, isAdmin])
            return db.changesCount > 0
        }
    }

    public func recordInventory(hostID: String, _ inventory: Inventory, now: Date) async throws {
        try await write { db in
            // Cut in code points, as everywhere a text meets a column (`clippedScalars`).
            func cut(_ s: String?, _ n: Int) -> String? { s.map { clippedScalars($0, n) } }
            try db.execute(sql: """
                INSERT OR REPLACE INTO host_inventory (host_id, received_at, collected_at, kernel, system_vendor, product_name, bios_vendor,
                    bios_version, package_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [hostID, now, inventory.collectedAt, cut(inventory.kernel, 200), cut(inventory.systemVendor, 200),
                                 cut(inventory.productName, 200), cut(inventory.biosVendor, 200), cut(inventory.biosVersion, 200),
                                 inventory.packages.count])
            try db.execute(sql: "DELETE FROM host_packages WHERE host_id = ?", arguments: [hostID])
            let insert = try db.cachedStatement(sql: "INSERT OR REPLACE INTO host_packages (host_id, name, architecture, version) VALUES (?, ?, ?, ?)")
            for p in inventory.packages {
                try insert.execute(arguments: [hostID, clippedScalars(p.name, 200), clippedScalars(p.architecture, 32), clippedScalars(p.version, 200)])
            }
        }
    }

    public func inventoryReceivedAt(hostID: String) async throws -> Date? {
        try await read { db in try Date.fetchOne(db, sql: "SELECT received_at FROM host_inventory WHERE host_id = ?", arguments: [hostID]) }
    }
}

/// `String(s.prefix(n))`, without walking the characters when `s` already fits: a character
/// is at least one UTF-8 byte, so `s.utf8.count <= n` (constant time for a native string)
/// means `s` has at most `n` characters. A heartbeat cuts about 40 strings to their column's
/// length, nearly all of them short.
func clipped(_ s: String, _ n: Int) -> String {
    s.utf8.count <= n ? s : String(s.prefix(n))
}

/// `s` cut to `n` Unicode code points: what the databases' `length` counts, so what a column's
/// `CHECK (length(x) <= n)` holds. `clipped` counts characters, and one character can carry any
/// number of combining marks.
func clippedScalars(_ s: String, _ n: Int) -> String {
    s.utf8.count <= n || s.unicodeScalars.count <= n ? s : String(String.UnicodeScalarView(s.unicodeScalars.prefix(n)))
}

/// Whether `s` is a name of `1...max` code points (as the column's CHECK counts) with no
/// control character: saved queries and API tokens.
func isPlainName(_ s: String, max: Int) -> Bool {
    (1...max).contains(s.unicodeScalars.count) && s.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
}
