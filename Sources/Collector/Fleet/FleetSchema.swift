/// The fleet query surface: documented read-only views over the store, and nothing else.
///
/// Each view is created as a TEMP view on the query's own read-only connection, so its
/// name (`hosts`, `tickets`…) shadows the store's table of the same name, and the SQLite
/// authorizer (`QuerySandbox`) lets a query read store tables only through these views.
/// The list below is also the documentation (`GET /api/v1/query/schema`, the query page).
public enum FleetSchema {
    /// One column of a view.
    public struct Column: Sendable, Codable, Equatable {
        public var name: String
        /// SQLite type: INTEGER, REAL, TEXT (times are UTC text `YYYY-MM-DD HH:MM:SS.SSS`).
        public var type: String
        public var meaning: String
    }

    /// One view.
    public struct View: Sendable, Encodable, Equatable {
        public var name: String
        public var meaning: String
        public var columns: [Column]
        /// The SELECT behind it (reads `main.` tables only).
        var select: String

        enum CodingKeys: String, CodingKey { case name, meaning, columns }
    }

    static func c(_ name: String, _ type: String, _ meaning: String) -> Column { Column(name: name, type: type, meaning: meaning) }

    /// The `hostname` column of a view over one fleet table (alias `table`), read by a
    /// scalar subquery rather than a join.
    ///
    /// Why: SQLite evaluates an unused subquery column never, but an inner join always, and
    /// it drops a no-op LEFT JOIN only for queries without GROUP BY. The dashboard's
    /// fleet-wide counts (`health` by agent version or kernel, `failed_units` by unit,
    /// `findings` by rule) then read one covering index instead of probing `hosts` once per
    /// row: 100,000 probes were ~250 ms of CPU (bench/fleet, BENCHMARKS.md). The price: a
    /// filter on `hostname` runs the subquery for every row of the view (filter on
    /// `host_id` to look at one host fast). Used only where the dashboard aggregates;
    /// `disks`, `processes` and `health_history` have several rows per host and keep the
    /// join, so that a filter on `hostname` starts from `hosts`. The foreign keys (`host_id
    /// NOT NULL REFERENCES hosts`) guarantee the host exists, so both forms answer the same
    /// rows.
    static func hostname(_ table: String) -> String {
        "(SELECT h.hostname FROM main.hosts h WHERE h.id = \(table).host_id) AS hostname"
    }

    /// Every view, in the order the docs list them.
    public static let views: [View] = [
        View(name: "hosts", meaning: "Every enrolled workstation, with what its latest heartbeat said about it.", columns: [
            c("host_id", "TEXT", "Helpline's id of the host"), c("hostname", "TEXT", "host name at enrollment"),
            c("machine_id", "TEXT", "/etc/machine-id"), c("agent_version", "TEXT", "agent version at enrollment"),
            c("enrolled_at", "TEXT", "when it enrolled"), c("last_seen_at", "TEXT", "last heartbeat or bundle"),
            c("revoked", "INTEGER", "1 when an admin revoked it"), c("os_id", "TEXT", "os-release ID (debian, ubuntu…)"),
            c("os_version", "TEXT", "os-release VERSION_ID"), c("os_name", "TEXT", "os-release PRETTY_NAME"),
            c("kernel", "TEXT", "running kernel release"), c("cpu_model", "TEXT", "CPU model"), c("cpu_count", "INTEGER", "logical CPUs"),
            c("last_heartbeat_at", "TEXT", "when the latest heartbeat arrived (NULL: never)"),
        ], select: """
            SELECT h.id AS host_id, h.hostname, h.machine_id, h.agent_version, h.enrolled_at, h.last_seen_at,
                   (h.revoked_at IS NOT NULL) AS revoked, hh.os_id, hh.os_version, hh.os_name, hh.kernel, hh.cpu_model, hh.cpu_count,
                   hh.received_at AS last_heartbeat_at
            FROM main.hosts h LEFT JOIN main.host_health hh ON hh.host_id = h.id
            """),
        View(name: "health", meaning: "Each host's latest heartbeat: memory, swap, pressure, load, uptime.", columns: [
            c("host_id", "TEXT", "the host"), c("hostname", "TEXT", "its name"), c("received_at", "TEXT", "when the heartbeat arrived"),
            c("agent_version", "TEXT", "agent version that sent it"), c("os_id", "TEXT", "os-release ID (debian, ubuntu…)"),
            c("os_version", "TEXT", "os-release VERSION_ID"), c("kernel", "TEXT", "running kernel release"),
            c("uptime_seconds", "REAL", "seconds since boot"),
            c("load1", "REAL", "1-minute load average"), c("load5", "REAL", "5-minute load average"), c("load15", "REAL", "15-minute load average"),
            c("memory_total_bytes", "INTEGER", "RAM"), c("memory_available_bytes", "INTEGER", "MemAvailable"),
            c("memory_used_percent", "REAL", "100 × (total − available) / total"), c("swap_total_bytes", "INTEGER", "swap size"),
            c("swap_used_percent", "REAL", "swap in use, % (NULL without swap)"),
            c("psi_cpu_some_avg10", "REAL", "% of the last 10 s some task waited for CPU"),
            c("psi_memory_some_avg10", "REAL", "% of the last 10 s some task waited for memory"),
            c("psi_memory_full_avg10", "REAL", "% of the last 10 s all tasks waited for memory"),
            c("psi_io_some_avg10", "REAL", "% of the last 10 s some task waited for I/O"),
            c("psi_io_full_avg10", "REAL", "% of the last 10 s all tasks waited for I/O"),
            c("oom_kills", "INTEGER", "OOM kills since boot (/proc/vmstat)"), c("max_disk_used_percent", "REAL", "fullest filesystem, %"),
            c("failed_unit_count", "INTEGER", "systemd units in failed state"), c("spooled_bundles", "INTEGER", "bundles waiting in the agent's spool"),
        ], select: """
            SELECT hh.host_id, \(hostname("hh")), hh.received_at, hh.agent_version, hh.os_id, hh.os_version, hh.kernel,
                   hh.uptime_seconds, hh.load1, hh.load5, hh.load15,
                   hh.memory_total_bytes, hh.memory_available_bytes, hh.memory_used_percent, hh.swap_total_bytes, hh.swap_used_percent,
                   hh.psi_cpu_some_avg10, hh.psi_memory_some_avg10, hh.psi_memory_full_avg10, hh.psi_io_some_avg10, hh.psi_io_full_avg10,
                   hh.oom_kills, hh.max_disk_used_percent, hh.failed_unit_count, hh.spooled_bundles
            FROM main.host_health hh
            """),
        View(name: "health_history", meaning: "Headline figures of past heartbeats: every one for a day, then one an hour.", columns: [
            c("host_id", "TEXT", "the host"), c("hostname", "TEXT", "its name"), c("at", "TEXT", "when the heartbeat arrived"),
            c("memory_used_percent", "REAL", "RAM in use, %"), c("swap_used_percent", "REAL", "swap in use, %"),
            c("max_disk_used_percent", "REAL", "fullest filesystem, %"), c("load1", "REAL", "1-minute load average"),
            c("psi_memory_some_avg10", "REAL", "memory pressure, %"), c("psi_io_some_avg10", "REAL", "I/O pressure, %"),
            c("failed_unit_count", "INTEGER", "failed units"),
        ], select: """
            SELECT hi.host_id, h.hostname, hi.at, hi.memory_used_percent, hi.swap_used_percent, hi.max_disk_used_percent, hi.load1,
                   hi.psi_memory_some_avg10, hi.psi_io_some_avg10, hi.failed_unit_count
            FROM main.health_history hi JOIN main.hosts h ON h.id = hi.host_id
            """),
        View(name: "disks", meaning: "Each host's filesystems in its latest heartbeat.", columns: [
            c("host_id", "TEXT", "the host"), c("hostname", "TEXT", "its name"), c("mount_point", "TEXT", "where it is mounted"),
            c("device", "TEXT", "block device or source"), c("fs_type", "TEXT", "ext4, btrfs, vfat…"), c("read_only", "INTEGER", "1 when the filesystem is read-only (its superblock: mounted so, or remounted after an error); a read-only bind of a writable one is 0"),
            c("size_bytes", "INTEGER", "size"), c("used_bytes", "INTEGER", "used"), c("available_bytes", "INTEGER", "free for users"),
            c("used_percent", "REAL", "used, % as df shows it"), c("inodes_used_percent", "REAL", "inodes used, %"),
        ], select: """
            SELECT d.host_id, h.hostname, d.mount_point, d.device, d.fs_type, d.read_only, d.size_bytes, d.used_bytes, d.available_bytes,
                   d.used_percent, d.inodes_used_percent
            FROM main.host_disks d JOIN main.hosts h ON h.id = d.host_id
            """),
        View(name: "processes", meaning: "The top processes by CPU and memory in each host's latest heartbeat.", columns: [
            c("host_id", "TEXT", "the host"), c("hostname", "TEXT", "its name"), c("pid", "INTEGER", "process id"), c("name", "TEXT", "comm"),
            c("user", "TEXT", "owner"), c("uid", "INTEGER", "owner's uid"), c("state", "TEXT", "R, S, D, Z…"),
            c("cpu_percent", "REAL", "% of one core over the sample"), c("rss_bytes", "INTEGER", "resident memory"),
            c("threads", "INTEGER", "threads"), c("command", "TEXT", "command line, its first 1,024 characters (redacted on the workstation)"),
            c("ppid", "INTEGER", "parent process id (NULL on rows from before v17_process_rows)"), c("start_time", "TEXT", "when it started"),
            c("top_cpu", "INTEGER", "1 when among the host's top consumers of CPU"), c("top_memory", "INTEGER", "1 when among its top consumers of memory"),
        ], select: """
            SELECT p.host_id, h.hostname, p.pid, p.name, p.user, p.uid, p.state, p.cpu_percent, p.rss_bytes, p.threads, p.command,
                   p.ppid, p.start_time, p.top_cpu, p.top_memory
            FROM main.host_processes p JOIN main.hosts h ON h.id = p.host_id
            """),
        View(name: "failed_units", meaning: "systemd units in failed state in each host's latest heartbeat.", columns: [
            c("host_id", "TEXT", "the host"), c("hostname", "TEXT", "its name"), c("unit", "TEXT", "unit name"),
            c("description", "TEXT", "unit description"), c("active_state", "TEXT", "failed"), c("sub_state", "TEXT", "failed, auto-restart…"),
            c("result", "TEXT", "exit-code, signal, timeout, start-limit-hit…"), c("since", "TEXT", "when it entered the state"),
            c("restarts", "INTEGER", "NRestarts"),
        ], select: """
            SELECT u.host_id, \(hostname("u")), u.unit, u.description, u.active_state, u.sub_state, u.result, u.since, u.restarts
            FROM main.host_failed_units u
            """),
        View(name: "packages", meaning: "Installed Debian packages of each host, from its latest inventory (sent daily or when it changes).", columns: [
            c("host_id", "TEXT", "the host"), c("hostname", "TEXT", "its name"), c("name", "TEXT", "package name"),
            c("version", "TEXT", "installed version"), c("architecture", "TEXT", "amd64, all…"),
        ], select: """
            SELECT p.host_id, h.hostname, p.name, p.version, p.architecture
            FROM main.host_packages p JOIN main.hosts h ON h.id = p.host_id
            """),
        View(name: "inventory", meaning: "Each host's hardware, firmware and kernel, from its latest inventory.", columns: [
            c("host_id", "TEXT", "the host"), c("hostname", "TEXT", "its name"), c("received_at", "TEXT", "when the inventory arrived"),
            c("kernel", "TEXT", "running kernel release"), c("system_vendor", "TEXT", "DMI sys_vendor"),
            c("product_name", "TEXT", "DMI product_name (the model)"), c("bios_vendor", "TEXT", "DMI bios_vendor"),
            c("bios_version", "TEXT", "DMI bios_version (firmware)"), c("package_count", "INTEGER", "installed packages"),
        ], select: """
            SELECT i.host_id, h.hostname, i.received_at, i.kernel, i.system_vendor, i.product_name, i.bios_vendor, i.bios_version, i.package_count
            FROM main.host_inventory i JOIN main.hosts h ON h.id = i.host_id
            """),
        View(name: "findings", meaning: "Every diagnosis finding of every stored bundle.", columns: [
            c("ticket_id", "INTEGER", "the ticket it is on"), c("host_id", "TEXT", "the host"), c("hostname", "TEXT", "its name"),
            c("bundle_id", "TEXT", "the bundle it was found in"), c("received_at", "TEXT", "when that bundle arrived"),
            c("rule_id", "TEXT", "the rule (disk.space_low…)"), c("category", "TEXT", "disk, memory, network, auth, printing… (docs/diagnosis.md)"),
            c("severity", "TEXT", "critical, high, medium, low, info"), c("confidence", "REAL", "0–1"), c("title", "TEXT", "what was found"),
            c("subject", "TEXT", "what it is about: unit, device, mount, server, account (NULL when the rule does not say)"),
        ], select: """
            SELECT f.ticket_id, t.host_id, \(hostname("t")), b.bundle_id, b.received_at, f.rule_id, f.category, f.severity, f.confidence, f.title,
                   f.subject
            FROM main.findings f JOIN main.tickets t ON t.id = f.ticket_id JOIN main.bundles b ON b.id = f.bundle_row
            """),
        View(name: "tickets", meaning: "Every ticket.", columns: [
            c("ticket_id", "INTEGER", "ticket number"), c("host_id", "TEXT", "the host"), c("hostname", "TEXT", "its name"),
            c("status", "TEXT", "open, in_progress, waiting_on_user, resolved, closed"), c("priority", "TEXT", "low, normal, high, urgent"),
            c("title", "TEXT", "title"), c("assignee", "TEXT", "technician working on it"), c("top_rule_id", "TEXT", "rule of its top finding"),
            c("created_at", "TEXT", "opened"), c("updated_at", "TEXT", "last change"), c("first_response_at", "TEXT", "first reply to the user"),
            c("resolved_at", "TEXT", "resolved or closed"), c("requested_by", "TEXT", "local user who asked"),
            c("bundle_count", "INTEGER", "bundles on it"),
        ], select: """
            SELECT t.id AS ticket_id, t.host_id, h.hostname, t.status, t.priority, t.title, t.assignee, t.top_rule_id, t.created_at,
                   t.updated_at, t.first_response_at, t.resolved_at, t.requested_by,
                   (SELECT count(*) FROM main.ticket_bundles tb WHERE tb.ticket_id = t.id) AS bundle_count
            FROM main.tickets t JOIN main.hosts h ON h.id = t.host_id
            """),
        View(name: "incidents", meaning: "The same finding on several hosts within a short time.", columns: [
            c("incident_id", "INTEGER", "incident number"), c("rule_id", "TEXT", "the rule"), c("title", "TEXT", "title"),
            c("status", "TEXT", "open or closed"), c("host_count", "INTEGER", "hosts seen with it"),
            c("created_at", "TEXT", "opened"), c("updated_at", "TEXT", "last host joined"),
        ], select: """
            SELECT id AS incident_id, rule_id, title, status, host_count, created_at, updated_at FROM main.incidents
            """),
    ]

    /// The view names.
    public static let names: Set<String> = Set(views.map(\.name))

    /// The statements that create the views on a query connection.
    static var createStatements: String {
        views.map { "CREATE TEMP VIEW \($0.name) AS \($0.select);" }.joined(separator: "\n")
    }

    /// Empty TEMP tables with each view's name and columns: what a query is first prepared
    /// against (`QuerySandbox.checkNamesOnlyViews`), where nothing but the views exists.
    static let shapeStatements: String = views.map { view in
        "CREATE TEMP TABLE \(view.name) (" + view.columns.map { "\($0.name) \($0.type)" }.joined(separator: ", ") + ");"
    }.joined(separator: "\n")

    /// The store tables the views read (`main.X` in their SELECTs).
    static let baseTables: Set<String> = {
        var out: Set<String> = []
        for view in views {
            var rest = view.select[...]
            while let r = rest.range(of: "main.") {
                let name = rest[r.upperBound...].prefix { $0.isLetter || $0 == "_" }
                out.insert(String(name))
                rest = rest[r.upperBound...]
            }
        }
        return out
    }()
}

// MARK: PostgreSQL

extension FleetSchema {
    /// The schema holding the views on PostgreSQL; queries run with `search_path` set to it.
    public static let postgresSchema = "fleet"

    /// The `pg2_fleet_views` migration (`PostgresStore.migrations`): the same views as
    /// `views`, in schema `fleet`, answering what the SQLite views answer.
    ///
    /// - Times are UTC text `YYYY-MM-DD HH:MM:SS.SSS` (`fleet.utc`), as GRDB stores them;
    ///   rounded to the millisecond as GRDB rounds; flags are 0/1 integers; every text column is `COLLATE "C"`, so comparisons and
    ///   `ORDER BY` follow byte order like SQLite's BINARY collation, whatever the
    ///   database's collation.
    /// - A few SQLite functions the dashboard and saved queries use are defined here with
    ///   SQLite's meaning: `datetime` and `date` (`'now'` or a time, then modifiers PostgreSQL
    ///   reads as intervals: `'-7 days'`, `'+3 hours'`), `round` (half away from zero,
    ///   answering a real), `ifnull`, `iif`, `instr`; and `LIKE` (operator `~~` and `!~~` on
    ///   text) is ASCII case-insensitive like SQLite's. They come first on the queries'
    ///   `search_path` (`fleet, pg_catalog`).
    /// - Written once, like every migration: a later change to a view is a new migration
    ///   (`CREATE OR REPLACE VIEW`), and `PostgresQuerySandbox.roleSetup` grants SELECT on
    ///   every view of the schema to the query role at each start.
    ///
    /// Lines end in `;` only where a statement ends (`PostgresStore.statements`).
    static let postgresMigration = """
        CREATE SCHEMA fleet;

        CREATE FUNCTION fleet.utc(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT pg_catalog.to_char(pg_catalog.date_trunc('milliseconds', (t AT TIME ZONE 'UTC') + interval '500 microseconds'), 'YYYY-MM-DD HH24:MI:SS.MS') $$;
        CREATE FUNCTION fleet.datetime(t text, m1 text DEFAULT '0 seconds', m2 text DEFAULT '0 seconds') RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
            AS $$ SELECT pg_catalog.to_char((CASE WHEN pg_catalog.lower(t) = 'now' THEN pg_catalog.now() AT TIME ZONE 'UTC' ELSE t::timestamp END) + m1::interval + m2::interval, 'YYYY-MM-DD HH24:MI:SS') $$;
        CREATE FUNCTION fleet.date(t text, m1 text DEFAULT '0 seconds', m2 text DEFAULT '0 seconds') RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
            AS $$ SELECT pg_catalog.to_char((CASE WHEN pg_catalog.lower(t) = 'now' THEN pg_catalog.now() AT TIME ZONE 'UTC' ELSE t::timestamp END) + m1::interval + m2::interval, 'YYYY-MM-DD') $$;
        CREATE FUNCTION fleet.round(x double precision) RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT pg_catalog.round(x::numeric)::double precision $$;
        CREATE FUNCTION fleet.round(x double precision, n integer) RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT pg_catalog.round(x::numeric, greatest(n, 0))::double precision $$;
        CREATE FUNCTION fleet.round(x numeric) RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT pg_catalog.round(x)::double precision $$;
        CREATE FUNCTION fleet.round(x numeric, n integer) RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT pg_catalog.round(x, greatest(n, 0))::double precision $$;
        CREATE FUNCTION fleet.ifnull(a anycompatible, b anycompatible) RETURNS anycompatible LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT coalesce(a, b) $$;
        CREATE FUNCTION fleet.iif(c boolean, a anycompatible, b anycompatible) RETURNS anycompatible LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT CASE WHEN c THEN a ELSE b END $$;
        CREATE FUNCTION fleet.instr(s text, t text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT pg_catalog.strpos(s, t) $$;
        CREATE FUNCTION fleet.like_ascii(s text, p text) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT pg_catalog.lower(s COLLATE "C") OPERATOR(pg_catalog.~~) pg_catalog.lower(p COLLATE "C") $$;
        CREATE FUNCTION fleet.not_like_ascii(s text, p text) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT pg_catalog.lower(s COLLATE "C") OPERATOR(pg_catalog.!~~) pg_catalog.lower(p COLLATE "C") $$;
        CREATE OPERATOR fleet.~~ (LEFTARG = text, RIGHTARG = text, FUNCTION = fleet.like_ascii);
        CREATE OPERATOR fleet.!~~ (LEFTARG = text, RIGHTARG = text, FUNCTION = fleet.not_like_ascii);

        CREATE VIEW fleet.hosts AS
            SELECT h.id COLLATE "C" AS host_id, h.hostname COLLATE "C" AS hostname, h.machine_id COLLATE "C" AS machine_id,
                   h.agent_version COLLATE "C" AS agent_version, fleet.utc(h.enrolled_at) COLLATE "C" AS enrolled_at,
                   fleet.utc(h.last_seen_at) COLLATE "C" AS last_seen_at, (h.revoked_at IS NOT NULL)::int AS revoked,
                   hh.os_id COLLATE "C" AS os_id, hh.os_version COLLATE "C" AS os_version, hh.os_name COLLATE "C" AS os_name,
                   hh.kernel COLLATE "C" AS kernel, hh.cpu_model COLLATE "C" AS cpu_model, hh.cpu_count,
                   fleet.utc(hh.received_at) COLLATE "C" AS last_heartbeat_at
            FROM hosts h LEFT JOIN host_health hh ON hh.host_id = h.id;

        CREATE VIEW fleet.health AS
            SELECT hh.host_id COLLATE "C" AS host_id, (SELECT h.hostname FROM hosts h WHERE h.id = hh.host_id) COLLATE "C" AS hostname,
                   fleet.utc(hh.received_at) COLLATE "C" AS received_at, hh.agent_version COLLATE "C" AS agent_version,
                   hh.os_id COLLATE "C" AS os_id, hh.os_version COLLATE "C" AS os_version, hh.kernel COLLATE "C" AS kernel,
                   hh.uptime_seconds, hh.load1, hh.load5, hh.load15,
                   hh.memory_total_bytes, hh.memory_available_bytes, hh.memory_used_percent, hh.swap_total_bytes, hh.swap_used_percent,
                   hh.psi_cpu_some_avg10, hh.psi_memory_some_avg10, hh.psi_memory_full_avg10, hh.psi_io_some_avg10, hh.psi_io_full_avg10,
                   hh.oom_kills, hh.max_disk_used_percent, hh.failed_unit_count, hh.spooled_bundles
            FROM host_health hh;

        CREATE VIEW fleet.health_history AS
            SELECT hi.host_id COLLATE "C" AS host_id, h.hostname COLLATE "C" AS hostname, fleet.utc(hi.at) COLLATE "C" AS at,
                   hi.memory_used_percent, hi.swap_used_percent, hi.max_disk_used_percent, hi.load1,
                   hi.psi_memory_some_avg10, hi.psi_io_some_avg10, hi.failed_unit_count
            FROM health_history hi JOIN hosts h ON h.id = hi.host_id;

        CREATE VIEW fleet.disks AS
            SELECT d.host_id COLLATE "C" AS host_id, h.hostname COLLATE "C" AS hostname, d.mount_point COLLATE "C" AS mount_point,
                   d.device COLLATE "C" AS device, d.fs_type COLLATE "C" AS fs_type, d.read_only::int AS read_only,
                   d.size_bytes, d.used_bytes, d.available_bytes, d.used_percent, d.inodes_used_percent
            FROM host_disks d JOIN hosts h ON h.id = d.host_id;

        CREATE VIEW fleet.processes AS
            SELECT p.host_id COLLATE "C" AS host_id, h.hostname COLLATE "C" AS hostname, p.pid, p.name COLLATE "C" AS name,
                   p."user" COLLATE "C" AS "user", p.uid, p.state COLLATE "C" AS state, p.cpu_percent, p.rss_bytes, p.threads,
                   p.command COLLATE "C" AS command
            FROM host_processes p JOIN hosts h ON h.id = p.host_id;

        CREATE VIEW fleet.failed_units AS
            SELECT u.host_id COLLATE "C" AS host_id, (SELECT h.hostname FROM hosts h WHERE h.id = u.host_id) COLLATE "C" AS hostname,
                   u.unit COLLATE "C" AS unit, u.description COLLATE "C" AS description, u.active_state COLLATE "C" AS active_state,
                   u.sub_state COLLATE "C" AS sub_state, u.result COLLATE "C" AS result, fleet.utc(u.since) COLLATE "C" AS since, u.restarts
            FROM host_failed_units u;

        CREATE VIEW fleet.packages AS
            SELECT p.host_id COLLATE "C" AS host_id, h.hostname COLLATE "C" AS hostname, p.name COLLATE "C" AS name,
                   p.version COLLATE "C" AS version, p.architecture COLLATE "C" AS architecture
            FROM host_packages p JOIN hosts h ON h.id = p.host_id;

        CREATE VIEW fleet.inventory AS
            SELECT i.host_id COLLATE "C" AS host_id, h.hostname COLLATE "C" AS hostname, fleet.utc(i.received_at) COLLATE "C" AS received_at,
                   i.kernel COLLATE "C" AS kernel, i.system_vendor COLLATE "C" AS system_vendor, i.product_name COLLATE "C" AS product_name,
                   i.bios_vendor COLLATE "C" AS bios_vendor, i.bios_version COLLATE "C" AS bios_version, i.package_count
            FROM host_inventory i JOIN hosts h ON h.id = i.host_id;

        CREATE VIEW fleet.findings AS
            SELECT f.ticket_id, t.host_id COLLATE "C" AS host_id, (SELECT h.hostname FROM hosts h WHERE h.id = t.host_id) COLLATE "C" AS hostname,
                   b.bundle_id COLLATE "C" AS bundle_id, fleet.utc(b.received_at) COLLATE "C" AS received_at, f.rule_id COLLATE "C" AS rule_id,
                   f.category COLLATE "C" AS category, f.severity COLLATE "C" AS severity, f.confidence, f.title COLLATE "C" AS title,
                   f.subject COLLATE "C" AS subject
            FROM findings f JOIN tickets t ON t.id = f.ticket_id JOIN bundles b ON b.id = f.bundle_row;

        CREATE VIEW fleet.tickets AS
            SELECT t.id AS ticket_id, t.host_id COLLATE "C" AS host_id, h.hostname COLLATE "C" AS hostname, t.status COLLATE "C" AS status,
                   t.priority COLLATE "C" AS priority, t.title COLLATE "C" AS title, t.assignee COLLATE "C" AS assignee,
                   t.top_rule_id COLLATE "C" AS top_rule_id, fleet.utc(t.created_at) COLLATE "C" AS created_at,
                   fleet.utc(t.updated_at) COLLATE "C" AS updated_at, fleet.utc(t.first_response_at) COLLATE "C" AS first_response_at,
                   fleet.utc(t.resolved_at) COLLATE "C" AS resolved_at, t.requested_by COLLATE "C" AS requested_by,
                   (SELECT count(*) FROM ticket_bundles tb WHERE tb.ticket_id = t.id) AS bundle_count
            FROM tickets t JOIN hosts h ON h.id = t.host_id;

        CREATE VIEW fleet.incidents AS
            SELECT id AS incident_id, rule_id COLLATE "C" AS rule_id, title COLLATE "C" AS title, status COLLATE "C" AS status, host_count,
                   fleet.utc(created_at) COLLATE "C" AS created_at, fleet.utc(updated_at) COLLATE "C" AS updated_at
            FROM incidents;
        """
}
