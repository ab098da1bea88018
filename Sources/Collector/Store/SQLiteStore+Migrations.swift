import GRDB

extension SQLiteStore {
    /// The schema, as named migrations. Append only: never edit or reorder a migration
    /// that has shipped; add `v2_…` instead. Constraints live in the schema so that a bug
    /// in the code cannot store an impossible row.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1_initial") { db in
            try db.execute(sql: """
                CREATE TABLE collector_state (
                    key TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                );

                CREATE TABLE enrollment_secrets (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    secret_hash TEXT NOT NULL UNIQUE CHECK (length(secret_hash) = 64),
                    label TEXT,
                    created_at DATETIME NOT NULL,
                    expires_at DATETIME,
                    revoked_at DATETIME,
                    use_count INTEGER NOT NULL DEFAULT 0 CHECK (use_count >= 0),
                    last_used_at DATETIME
                );

                CREATE TABLE hosts (
                    id TEXT PRIMARY KEY NOT NULL,
                    machine_id TEXT NOT NULL UNIQUE CHECK (length(machine_id) BETWEEN 1 AND 128),
                    hostname TEXT NOT NULL CHECK (length(hostname) BETWEEN 1 AND 255),
                    agent_version TEXT,
                    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
                    enrolled_at DATETIME NOT NULL,
                    last_seen_at DATETIME
                );

                CREATE TABLE users (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
                    role TEXT NOT NULL CHECK (role IN ('technician', 'admin')),
                    password_hash TEXT NOT NULL,
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL
                );

                CREATE TABLE api_tokens (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
                    role TEXT NOT NULL CHECK (role IN ('technician', 'admin')),
                    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
                    created_at DATETIME NOT NULL,
                    expires_at DATETIME,
                    revoked_at DATETIME
                );

                CREATE TABLE sessions (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
                    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    created_at DATETIME NOT NULL,
                    expires_at DATETIME NOT NULL
                );
                CREATE INDEX sessions_user ON sessions(user_id);

                CREATE TABLE bundles (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    bundle_id TEXT NOT NULL UNIQUE CHECK (length(bundle_id) = 36),
                    host_id TEXT NOT NULL REFERENCES hosts(id),
                    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
                    compressed_bytes INTEGER NOT NULL CHECK (compressed_bytes >= 0),
                    uncompressed_bytes INTEGER NOT NULL CHECK (uncompressed_bytes >= 0),
                    journal_entries INTEGER NOT NULL CHECK (journal_entries >= 0),
                    reason TEXT NOT NULL,
                    created_at DATETIME NOT NULL,
                    received_at DATETIME NOT NULL,
                    manifest TEXT NOT NULL,
                    members TEXT NOT NULL,
                    receipt TEXT NOT NULL,
                    expired INTEGER NOT NULL DEFAULT 0 CHECK (expired IN (0, 1)),
                    expired_at DATETIME,
                    CHECK ((expired = 0) = (expired_at IS NULL))
                );
                CREATE INDEX bundles_host ON bundles(host_id, received_at);
                CREATE INDEX bundles_sha256 ON bundles(sha256);
                CREATE INDEX bundles_live ON bundles(expired, received_at);

                CREATE TABLE tickets (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    host_id TEXT NOT NULL REFERENCES hosts(id),
                    status TEXT NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'in_progress', 'waiting_on_user', 'resolved', 'closed')),
                    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
                    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
                    note TEXT,
                    assignee TEXT,
                    top_rule_id TEXT,
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL,
                    first_response_at DATETIME,
                    resolved_at DATETIME
                );
                CREATE INDEX tickets_host ON tickets(host_id, status);
                CREATE INDEX tickets_status ON tickets(status, updated_at);

                CREATE TABLE ticket_bundles (
                    ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
                    bundle_row INTEGER NOT NULL REFERENCES bundles(id) ON DELETE CASCADE,
                    joined_at DATETIME NOT NULL,
                    PRIMARY KEY (ticket_id, bundle_row)
                );
                CREATE INDEX ticket_bundles_bundle ON ticket_bundles(bundle_row);

                CREATE TABLE ticket_comments (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
                    author TEXT NOT NULL,
                    body TEXT NOT NULL CHECK (length(body) >= 1),
                    visible_to_user INTEGER NOT NULL CHECK (visible_to_user IN (0, 1)),
                    created_at DATETIME NOT NULL
                );
                CREATE INDEX ticket_comments_ticket ON ticket_comments(ticket_id, id);

                CREATE TABLE findings (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
                    bundle_row INTEGER NOT NULL REFERENCES bundles(id) ON DELETE CASCADE,
                    rule_id TEXT NOT NULL,
                    category TEXT NOT NULL,
                    severity TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'info')),
                    confidence REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
                    title TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    user_advice TEXT NOT NULL,
                    technician_advice TEXT NOT NULL,
                    evidence TEXT NOT NULL,
                    last_seen DATETIME,
                    rank INTEGER NOT NULL
                );
                CREATE INDEX findings_ticket ON findings(ticket_id, rank);
                CREATE INDEX findings_rule ON findings(rule_id);

                CREATE TABLE heartbeats_latest (
                    host_id TEXT PRIMARY KEY NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    received_at DATETIME NOT NULL,
                    sent_at DATETIME NOT NULL,
                    body TEXT NOT NULL
                );

                CREATE TABLE heartbeat_history (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    received_at DATETIME NOT NULL,
                    body TEXT NOT NULL
                );
                CREATE INDEX heartbeat_history_host ON heartbeat_history(host_id, id);
                """)
        }
        migrator.registerMigration("v2_incidents") { db in
            try db.execute(sql: """
                CREATE TABLE incidents (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    rule_id TEXT NOT NULL,
                    title TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
                    host_count INTEGER NOT NULL CHECK (host_count >= 1),
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL
                );
                CREATE UNIQUE INDEX incidents_open_rule ON incidents(rule_id) WHERE status = 'open';

                CREATE TABLE incident_tickets (
                    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
                    ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
                    PRIMARY KEY (incident_id, ticket_id)
                );
                CREATE INDEX findings_rule_bundle ON findings(rule_id, bundle_row);
                """)
        }
        migrator.registerMigration("v3_enrollment_control") { db in
            try db.execute(sql: """
                ALTER TABLE hosts ADD COLUMN revoked_at DATETIME;
                ALTER TABLE enrollment_secrets ADD COLUMN max_uses INTEGER CHECK (max_uses IS NULL OR max_uses >= 1);

                CREATE TABLE pending_enrollments (
                    host_id TEXT PRIMARY KEY NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    key_hash TEXT NOT NULL CHECK (length(key_hash) = 64),
                    hostname TEXT NOT NULL CHECK (length(hostname) BETWEEN 1 AND 255),
                    agent_version TEXT,
                    requested_at DATETIME NOT NULL,
                    approved_at DATETIME,
                    approved_by TEXT,
                    CHECK ((approved_at IS NULL) = (approved_by IS NULL))
                );

                CREATE INDEX bundles_host_live ON bundles(host_id, expired, received_at);
                """)
        }
        migrator.registerMigration("v4_ticket_requester") { db in
            // The local user whose request opened a ticket (the manifest's requestedBy): on a
            // shared workstation each user sees, and repeats join, only their own tickets.
            try db.execute(sql: """
                ALTER TABLE tickets ADD COLUMN requested_by TEXT CHECK (requested_by IS NULL OR length(requested_by) BETWEEN 1 AND 64);
                CREATE INDEX tickets_host_requester ON tickets(host_id, requested_by);
                """)
        }
        migrator.registerMigration("v5_web") { db in
            // The technician web UI: a first-start or reset password must be changed at the
            // first sign-in; why a repeat joined its ticket, shown beside the bundle; and an
            // audit log of who opened, downloaded and changed what.
            try db.execute(sql: """
                ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1));
                ALTER TABLE ticket_bundles ADD COLUMN join_reason TEXT;

                CREATE TABLE audit_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at DATETIME NOT NULL,
                    actor TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 128),
                    action TEXT NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
                    target TEXT NOT NULL CHECK (length(target) <= 256),
                    detail TEXT NOT NULL CHECK (length(detail) <= 1024)
                );
                CREATE INDEX audit_log_at ON audit_log(at);
                CREATE INDEX sessions_expires ON sessions(expires_at);
                CREATE INDEX tickets_updated ON tickets(updated_at);
                """)
        }
        migrator.registerMigration("v6_journal_index") { db in
            // The journal view's index (SQLiteStore+Journal.swift). An entry's id is
            // (bundle row << 32) + its position in the bundle, so one bundle's entries are one
            // id range: pages read in bundle order without a sort, and retention deletes a range.
            // `fields` is the entry's journal.jsonl object without `msg` (kept once, in `message`).
            // `journal_text` indexes `message` by trigrams (substring search, case folded by
            // FTS5) with journal_entries as its content, so the text is not stored twice;
            // detail=none (which rows hold a trigram, not where): the index is about half the
            // size, queries AND the needle's trigrams, and the exact check happens in Swift.
            // `journal_indexes` marks a bundle whose entries are all written: without its row
            // the entries are ignored and the blob is scanned. Bundles stored before this
            // migration have none.
            try db.execute(sql: """
                CREATE TABLE journal_indexes (
                    bundle_row INTEGER PRIMARY KEY NOT NULL REFERENCES bundles(id) ON DELETE CASCADE,
                    entries INTEGER NOT NULL CHECK (entries BETWEEN 0 AND 4294967295),
                    indexed_at DATETIME NOT NULL
                );

                CREATE TABLE journal_entries (
                    id INTEGER PRIMARY KEY NOT NULL CHECK (id >= 0),
                    bundle_row INTEGER GENERATED ALWAYS AS (id >> 32) VIRTUAL,
                    seq INTEGER GENERATED ALWAYS AS (id & 4294967295) VIRTUAL,
                    realtime INTEGER NOT NULL,
                    priority INTEGER,
                    unit TEXT,
                    user_unit TEXT,
                    identifier TEXT,
                    boot_id TEXT,
                    pid INTEGER,
                    message TEXT,
                    locator TEXT NOT NULL,
                    fields TEXT NOT NULL
                );
                CREATE INDEX journal_entries_unit ON journal_entries(unit, id) WHERE unit IS NOT NULL;
                CREATE INDEX journal_entries_user_unit ON journal_entries(user_unit, id) WHERE user_unit IS NOT NULL;
                CREATE INDEX journal_entries_identifier ON journal_entries(identifier, id) WHERE identifier IS NOT NULL;
                CREATE INDEX journal_entries_realtime ON journal_entries(realtime, id);

                CREATE VIRTUAL TABLE journal_text USING fts5(
                    message, content = 'journal_entries', content_rowid = 'id', tokenize = 'trigram', detail = none);
                """)
        }
        migrator.registerMigration("v7_fleet") { db in
            // Fleet health as real columns and rows, written with every heartbeat: the latest
            // state per host (health, disks, top processes, failed units) and a history of the
            // headline figures, downsampled to one row an hour after a day (RetentionService).
            // The documented query views (FleetSchema) read these.
            try db.execute(sql: """
                CREATE TABLE host_health (
                    host_id TEXT PRIMARY KEY NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    received_at DATETIME NOT NULL,
                    sent_at DATETIME NOT NULL,
                    agent_version TEXT NOT NULL,
                    os_id TEXT, os_version TEXT, os_name TEXT, kernel TEXT, cpu_model TEXT, cpu_count INTEGER,
                    uptime_seconds REAL, load1 REAL, load5 REAL, load15 REAL,
                    memory_total_bytes INTEGER, memory_available_bytes INTEGER, memory_used_percent REAL,
                    swap_total_bytes INTEGER, swap_used_percent REAL,
                    psi_cpu_some_avg10 REAL, psi_memory_some_avg10 REAL, psi_memory_full_avg10 REAL,
                    psi_io_some_avg10 REAL, psi_io_full_avg10 REAL,
                    oom_kills INTEGER,
                    max_disk_used_percent REAL,
                    failed_unit_count INTEGER NOT NULL,
                    spooled_bundles INTEGER NOT NULL
                );
                CREATE TABLE host_disks (
                    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    mount_point TEXT NOT NULL,
                    device TEXT NOT NULL, fs_type TEXT NOT NULL, read_only INTEGER NOT NULL,
                    size_bytes INTEGER NOT NULL, used_bytes INTEGER NOT NULL, available_bytes INTEGER NOT NULL,
                    used_percent REAL NOT NULL, inodes_used_percent REAL NOT NULL,
                    PRIMARY KEY (host_id, mount_point)
                ) WITHOUT ROWID;
                CREATE INDEX host_disks_used ON host_disks(used_percent);
                CREATE TABLE host_processes (
                    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    pid INTEGER NOT NULL, name TEXT NOT NULL, user TEXT, uid INTEGER NOT NULL, state TEXT NOT NULL,
                    cpu_percent REAL NOT NULL, rss_bytes INTEGER NOT NULL, threads INTEGER NOT NULL, command TEXT NOT NULL,
                    PRIMARY KEY (host_id, pid)
                ) WITHOUT ROWID;
                CREATE TABLE host_failed_units (
                    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    unit TEXT NOT NULL, description TEXT NOT NULL, active_state TEXT NOT NULL, sub_state TEXT NOT NULL,
                    result TEXT, since DATETIME, restarts INTEGER,
                    PRIMARY KEY (host_id, unit)
                ) WITHOUT ROWID;
                CREATE INDEX host_failed_units_unit ON host_failed_units(unit);
                CREATE TABLE health_history (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    at DATETIME NOT NULL,
                    memory_used_percent REAL, swap_used_percent REAL, max_disk_used_percent REAL, load1 REAL,
                    psi_memory_some_avg10 REAL, psi_io_some_avg10 REAL, failed_unit_count INTEGER NOT NULL
                );
                CREATE INDEX health_history_host ON health_history(host_id, at);
                CREATE INDEX health_history_at ON health_history(at);
                CREATE INDEX hosts_last_seen ON hosts(last_seen_at);

                CREATE TABLE saved_queries (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
                    sql TEXT NOT NULL CHECK (length(sql) BETWEEN 1 AND 1048576),
                    owner TEXT NOT NULL,
                    shared INTEGER NOT NULL CHECK (shared IN (0, 1)),
                    created_at DATETIME NOT NULL,
                    UNIQUE (owner, name)
                );
                CREATE INDEX findings_rule_ticket ON findings(rule_id, ticket_id);
                """)
        }
        migrator.registerMigration("v8_fleet_indexes") { db in
            // Indexes for the fleet dashboard at 100,000 hosts (bench/fleet, BENCHMARKS.md):
            // counts by agent version and kernel read a covering index instead of every
            // host_health row; memory pressure walks PSI in order and checks RAM in the
            // index; "disks over 90 %" skips read-only filesystems, which are full by design.
            try db.execute(sql: """
                CREATE INDEX host_health_agent_version ON host_health(agent_version);
                CREATE INDEX host_health_kernel ON host_health(kernel);
                CREATE INDEX host_health_memory_pressure ON host_health(psi_memory_some_avg10, memory_used_percent);
                CREATE INDEX host_disks_writable_used ON host_disks(used_percent) WHERE read_only = 0;
                """)
        }
        migrator.registerMigration("v9_bundle_requests") { db in
            // A technician asks a host for a fresh bundle; the agent picks the request up at
            // its next check-in and its bundle joins the request's ticket.
            try db.execute(sql: """
                CREATE TABLE bundle_requests (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    ticket_id INTEGER REFERENCES tickets(id) ON DELETE SET NULL,
                    requested_by TEXT NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 128),
                    note TEXT CHECK (note IS NULL OR length(note) <= 1000),
                    created_at DATETIME NOT NULL,
                    expires_at DATETIME NOT NULL,
                    delivered_at DATETIME,
                    bundle_id TEXT,
                    CHECK ((delivered_at IS NULL) = (bundle_id IS NULL))
                );
                CREATE INDEX bundle_requests_host ON bundle_requests(host_id, delivered_at, expires_at);
                CREATE INDEX bundle_requests_ticket ON bundle_requests(ticket_id);
                """)
        }
        migrator.registerMigration("v10_policies") { db in
            // A saved fleet query can be a policy: run every N minutes; each host it newly
            // answers (a host_id column) gets a ticket with the policy's advice before its user calls.
            try db.execute(sql: """
                ALTER TABLE saved_queries ADD COLUMN policy_interval_minutes INTEGER CHECK (policy_interval_minutes IS NULL OR policy_interval_minutes >= 1);
                ALTER TABLE saved_queries ADD COLUMN policy_advice TEXT CHECK (policy_advice IS NULL OR length(policy_advice) <= 4000);
                ALTER TABLE saved_queries ADD COLUMN policy_priority TEXT CHECK (policy_priority IS NULL OR policy_priority IN ('low', 'normal', 'high', 'urgent'));
                ALTER TABLE saved_queries ADD COLUMN policy_last_run_at DATETIME;
                ALTER TABLE saved_queries ADD COLUMN policy_last_result TEXT;

                CREATE TABLE policy_matches (
                    query_id INTEGER NOT NULL REFERENCES saved_queries(id) ON DELETE CASCADE,
                    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    first_matched_at DATETIME NOT NULL,
                    last_matched_at DATETIME NOT NULL,
                    ticket_id INTEGER REFERENCES tickets(id) ON DELETE SET NULL,
                    PRIMARY KEY (query_id, host_id)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v11_inventory") { db in
            // What each host has installed and runs on, from the daemon's daily inventory.
            try db.execute(sql: """
                CREATE TABLE host_inventory (
                    host_id TEXT PRIMARY KEY NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    received_at DATETIME NOT NULL,
                    collected_at DATETIME NOT NULL,
                    kernel TEXT, system_vendor TEXT, product_name TEXT, bios_vendor TEXT, bios_version TEXT,
                    package_count INTEGER NOT NULL
                );
                CREATE TABLE host_packages (
                    host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    architecture TEXT NOT NULL,
                    version TEXT NOT NULL,
                    PRIMARY KEY (host_id, name, architecture)
                ) WITHOUT ROWID;
                CREATE INDEX host_packages_name ON host_packages(name, version);
                """)
        }
        migrator.registerMigration("v12_typed_history") { db in
            // Heartbeat history is typed only: the JSON copy of every heartbeat (288 a host)
            // was most of the store and a sixth of the work per heartbeat. The agent's send
            // time joins the typed row.
            try db.execute(sql: """
                ALTER TABLE health_history ADD COLUMN sent_at DATETIME;
                DROP TABLE heartbeat_history;
                """)
        }
        migrator.registerMigration("v13_integrations") { db in
            // Ticket integrations (docs/integrations.md). An event row is written in the same
            // transaction as the ticket change it reports (the outbox); the delivery worker
            // fans each event out to one delivery row per matching backend and claims those
            // rows one at a time. Remote links tie a ticket to its Jira/Zendesk/GitHub issue.
            try db.execute(sql: """
                CREATE TABLE integration_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_uuid TEXT NOT NULL UNIQUE CHECK (length(event_uuid) = 36),
                    kind TEXT NOT NULL CHECK (kind IN ('ticket.opened', 'ticket.updated', 'ticket.joined', 'ticket.resolved', 'incident.opened')),
                    ticket_id INTEGER REFERENCES tickets(id) ON DELETE CASCADE,
                    incident_id INTEGER REFERENCES incidents(id) ON DELETE CASCADE,
                    comment_id INTEGER REFERENCES ticket_comments(id) ON DELETE SET NULL,
                    bundle_id TEXT CHECK (bundle_id IS NULL OR length(bundle_id) <= 64),
                    origin TEXT CHECK (origin IS NULL OR length(origin) <= 64),
                    detail TEXT CHECK (detail IS NULL OR length(detail) <= 2000),
                    created_at DATETIME NOT NULL,
                    routed_at DATETIME,
                    CHECK ((ticket_id IS NULL) <> (incident_id IS NULL))
                );
                CREATE INDEX integration_events_unrouted ON integration_events(id) WHERE routed_at IS NULL;

                CREATE TABLE integration_deliveries (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_id INTEGER NOT NULL REFERENCES integration_events(id) ON DELETE CASCADE,
                    backend TEXT NOT NULL CHECK (length(backend) BETWEEN 1 AND 64),
                    ticket_id INTEGER,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'delivering', 'delivered', 'skipped', 'dead')),
                    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                    next_attempt_at DATETIME NOT NULL,
                    claimed_until DATETIME,
                    claim_token TEXT,
                    last_error TEXT CHECK (last_error IS NULL OR length(last_error) <= 2000),
                    last_status_code INTEGER,
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL,
                    delivered_at DATETIME,
                    CHECK ((status = 'delivering') = (claim_token IS NOT NULL)),
                    UNIQUE (event_id, backend)
                );
                CREATE INDEX integration_deliveries_due ON integration_deliveries(status, next_attempt_at);
                CREATE INDEX integration_deliveries_ticket ON integration_deliveries(backend, ticket_id, id);

                CREATE TABLE ticket_remote_links (
                    ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
                    backend TEXT NOT NULL CHECK (length(backend) BETWEEN 1 AND 64),
                    remote_key TEXT NOT NULL CHECK (length(remote_key) BETWEEN 1 AND 200),
                    remote_url TEXT CHECK (remote_url IS NULL OR length(remote_url) <= 2000),
                    remote_status TEXT CHECK (remote_status IS NULL OR length(remote_status) <= 200),
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL,
                    PRIMARY KEY (ticket_id, backend),
                    UNIQUE (backend, remote_key)
                ) WITHOUT ROWID;

                CREATE TABLE integration_inbound_seen (
                    signature TEXT PRIMARY KEY NOT NULL CHECK (length(signature) = 64),
                    seen_at DATETIME NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v14_diagnosis_subject") { db in
            // What a finding is about (unit, device, mount, account), from diagnosis schema 12; NULL before.
            try db.execute(sql: "ALTER TABLE findings ADD COLUMN subject TEXT")
        }
        migrator.registerMigration("v15_rule_knowledge") { db in
            // Knowledge from technicians (#13): a known fix per rule, copied onto the findings
            // stored after it was set (earlier findings keep what they had); the ticket's
            // category when a technician reclassified it; and the corrections (splits,
            // reclassifications) counted per rule. Sizes are checked by the API too; these
            // bounds hold whatever the limits say.
            try db.execute(sql: """
                CREATE TABLE rule_fixes (
                    rule_id TEXT PRIMARY KEY NOT NULL CHECK (length(CAST(rule_id AS BLOB)) BETWEEN 1 AND 200),
                    text TEXT NOT NULL CHECK (length(CAST(text AS BLOB)) BETWEEN 1 AND 65536),
                    link TEXT CHECK (link IS NULL OR (length(CAST(link AS BLOB)) BETWEEN 10 AND 8192
                                                      AND (substr(link, 1, 7) = 'http://' OR substr(link, 1, 8) = 'https://'))),
                    updated_by TEXT NOT NULL CHECK (length(updated_by) BETWEEN 1 AND 128),
                    updated_at DATETIME NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE rule_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    rule_id TEXT NOT NULL CHECK (length(CAST(rule_id AS BLOB)) BETWEEN 1 AND 200),
                    kind TEXT NOT NULL CHECK (kind IN ('split', 'reclassified')),
                    ticket_id INTEGER REFERENCES tickets(id) ON DELETE SET NULL,
                    actor TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 128),
                    detail TEXT CHECK (detail IS NULL OR length(detail) <= 500),
                    created_at DATETIME NOT NULL
                );
                CREATE INDEX rule_events_rule ON rule_events(rule_id, kind, ticket_id);

                ALTER TABLE tickets ADD COLUMN category TEXT CHECK (category IS NULL OR length(category) BETWEEN 1 AND 32);
                CREATE INDEX tickets_top_rule ON tickets(top_rule_id);

                ALTER TABLE findings ADD COLUMN known_fix TEXT;
                ALTER TABLE findings ADD COLUMN known_fix_link TEXT;
                ALTER TABLE findings ADD COLUMN known_fix_by TEXT;
                ALTER TABLE findings ADD COLUMN known_fix_at DATETIME;
                """)
        }
        migrator.registerMigration("v16_lean_heartbeat_writes") { db in
            // Fewer pages written per heartbeat (BENCHMARKS.md, "heartbeat ingest"): 17 → 9 on
            // a realistic fleet, where every heartbeat comes from a host the batch has not seen.
            // - host_health is clustered by host (WITHOUT ROWID): a heartbeat updates its row in
            //   place instead of deleting it and appending a new rowid, and the table needs no
            //   separate index on host_id.
            // - The indexes on values that change with every heartbeat hold only the rows the
            //   dashboard looks for (partial indexes with its exact conditions): a disk at 57 %
            //   or a host without memory pressure no longer moves an index entry per beat.
            //   Other thresholds in ad-hoc queries scan the table (host_disks: ~5 rows a host).
            try db.execute(sql: """
                CREATE TABLE host_health_new (
                    host_id TEXT PRIMARY KEY NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
                    received_at DATETIME NOT NULL,
                    sent_at DATETIME NOT NULL,
                    agent_version TEXT NOT NULL,
                    os_id TEXT, os_version TEXT, os_name TEXT, kernel TEXT, cpu_model TEXT, cpu_count INTEGER,
                    uptime_seconds REAL, load1 REAL, load5 REAL, load15 REAL,
                    memory_total_bytes INTEGER, memory_available_bytes INTEGER, memory_used_percent REAL,
                    swap_total_bytes INTEGER, swap_used_percent REAL,
                    psi_cpu_some_avg10 REAL, psi_memory_some_avg10 REAL, psi_memory_full_avg10 REAL,
                    psi_io_some_avg10 REAL, psi_io_full_avg10 REAL,
                    oom_kills INTEGER,
                    max_disk_used_percent REAL,
                    failed_unit_count INTEGER NOT NULL,
                    spooled_bundles INTEGER NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO host_health_new SELECT host_id, received_at, sent_at, agent_version, os_id, os_version, os_name, kernel,
                    cpu_model, cpu_count, uptime_seconds, load1, load5, load15, memory_total_bytes, memory_available_bytes,
                    memory_used_percent, swap_total_bytes, swap_used_percent, psi_cpu_some_avg10, psi_memory_some_avg10,
                    psi_memory_full_avg10, psi_io_some_avg10, psi_io_full_avg10, oom_kills, max_disk_used_percent,
                    failed_unit_count, spooled_bundles FROM host_health;
                DROP TABLE host_health;
                ALTER TABLE host_health_new RENAME TO host_health;
                CREATE INDEX host_health_agent_version ON host_health(agent_version);
                CREATE INDEX host_health_kernel ON host_health(kernel);
                CREATE INDEX host_health_memory_pressure ON host_health(psi_memory_some_avg10, memory_used_percent)
                    WHERE psi_memory_some_avg10 >= 10 OR memory_used_percent >= 90;
                DROP INDEX host_disks_used;
                DROP INDEX host_disks_writable_used;
                CREATE INDEX host_disks_full ON host_disks(used_percent) WHERE used_percent > 90 AND read_only = 0;
                """)
        }
        migrator.registerMigration("v17_process_rows") { db in
            // The latest heartbeat's JSON is stored without its top processes (half its bytes:
            // without them it fits in one page instead of spilling to a second), and they are
            // put back from these rows when it is read; so the rows keep what the JSON had.
            // JSON stored before keeps its processes and is read as it is.
            try db.execute(sql: """
                ALTER TABLE host_processes ADD COLUMN ppid INTEGER;
                ALTER TABLE host_processes ADD COLUMN start_time DATETIME;
                ALTER TABLE host_processes ADD COLUMN top_cpu INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE host_processes ADD COLUMN top_memory INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE host_processes ADD COLUMN ordinal INTEGER NOT NULL DEFAULT 0;
                """)
        }
        return migrator
    }
}
