import Foundation
import PostgresNIO
import Shared

extension PostgresStore {
    // MARK: Heartbeats

    /// Writes a batch of heartbeats, from many hosts, in one transaction of four round trips
    /// whatever its size: `BEGIN`, the host lock, one statement, `COMMIT`.
    ///
    /// The same rows as `SQLiteStore.insertHeartbeat` run for each heartbeat in order: the
    /// latest JSON, the host's health, disks, top processes and failed units (replacing the
    /// previous ones), a history row per heartbeat, and the host's last-seen time. The batch
    /// travels as one array per column (`unnest`), and one statement writes every table
    /// through data-modifying CTEs. Those see the same snapshot and cannot see each other's
    /// rows, so each touches rows no other one does: the snapshot tables take only each
    /// host's last heartbeat of the batch (what SQLite's later statements leave), and a
    /// host's disks, processes and units are replaced by deleting the rows whose key is not
    /// in the new set and upserting the new set (deduplicated by key, the last one winning,
    /// as SQLite's `INSERT OR REPLACE`).
    ///
    /// Not exclusive: heartbeats do not wait for ticket writes. What keeps two collectors
    /// writing heartbeats of the same host at once from mixing their disk or process sets is
    /// the first statement, which locks the batch's `hosts` rows (`FOR NO KEY UPDATE`, in id
    /// order, so two batches cannot deadlock). The second batch waits there until the first
    /// commits; its next statement takes a new snapshot (READ COMMITTED) that sees the first
    /// batch's rows, and replaces them. Last committed wins, as on SQLite.
    public func recordHeartbeats(_ heartbeats: [HeartbeatRow], logMark: HeartbeatLogMark?) async throws {
        guard !heartbeats.isEmpty || logMark != nil else { return }
        let all = try Self.heartbeatColumns(heartbeats)
        try await write(exclusive: false) { c in
            var (b, hosts) = all
            if !hosts.isEmpty {
                let existing = Set(try await c.all("SELECT id FROM hosts WHERE id = ANY(\(hosts)) ORDER BY id FOR NO KEY UPDATE")
                    .map { row -> String in try row["id"] })
                // Logged heartbeats (every one, with the log on) may be stored late (a backlog, a
                // replay after a crash), possibly after another collector stored a newer one of
                // the same host: such a host's history rows are added, its latest state is left
                // as it is. Without the log (backlog 0) the last committed wins.
                var stale: Set<String> = []
                if logMark != nil {
                    var newest: [String: Date] = [:]
                    for row in heartbeats { newest[row.hostID] = max(newest[row.hostID] ?? row.receivedAt, row.receivedAt) }
                    stale = Set(try await c.all("SELECT host_id, received_at FROM host_health WHERE host_id = ANY(\(hosts))")
                        .compactMap { row -> String? in
                            let id: String = try row["host_id"]
                            let at: Date = try row["received_at"]
                            return newest[id].map { $0 < at } == true ? id : nil
                        })
                }
                // A host deleted while its heartbeat waited: its rows are left out, the rest stored.
                if existing.count < hosts.count || !stale.isEmpty {
                    (b, hosts) = try Self.heartbeatColumns(heartbeats.filter { existing.contains($0.hostID) }, stale: stale)
                }
            }
            if let logMark, let value = logMark.value {
                try await c.execute("""
                    INSERT INTO collector_state (key, value) VALUES (\(logMark.key), \(value))
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """)
            }
            guard !b.host.isEmpty else { return }
            let replay = logMark?.replay ?? false
            // host_health: SQLite writes the identity columns (agent, OS, kernel, CPU) in a
            // second UPDATE only when they differ, to spare its indexes. Here an UPDATE writes a
            // new row version with new entries in every index anyway (the memory-pressure index
            // covers columns that change with every heartbeat, so it is never a HOT update), and
            // a second UPDATE would write a second version: the upsert sets them together. The
            // stored values are the same: the last heartbeat's.
            try await c.execute("""
                WITH hb AS (
                    SELECT * FROM unnest(\(b.host)::text[], \(b.received)::timestamptz[], \(b.sent)::timestamptz[], \(b.last)::boolean[],
                        \(PGArray(b.body))::text[], \(b.agentVersion)::text[], \(PGArray(b.osID))::text[], \(PGArray(b.osVersion))::text[],
                        \(PGArray(b.osName))::text[], \(PGArray(b.kernel))::text[], \(PGArray(b.cpuModel))::text[], \(PGArray(b.cpuCount))::bigint[],
                        \(PGArray(b.uptime))::float8[], \(PGArray(b.load1))::float8[], \(PGArray(b.load5))::float8[], \(PGArray(b.load15))::float8[],
                        \(PGArray(b.memoryTotal))::bigint[], \(PGArray(b.memoryAvailable))::bigint[], \(PGArray(b.memoryUsed))::float8[],
                        \(PGArray(b.swapTotal))::bigint[], \(PGArray(b.swapUsed))::float8[], \(PGArray(b.psiCPUSome))::float8[],
                        \(PGArray(b.psiMemorySome))::float8[], \(PGArray(b.psiMemoryFull))::float8[], \(PGArray(b.psiIOSome))::float8[],
                        \(PGArray(b.psiIOFull))::float8[], \(PGArray(b.oomKills))::bigint[], \(PGArray(b.maxDisk))::float8[],
                        \(b.failedUnitCount)::bigint[], \(b.spooled)::bigint[])
                        WITH ORDINALITY AS t(host_id, received_at, sent_at, is_last, body, agent_version, os_id, os_version, os_name, kernel,
                            cpu_model, cpu_count, uptime_seconds, load1, load5, load15, memory_total_bytes, memory_available_bytes,
                            memory_used_percent, swap_total_bytes, swap_used_percent, psi_cpu_some_avg10, psi_memory_some_avg10,
                            psi_memory_full_avg10, psi_io_some_avg10, psi_io_full_avg10, oom_kills, max_disk_used_percent, failed_unit_count,
                            spooled_bundles, ord)
                ), latest AS (
                    INSERT INTO heartbeats_latest (host_id, received_at, sent_at, body)
                    SELECT host_id, received_at, sent_at, body FROM hb WHERE is_last
                    ON CONFLICT (host_id) DO UPDATE SET received_at = excluded.received_at, sent_at = excluded.sent_at, body = excluded.body
                ), health AS (
                    INSERT INTO host_health (host_id, received_at, sent_at, agent_version, os_id, os_version, os_name, kernel, cpu_model,
                        cpu_count, uptime_seconds, load1, load5, load15, memory_total_bytes, memory_available_bytes, memory_used_percent,
                        swap_total_bytes, swap_used_percent, psi_cpu_some_avg10, psi_memory_some_avg10, psi_memory_full_avg10,
                        psi_io_some_avg10, psi_io_full_avg10, oom_kills, max_disk_used_percent, failed_unit_count, spooled_bundles)
                    SELECT host_id, received_at, sent_at, agent_version, os_id, os_version, os_name, kernel, cpu_model,
                        cpu_count, uptime_seconds, load1, load5, load15, memory_total_bytes, memory_available_bytes, memory_used_percent,
                        swap_total_bytes, swap_used_percent, psi_cpu_some_avg10, psi_memory_some_avg10, psi_memory_full_avg10,
                        psi_io_some_avg10, psi_io_full_avg10, oom_kills, max_disk_used_percent, failed_unit_count, spooled_bundles
                    FROM hb WHERE is_last
                    ON CONFLICT (host_id) DO UPDATE SET received_at = excluded.received_at, sent_at = excluded.sent_at,
                        agent_version = excluded.agent_version, os_id = excluded.os_id, os_version = excluded.os_version,
                        os_name = excluded.os_name, kernel = excluded.kernel, cpu_model = excluded.cpu_model, cpu_count = excluded.cpu_count,
                        uptime_seconds = excluded.uptime_seconds, load1 = excluded.load1, load5 = excluded.load5, load15 = excluded.load15,
                        memory_total_bytes = excluded.memory_total_bytes, memory_available_bytes = excluded.memory_available_bytes,
                        memory_used_percent = excluded.memory_used_percent, swap_total_bytes = excluded.swap_total_bytes,
                        swap_used_percent = excluded.swap_used_percent, psi_cpu_some_avg10 = excluded.psi_cpu_some_avg10,
                        psi_memory_some_avg10 = excluded.psi_memory_some_avg10, psi_memory_full_avg10 = excluded.psi_memory_full_avg10,
                        psi_io_some_avg10 = excluded.psi_io_some_avg10, psi_io_full_avg10 = excluded.psi_io_full_avg10,
                        oom_kills = excluded.oom_kills, max_disk_used_percent = excluded.max_disk_used_percent,
                        failed_unit_count = excluded.failed_unit_count, spooled_bundles = excluded.spooled_bundles
                ), history AS (
                    INSERT INTO health_history (host_id, at, sent_at, memory_used_percent, swap_used_percent, max_disk_used_percent, load1,
                        psi_memory_some_avg10, psi_io_some_avg10, failed_unit_count)
                    SELECT host_id, received_at, sent_at, memory_used_percent, swap_used_percent, max_disk_used_percent, load1,
                        psi_memory_some_avg10, psi_io_some_avg10, failed_unit_count
                    FROM hb WHERE NOT \(replay)::boolean OR NOT EXISTS (SELECT 1 FROM health_history h WHERE h.host_id = hb.host_id AND h.at = hb.received_at)
                    ORDER BY ord
                ), seen AS (
                    UPDATE hosts SET last_seen_at = hb.received_at FROM hb WHERE hb.is_last AND hosts.id = hb.host_id
                ), disk AS (
                    SELECT * FROM unnest(\(b.disks.host)::text[], \(b.disks.mountPoint)::text[], \(b.disks.device)::text[],
                        \(b.disks.fsType)::text[], \(b.disks.readOnly)::boolean[], \(b.disks.size)::bigint[], \(b.disks.used)::bigint[],
                        \(b.disks.available)::bigint[], \(b.disks.usedPercent)::float8[], \(b.disks.inodesUsedPercent)::float8[])
                        AS t(host_id, mount_point, device, fs_type, read_only, size_bytes, used_bytes, available_bytes, used_percent,
                            inodes_used_percent)
                ), disk_gone AS (
                    DELETE FROM host_disks o WHERE o.host_id = ANY(\(hosts))
                        AND NOT EXISTS (SELECT 1 FROM disk n WHERE n.host_id = o.host_id AND n.mount_point = o.mount_point)
                ), disk_set AS (
                    INSERT INTO host_disks (host_id, mount_point, device, fs_type, read_only, size_bytes, used_bytes, available_bytes,
                        used_percent, inodes_used_percent)
                    SELECT * FROM disk
                    ON CONFLICT (host_id, mount_point) DO UPDATE SET device = excluded.device, fs_type = excluded.fs_type,
                        read_only = excluded.read_only, size_bytes = excluded.size_bytes, used_bytes = excluded.used_bytes,
                        available_bytes = excluded.available_bytes, used_percent = excluded.used_percent,
                        inodes_used_percent = excluded.inodes_used_percent
                ), process AS (
                    SELECT * FROM unnest(\(b.processes.host)::text[], \(b.processes.pid)::bigint[], \(b.processes.name)::text[],
                        \(PGArray(b.processes.user))::text[], \(b.processes.uid)::bigint[], \(b.processes.state)::text[],
                        \(b.processes.cpuPercent)::float8[], \(b.processes.rss)::bigint[], \(b.processes.threads)::bigint[],
                        \(b.processes.command)::text[], \(b.processes.ppid)::bigint[], \(PGArray(b.processes.startTime))::timestamptz[],
                        \(b.processes.topCPU)::boolean[], \(b.processes.topMemory)::boolean[], \(b.processes.ordinal)::bigint[])
                        AS t(host_id, pid, name, "user", uid, state, cpu_percent, rss_bytes, threads, command, ppid, start_time, top_cpu,
                            top_memory, ordinal)
                ), process_gone AS (
                    DELETE FROM host_processes o WHERE o.host_id = ANY(\(hosts))
                        AND NOT EXISTS (SELECT 1 FROM process n WHERE n.host_id = o.host_id AND n.pid = o.pid)
                ), process_set AS (
                    INSERT INTO host_processes (host_id, pid, name, "user", uid, state, cpu_percent, rss_bytes, threads, command,
                        ppid, start_time, top_cpu, top_memory, ordinal)
                    SELECT * FROM process
                    ON CONFLICT (host_id, pid) DO UPDATE SET name = excluded.name, "user" = excluded."user", uid = excluded.uid,
                        state = excluded.state, cpu_percent = excluded.cpu_percent, rss_bytes = excluded.rss_bytes,
                        threads = excluded.threads, command = excluded.command, ppid = excluded.ppid, start_time = excluded.start_time,
                        top_cpu = excluded.top_cpu, top_memory = excluded.top_memory, ordinal = excluded.ordinal
                ), unit AS (
                    SELECT * FROM unnest(\(b.units.host)::text[], \(b.units.unit)::text[], \(b.units.description)::text[],
                        \(b.units.activeState)::text[], \(b.units.subState)::text[], \(PGArray(b.units.result))::text[],
                        \(PGArray(b.units.since))::timestamptz[], \(PGArray(b.units.restarts))::bigint[])
                        AS t(host_id, unit, description, active_state, sub_state, result, since, restarts)
                ), unit_gone AS (
                    DELETE FROM host_failed_units o WHERE o.host_id = ANY(\(hosts))
                        AND NOT EXISTS (SELECT 1 FROM unit n WHERE n.host_id = o.host_id AND n.unit = o.unit)
                ), unit_set AS (
                    INSERT INTO host_failed_units (host_id, unit, description, active_state, sub_state, result, since, restarts)
                    SELECT * FROM unit
                    ON CONFLICT (host_id, unit) DO UPDATE SET description = excluded.description, active_state = excluded.active_state,
                        sub_state = excluded.sub_state, result = excluded.result, since = excluded.since, restarts = excluded.restarts
                )
                SELECT 1 AS done
                """)
        }
    }

    /// A batch as column arrays, and its hosts in id order. The last heartbeat of each host in
    /// the batch writes the snapshot tables.
    /// - Parameter stale: hosts whose latest state is left alone (history rows only).
    private static func heartbeatColumns(_ heartbeats: [HeartbeatRow], stale: Set<String> = []) throws -> (HeartbeatColumns, [String]) {
        let encoder = BundleJSON.encoder()
        var batch = HeartbeatColumns()
        var lastIndex: [String: Int] = [:]
        for (i, row) in heartbeats.enumerated() { lastIndex[row.hostID] = i }
        for (i, row) in heartbeats.enumerated() {
            let isLast = lastIndex[row.hostID] == i && !stale.contains(row.hostID)
            var json: String?
            if isLast { json = try row.storedJSON(encoder) }
            batch.append(row, isLast: isLast, json: json)
        }
        return (batch, lastIndex.keys.filter { !stale.contains($0) }.sorted())
    }

    public func heartbeatLogMark(key: String) async throws -> String? {
        try await read { c in try await c.one("SELECT value FROM collector_state WHERE key = \(key)").map { row -> String in try row["value"] } }
    }

    public func latestHeartbeat(hostID: String) async throws -> StoredHeartbeat? {
        try await read { c in
            guard let row = try await c.one("SELECT host_id, received_at, body FROM heartbeats_latest WHERE host_id = \(hostID)") else { return nil }
            let host: String = try row["host_id"]
            var stored = StoredHeartbeat(hostID: host, receivedAt: try row["received_at"],
                                         heartbeat: try Self.decode(Heartbeat.self, try row["body"], what: "a heartbeat of host \(host)"))
            // Stored without its processes since pg4_process_rows: they are the host's rows.
            if stored.heartbeat.topProcesses.isEmpty {
                stored.heartbeat.topProcesses = try await c.all("""
                    SELECT pid, ppid, uid, "user", state, name, command, threads, rss_bytes, start_time, cpu_percent, top_cpu, top_memory
                    FROM host_processes WHERE host_id = \(hostID) ORDER BY ordinal, pid
                    """).map { row in
                    ProcessRecord(pid: try row["pid"], ppid: (try row["ppid"] as Int?) ?? 0, uid: try row["uid"], user: try row["user"],
                                  state: try row["state"], name: try row["name"], commandLine: try row["command"], threads: try row["threads"],
                                  rssBytes: UInt64(clamping: try row["rss_bytes"] as Int64), startTime: try row["start_time"] as Date?,
                                  cpuPercent: try row["cpu_percent"], topCPU: try row["top_cpu"], topMemory: try row["top_memory"])
                }
            }
            return stored
        }
    }

    public func healthHistory(hostID: String, limit: Int) async throws -> [HealthPoint] {
        try await read { c in
            try await c.all("""
                SELECT at, sent_at, memory_used_percent, max_disk_used_percent, failed_unit_count FROM health_history
                WHERE host_id = \(hostID) ORDER BY at DESC, id DESC LIMIT \(limit)
                """).map { row in
                HealthPoint(at: try row["at"], sentAt: try row["sent_at"], memoryUsedPercent: try row["memory_used_percent"],
                            maxDiskUsedPercent: try row["max_disk_used_percent"], failedUnitCount: try row["failed_unit_count"])
            }
        }
    }

    /// Most disks, processes or failed units kept per host (`SQLiteStore.fleetRowsPerHost`).
    static var fleetRowsPerHost: Int { SQLiteStore.fleetRowsPerHost }

    /// A heartbeat batch as one array per column, for `unnest`: the figures
    /// `SQLiteStore.insertHeartbeat` binds, computed the same way.
    struct HeartbeatColumns: Sendable {
        var host: [String] = [], received: [Date] = [], sent: [Date] = [], last: [Bool] = [], body: [String?] = []
        var agentVersion: [String] = [], osID: [String?] = [], osVersion: [String?] = [], osName: [String?] = []
        var kernel: [String?] = [], cpuModel: [String?] = [], cpuCount: [Int?] = []
        var uptime: [Double?] = [], load1: [Double?] = [], load5: [Double?] = [], load15: [Double?] = []
        var memoryTotal: [Int64?] = [], memoryAvailable: [Int64?] = [], memoryUsed: [Double?] = []
        var swapTotal: [Int64?] = [], swapUsed: [Double?] = []
        var psiCPUSome: [Double?] = [], psiMemorySome: [Double?] = [], psiMemoryFull: [Double?] = [], psiIOSome: [Double?] = []
        var psiIOFull: [Double?] = [], oomKills: [Int64?] = [], maxDisk: [Double?] = [], failedUnitCount: [Int] = [], spooled: [Int] = []
        var disks = Disks(), processes = Processes(), units = Units()

        struct Disks: Sendable {
            var host: [String] = [], mountPoint: [String] = [], device: [String] = [], fsType: [String] = [], readOnly: [Bool] = []
            var size: [Int64] = [], used: [Int64] = [], available: [Int64] = [], usedPercent: [Double] = [], inodesUsedPercent: [Double] = []
        }

        struct Processes: Sendable {
            var host: [String] = [], pid: [Int] = [], name: [String] = [], user: [String?] = [], uid: [Int] = [], state: [String] = []
            var cpuPercent: [Double] = [], rss: [Int64] = [], threads: [Int] = [], command: [String] = []
            var ppid: [Int] = [], startTime: [Date?] = [], topCPU: [Bool] = [], topMemory: [Bool] = [], ordinal: [Int] = []
        }

        struct Units: Sendable {
            var host: [String] = [], unit: [String] = [], description: [String] = [], activeState: [String] = [], subState: [String] = []
            var result: [String?] = [], since: [Date?] = [], restarts: [Int?] = []
        }

        /// Adds a heartbeat: a history row always; the snapshot rows (health, disks,
        /// processes, units) when it is its host's last in the batch.
        mutating func append(_ row: HeartbeatRow, isLast: Bool, json: String?) {
            let h = row.heartbeat
            let hostID = row.hostID
            func int(_ n: UInt64?) -> Int64? { n.map { Int64(clamping: $0) } }
            func finite(_ d: Double) -> Double { d.isFinite ? d : 0 }
            // SQLite stores a NaN bound as a double as NULL.
            func real(_ d: Double?) -> Double? { d.flatMap { $0.isNaN ? nil : $0 } }
            var memoryUsedPercent: Double?
            var swapUsedPercent: Double?
            if let m = h.memory, m.totalBytes > 0 {
                memoryUsedPercent = Double(m.totalBytes - min(m.availableBytes, m.totalBytes)) / Double(m.totalBytes) * 100
                if m.swapTotalBytes > 0 {
                    swapUsedPercent = Double(m.swapTotalBytes - min(m.swapFreeBytes, m.swapTotalBytes)) / Double(m.swapTotalBytes) * 100
                }
            }
            let psi = h.memory?.pressure ?? [:]
            let load = h.system?.loadAverage ?? []
            host.append(hostID); received.append(row.receivedAt); sent.append(h.sentAt); last.append(isLast)
            body.append(json.map { PostgresStore.text($0) })
            agentVersion.append(PostgresStore.text(String(h.agentVersion.prefix(64))))
            osID.append(PostgresStore.text(h.system?.osRelease?.id.map { String($0.prefix(64)) }))
            osVersion.append(PostgresStore.text(h.system?.osRelease?.versionID.map { String($0.prefix(64)) }))
            osName.append(PostgresStore.text(h.system?.osRelease?.prettyName.map { String($0.prefix(200)) }))
            kernel.append(PostgresStore.text(h.system?.kernel.map { String($0.release.prefix(200)) }))
            cpuModel.append(PostgresStore.text(h.system?.cpuModel.map { String($0.prefix(200)) }))
            cpuCount.append(h.system?.cpuCount)
            uptime.append(real(h.system?.uptimeSeconds))
            load1.append(real(load.count > 0 ? load[0] : nil)); load5.append(real(load.count > 1 ? load[1] : nil))
            load15.append(real(load.count > 2 ? load[2] : nil))
            memoryTotal.append(int(h.memory?.totalBytes)); memoryAvailable.append(int(h.memory?.availableBytes))
            memoryUsed.append(real(memoryUsedPercent))
            swapTotal.append(int(h.memory?.swapTotalBytes)); swapUsed.append(real(swapUsedPercent))
            psiCPUSome.append(real(psi["cpu"]?.some?.avg10)); psiMemorySome.append(real(psi["memory"]?.some?.avg10))
            psiMemoryFull.append(real(psi["memory"]?.full?.avg10)); psiIOSome.append(real(psi["io"]?.some?.avg10))
            psiIOFull.append(real(psi["io"]?.full?.avg10))
            oomKills.append(int(h.memory?.oomKills))
            maxDisk.append(h.filesystems.lazy.map(\.usedPercent).filter(\.isFinite).max())
            failedUnitCount.append(h.failedUnits.count); spooled.append(max(0, h.spooledBundles))
            guard isLast else { return }

            // Each set keyed as its table's primary key; a key seen again replaces the earlier
            // row in place (`INSERT OR REPLACE`), since one upsert cannot write a row twice.
            var diskAt: [String: Int] = [:]
            for f in h.filesystems.prefix(PostgresStore.fleetRowsPerHost) {
                let mount = PostgresStore.text(String(f.mountPoint.prefix(512)))
                let i: Int
                if let seen = diskAt[mount] {
                    i = seen
                } else {
                    i = disks.host.count; diskAt[mount] = i
                    disks.host.append(hostID); disks.mountPoint.append(mount); disks.device.append(""); disks.fsType.append("")
                    disks.readOnly.append(false); disks.size.append(0); disks.used.append(0); disks.available.append(0)
                    disks.usedPercent.append(0); disks.inodesUsedPercent.append(0)
                }
                disks.device[i] = PostgresStore.text(String(f.device.prefix(512))); disks.fsType[i] = PostgresStore.text(String(f.fsType.prefix(64)))
                disks.readOnly[i] = f.readOnly; disks.size[i] = Int64(clamping: f.sizeBytes); disks.used[i] = Int64(clamping: f.usedBytes)
                disks.available[i] = Int64(clamping: f.availableBytes); disks.usedPercent[i] = finite(f.usedPercent)
                disks.inodesUsedPercent[i] = finite(f.inodesUsedPercent)
            }
            var processAt: [Int: Int] = [:]
            for (ordinal, p) in h.topProcesses.prefix(PostgresStore.fleetRowsPerHost).enumerated() {
                let i: Int
                if let seen = processAt[p.pid] {
                    i = seen
                } else {
                    i = processes.host.count; processAt[p.pid] = i
                    processes.host.append(hostID); processes.pid.append(p.pid); processes.name.append(""); processes.user.append(nil)
                    processes.uid.append(0); processes.state.append(""); processes.cpuPercent.append(0); processes.rss.append(0)
                    processes.threads.append(0); processes.command.append("")
                    processes.ppid.append(0); processes.startTime.append(nil); processes.topCPU.append(false)
                    processes.topMemory.append(false); processes.ordinal.append(0)
                }
                processes.ppid[i] = p.ppid; processes.startTime[i] = p.startTime; processes.topCPU[i] = p.topCPU
                processes.topMemory[i] = p.topMemory; processes.ordinal[i] = ordinal
                processes.name[i] = PostgresStore.text(String(p.name.prefix(64)))
                processes.user[i] = PostgresStore.text(p.user.map { String($0.prefix(64)) })
                processes.uid[i] = p.uid; processes.state[i] = PostgresStore.text(String(p.state.prefix(8)))
                processes.cpuPercent[i] = finite(p.cpuPercent); processes.rss[i] = Int64(clamping: p.rssBytes); processes.threads[i] = p.threads
                processes.command[i] = PostgresStore.text(String(p.commandLine.prefix(Heartbeat.commandLineCharacters)))
            }
            var unitAt: [String: Int] = [:]
            for u in h.failedUnits.prefix(PostgresStore.fleetRowsPerHost) {
                let name = PostgresStore.text(String(u.name.prefix(256)))
                let i: Int
                if let seen = unitAt[name] {
                    i = seen
                } else {
                    i = units.host.count; unitAt[name] = i
                    units.host.append(hostID); units.unit.append(name); units.description.append(""); units.activeState.append("")
                    units.subState.append(""); units.result.append(nil); units.since.append(nil); units.restarts.append(nil)
                }
                units.description[i] = PostgresStore.text(String(u.description.prefix(512)))
                units.activeState[i] = PostgresStore.text(String(u.activeState.prefix(32)))
                units.subState[i] = PostgresStore.text(String(u.subState.prefix(32)))
                units.result[i] = PostgresStore.text(u.result.map { String($0.prefix(64)) })
                units.since[i] = u.since; units.restarts[i] = u.restarts
            }
        }
    }

    public func pruneHealthHistory(hourlyBefore: Date, deleteBefore: Date) async throws -> Int {
        // Not exclusive: only deletes, of rows older than any heartbeat being written; two
        // collectors pruning at once keep the same first row of each hour.
        try await write(exclusive: false) { c in
            let old = try await Self.number(c, """
                WITH gone AS (DELETE FROM health_history WHERE at < \(deleteBefore) RETURNING 1) SELECT count(*) AS n FROM gone
                """)
            // After a day, one row per host and hour (of UTC, as SQLite's strftime): the first
            // of each hour stays.
            let thinned = try await Self.number(c, """
                WITH gone AS (
                    DELETE FROM health_history WHERE id IN (
                        SELECT id FROM (
                            SELECT id, row_number() OVER (PARTITION BY host_id, date_trunc('hour', at AT TIME ZONE 'UTC') ORDER BY id) AS n
                            FROM health_history WHERE at < \(hourlyBefore)) ranked
                        WHERE n > 1)
                    RETURNING 1)
                SELECT count(*) AS n FROM gone
                """)
            return old + thinned
        }
    }

    /// The `n` column of a query's one row (a `count(*)`).
    static func number(_ c: PGConnection, _ query: PostgresQuery) async throws -> Int {
        guard let row = try await c.one(query) else { return 0 }
        return try row["n"]
    }

    // MARK: Saved queries and policies

    static func savedQuery(_ row: PGRow) throws -> SavedQuery {
        SavedQuery(id: try row["id"], name: try row["name"], sql: try row["sql"], owner: try row["owner"], shared: try row["shared"],
                   createdAt: try row["created_at"], policyIntervalMinutes: try row["policy_interval_minutes"],
                   policyAdvice: try row["policy_advice"],
                   policyPriority: (try row["policy_priority"] as String?).flatMap(TicketPriority.init(rawValue:)),
                   policyLastRunAt: try row["policy_last_run_at"], policyLastResult: try row["policy_last_result"])
    }

    public func saveQuery(name: String, sql: String, owner: String, shared: Bool, policy: PolicySettings?, now: Date) async throws -> SavedQuery {
        try await write { c in
            let id: Int64
            do {
                guard let row = try await c.one("""
                    INSERT INTO saved_queries (name, sql, owner, shared, created_at, policy_interval_minutes, policy_advice, policy_priority)
                    VALUES (\(Self.text(name)), \(Self.text(sql)), \(owner), \(shared), \(now), \(policy?.intervalMinutes),
                            \(Self.text(policy?.advice)), \(policy?.priority.rawValue))
                    RETURNING id
                    """) else { throw StoreError(.corrupt, "the new saved query has no id") }
                id = try row["id"]
            } catch let error where PGConnection.isUniqueViolation(error) {
                throw StoreError(.conflict, "you already saved a query named \(name); choose another name or delete that one")
            }
            return SavedQuery(id: id, name: name, sql: sql, owner: owner, shared: shared, createdAt: now,
                              policyIntervalMinutes: policy?.intervalMinutes, policyAdvice: policy?.advice, policyPriority: policy?.priority)
        }
    }

    public func duePolicies(now: Date) async throws -> [SavedQuery] {
        try await read { c in
            // Whole seconds, as SQLite's unixepoch().
            try await c.all("""
                SELECT * FROM saved_queries WHERE policy_interval_minutes IS NOT NULL
                  AND (policy_last_run_at IS NULL
                       OR floor(extract(epoch FROM policy_last_run_at)) + policy_interval_minutes * 60
                          <= floor(extract(epoch FROM \(now)::timestamptz)))
                ORDER BY id LIMIT 100
                """).map(Self.savedQuery)
        }
    }

    /// Same rules as `SQLiteStore.recordPolicyRun`, with the look-ups that every match needs
    /// (is the host live, had it matched before, has it an open policy ticket) made once for
    /// the run instead of once per host.
    public func recordPolicyRun(_ policy: SavedQuery, matches: [(hostID: String, detail: String)]?, summary: String, maxNewTickets: Int,
                                now: Date) async throws -> [Int64] {
        try await write { c in
            guard try await c.one("SELECT 1 AS found FROM saved_queries WHERE id = \(policy.id)") != nil else { return [] }
            guard let matches else {
                // A failed run changes no match: a host is not "new" again because of an error.
                try await c.execute("""
                    UPDATE saved_queries SET policy_last_run_at = \(now), policy_last_result = \(Self.text(String(summary.prefix(1000))))
                    WHERE id = \(policy.id)
                    """)
                return []
            }
            let before = Set(try await c.all("SELECT host_id FROM policy_matches WHERE query_id = \(policy.id)").map { try $0["host_id"] as String })
            let candidates = Array(Set(matches.map(\.hostID)))
            let live = Set(try await c.all("SELECT id FROM hosts WHERE id = ANY(\(candidates)) AND revoked_at IS NULL")
                .map { try $0["id"] as String })
            var matched = Set<String>()
            var again: [String] = []
            var fresh: [(hostID: String, detail: String)] = []
            for match in matches {
                guard matched.insert(match.hostID).inserted, live.contains(match.hostID) else { continue }
                if before.contains(match.hostID) { again.append(match.hostID) } else { fresh.append(match) }
            }
            if !again.isEmpty {
                try await c.execute("""
                    UPDATE policy_matches SET last_matched_at = \(now) WHERE query_id = \(policy.id) AND host_id = ANY(\(again))
                    """)
            }
            let rule = "policy.\(policy.id)"
            let advice = policy.policyAdvice ?? ""
            var openTicket: [String: Int64] = [:]
            if !fresh.isEmpty {
                for row in try await c.all("""
                    SELECT DISTINCT ON (host_id) host_id, id FROM tickets
                    WHERE host_id = ANY(\(fresh.map(\.hostID))) AND top_rule_id = \(rule) AND status IN ('open', 'in_progress', 'waiting_on_user')
                    ORDER BY host_id, id DESC
                    """) {
                    openTicket[try row["host_id"]] = try row["id"]
                }
            }
            var opened: [Int64] = []
            var newMatches: (hosts: [String], tickets: [Int64]) = ([], [])
            for match in fresh {
                let ticketID: Int64
                let text = "The fleet policy “\(policy.name)” found this host before its user called." + (advice.isEmpty ? "" : "\n\n\(advice)")
                    + (match.detail.isEmpty ? "" : "\n\nWhat it saw: \(match.detail)")
                if let open = openTicket[match.hostID] {
                    try await c.execute("""
                        INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at)
                        VALUES (\(open), 'helpline', \(Self.text("The policy matched again. " + text)), false, \(now))
                        """)
                    try await c.execute("UPDATE tickets SET updated_at = \(now) WHERE id = \(open)")
                    ticketID = open
                } else if opened.count < maxNewTickets {
                    guard let row = try await c.one("""
                        INSERT INTO tickets (host_id, status, priority, title, note, top_rule_id, created_at, updated_at)
                        VALUES (\(match.hostID), 'open', \((policy.policyPriority ?? .normal).rawValue),
                                \(Self.text(TicketService.clippedTitle("Policy: \(policy.name)"))), \(Self.text(text)), \(rule), \(now), \(now))
                        RETURNING id
                        """) else { throw StoreError(.corrupt, "the new ticket has no id") }
                    ticketID = try row["id"]
                    opened.append(ticketID)
                    try await Self.recordEvent(c, .ticketOpened, ticketID: ticketID, detail: "fleet policy \(policy.name)", now: now)
                } else {
                    continue  // over this run's ticket budget: counts as new again next run
                }
                newMatches.hosts.append(match.hostID)
                newMatches.tickets.append(ticketID)
            }
            if !newMatches.hosts.isEmpty {
                try await c.execute("""
                    INSERT INTO policy_matches (query_id, host_id, first_matched_at, last_matched_at, ticket_id)
                    SELECT \(policy.id), host_id, \(now), \(now), ticket_id FROM unnest(\(newMatches.hosts)::text[], \(newMatches.tickets)::bigint[])
                        AS t(host_id, ticket_id)
                    """)
            }
            let gone = Array(before.subtracting(matched))
            if !gone.isEmpty {
                try await c.execute("DELETE FROM policy_matches WHERE query_id = \(policy.id) AND host_id = ANY(\(gone))")
            }
            let summary = "\(matched.count) hosts match, \(opened.count) new tickets"
            try await c.execute("UPDATE saved_queries SET policy_last_run_at = \(now), policy_last_result = \(summary) WHERE id = \(policy.id)")
            return opened
        }
    }

    public func savedQueries(visibleTo user: String) async throws -> [SavedQuery] {
        try await read { c in
            // Byte order, as SQLite's BINARY collation.
            try await c.all("SELECT * FROM saved_queries WHERE owner = \(user) OR shared ORDER BY name COLLATE \"C\", id LIMIT 500")
                .map(Self.savedQuery)
        }
    }

    public func deleteSavedQuery(id: Int64, by user: String, isAdmin: Bool) async throws -> Bool {
        try await write { c in
            try await c.count("DELETE FROM saved_queries WHERE id = \(id) AND (owner = \(user) OR \(isAdmin)) RETURNING 1") > 0
        }
    }

    // MARK: Bundle requests

    static func bundleRequest(_ row: PGRow) throws -> BundleRequestRecord {
        BundleRequestRecord(id: try row["id"], hostID: try row["host_id"], ticketID: try row["ticket_id"], requestedBy: try row["requested_by"],
                            note: try row["note"], createdAt: try row["created_at"], expiresAt: try row["expires_at"],
                            deliveredAt: try row["delivered_at"], bundleID: try row["bundle_id"])
    }

    public func createBundleRequest(hostID: String, ticketID: Int64?, requestedBy: String, note: String?, now: Date,
                                    expiresAt: Date, maxPending: Int) async throws -> BundleRequestRecord {
        try await write { c in
            guard try await c.one("SELECT 1 AS found FROM hosts WHERE id = \(hostID)") != nil else {
                throw StoreError(.notFound, "host \(hostID)")
            }
            if let ticketID {
                guard try await c.one("SELECT 1 AS found FROM tickets WHERE id = \(ticketID) AND host_id = \(hostID)") != nil else {
                    throw StoreError(.notFound, "ticket \(ticketID) of host \(hostID)")
                }
            }
            let waiting = try await Self.number(c, """
                SELECT count(*) AS n FROM bundle_requests WHERE host_id = \(hostID) AND delivered_at IS NULL AND expires_at > \(now)
                """)
            guard waiting < maxPending else {
                throw StoreError(.conflict, "this host already has \(waiting) bundle requests waiting (max_pending_bundle_requests); it collects them at its next check-in")
            }
            guard let row = try await c.one("""
                INSERT INTO bundle_requests (host_id, ticket_id, requested_by, note, created_at, expires_at)
                VALUES (\(hostID), \(ticketID), \(Self.text(requestedBy)), \(Self.text(note)), \(now), \(expiresAt))
                RETURNING id
                """) else { throw StoreError(.corrupt, "the new bundle request has no id") }
            return BundleRequestRecord(id: try row["id"], hostID: hostID, ticketID: ticketID, requestedBy: requestedBy, note: note,
                                       createdAt: now, expiresAt: expiresAt, deliveredAt: nil, bundleID: nil)
        }
    }

    public func pendingBundleRequests(hostID: String, now: Date) async throws -> [BundleRequestRecord] {
        try await read { c in
            try await c.all("""
                SELECT * FROM bundle_requests WHERE host_id = \(hostID) AND delivered_at IS NULL AND expires_at > \(now) ORDER BY id LIMIT 100
                """).map(Self.bundleRequest)
        }
    }

    public func bundleRequests(hostID: String?, ticketID: Int64?, limit: Int) async throws -> [BundleRequestRecord] {
        try await read { c in
            if let ticketID {
                return try await c.all("SELECT * FROM bundle_requests WHERE ticket_id = \(ticketID) ORDER BY id DESC LIMIT \(limit)")
                    .map(Self.bundleRequest)
            }
            return try await c.all("SELECT * FROM bundle_requests WHERE host_id = \(hostID ?? "") ORDER BY id DESC LIMIT \(limit)")
                .map(Self.bundleRequest)
        }
    }

    // MARK: Inventory

    public func recordInventory(hostID: String, _ inventory: Inventory, now: Date) async throws {
        // Cut in code points, as everywhere a text meets a column (`clippedScalars`).
        func cut(_ s: String?, _ n: Int) -> String? { Self.text(s.map { clippedScalars($0, n) }) }
        // One row per (name, architecture), the last one winning, as `INSERT OR REPLACE`.
        var names: [String] = [], architectures: [String] = [], versions: [String] = []
        var at: [String: Int] = [:]
        for p in inventory.packages {
            let name = Self.text(clippedScalars(p.name, 200)), architecture = Self.text(clippedScalars(p.architecture, 32))
            let version = Self.text(clippedScalars(p.version, 200))
            let key = name + "\u{0}" + architecture
            if let i = at[key] {
                versions[i] = version
            } else {
                at[key] = names.count
                names.append(name); architectures.append(architecture); versions.append(version)
            }
        }
        try await write { c in
            try await c.execute("""
                INSERT INTO host_inventory (host_id, received_at, collected_at, kernel, system_vendor, product_name, bios_vendor,
                    bios_version, package_count)
                VALUES (\(hostID), \(now), \(inventory.collectedAt), \(cut(inventory.kernel, 200)), \(cut(inventory.systemVendor, 200)),
                        \(cut(inventory.productName, 200)), \(cut(inventory.biosVendor, 200)), \(cut(inventory.biosVersion, 200)),
                        \(inventory.packages.count))
                ON CONFLICT (host_id) DO UPDATE SET received_at = excluded.received_at, collected_at = excluded.collected_at,
                    kernel = excluded.kernel, system_vendor = excluded.system_vendor, product_name = excluded.product_name,
                    bios_vendor = excluded.bios_vendor, bios_version = excluded.bios_version, package_count = excluded.package_count
                """)
            try await c.execute("DELETE FROM host_packages WHERE host_id = \(hostID)")
            if !names.isEmpty {
                try await c.execute("""
                    INSERT INTO host_packages (host_id, name, architecture, version)
                    SELECT \(hostID), * FROM unnest(\(names)::text[], \(architectures)::text[], \(versions)::text[])
                    """)
            }
        }
    }

    public func inventoryReceivedAt(hostID: String) async throws -> Date? {
        try await read { c in
            guard let row = try await c.one("SELECT received_at FROM host_inventory WHERE host_id = \(hostID)") else { return nil }
            return try row["received_at"] as Date
        }
    }
}

/// A one-dimensional PostgreSQL array that may hold NULLs, bound in binary. PostgresNIO
/// encodes `[T]` but not `[T?]`, which the nullable columns of a heartbeat batch need.
struct PGArray<Element: PostgresArrayEncodable & PostgresNonThrowingEncodable>: PostgresNonThrowingEncodable, PostgresDynamicTypeEncodable {
    var elements: [Element?]

    init(_ elements: [Element?]) { self.elements = elements }

    static var psqlType: PostgresDataType { Element.psqlArrayType }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        // The binary array format (array_send): dimensions, has-NULLs flag, element type,
        // then per dimension its length and lower bound, then each element as length and
        // bytes, or length -1 for NULL.
        buffer.writeInteger(elements.isEmpty ? 0 : 1, as: Int32.self)
        buffer.writeInteger(elements.contains { $0 == nil } ? 1 : 0, as: Int32.self)
        buffer.writeInteger(Element.psqlType.rawValue)
        guard !elements.isEmpty else { return }
        buffer.writeInteger(Int32(elements.count))
        buffer.writeInteger(1, as: Int32.self)
        for element in elements {
            guard let element else {
                buffer.writeInteger(-1, as: Int32.self)
                continue
            }
            let lengthIndex = buffer.writerIndex
            buffer.writeInteger(0, as: Int32.self)
            let start = buffer.writerIndex
            element.encode(into: &buffer, context: context)
            buffer.setInteger(Int32(buffer.writerIndex - start), at: lengthIndex)
        }
    }
}
