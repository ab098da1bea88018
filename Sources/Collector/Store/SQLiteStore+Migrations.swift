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
        return migrator
    }
}
