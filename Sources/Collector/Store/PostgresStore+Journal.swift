import Foundation
import NIOCore
import PostgresNIO
import Shared

/// The journal index: a bundle's journal entries as rows, so a journal page is a query
/// instead of inflating and scanning the blob (as `SQLiteStore+Journal.swift`; schema in
/// `PostgresStore+Schema.swift`). Text search narrows with `ILIKE` (served by the pg_trgm
/// GIN index on `message`) where SQLite uses its FTS5 trigram table; `JournalText.contains`
/// decides in both, so both answer exactly the entries the blob scan answers.
extension PostgresStore {
    /// Entries written per transaction: the single writer is free between chunks for
    /// heartbeats and other bundles (as on SQLite). Each chunk goes in one `COPY`.
    static let journalIndexChunk = 20_000

    /// The id range of a bundle's entries.
    static func journalRange(bundleRow: Int64) -> (lo: Int64, hi: Int64) {
        (bundleRow << 32, (bundleRow << 32) | 0xFFFF_FFFF)
    }

    /// Appends one field of a `COPY … FROM STDIN` text-format row: `\N` for NULL, else the
    /// text with backslash, tab, newline and carriage return escaped (NUL already replaced).
    private static func copyField(_ value: String?, to out: inout ByteBuffer) {
        guard let value else {
            out.writeStaticString("\\N")
            return
        }
        var plain = true
        for byte in value.utf8 where byte == 0x5C || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            plain = false
            break
        }
        if plain {
            out.writeString(value)
            return
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(value.utf8.count + 8)
        for byte in value.utf8 {
            switch byte {
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x09: bytes.append(0x5C); bytes.append(UInt8(ascii: "t"))
            case 0x0A: bytes.append(0x5C); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(0x5C); bytes.append(UInt8(ascii: "r"))
            default: bytes.append(byte)
            }
        }
        out.writeBytes(bytes)
    }

    private static func copyField(_ value: Int64?, to out: inout ByteBuffer) {
        guard let value else {
            out.writeStaticString("\\N")
            return
        }
        out.writeString(String(value))
    }

    public func storeJournalIndex(bundleID: String, entries: [JournalEntry], now: Date) async throws -> Bool {
        guard entries.count <= 0xFFFF_FFFF else { return false }
        var next = 0
        repeat {
            let start = next
            let end = min(entries.count, start + Self.journalIndexChunk)
            let last = end == entries.count
            let stored = try await write { c -> Bool in
                // Expired (or gone) meanwhile: retention may already have removed earlier chunks.
                guard let bundleRow: Int64 = try await c.one("SELECT id FROM bundles WHERE bundle_id = \(bundleID) AND NOT expired")?["id"] else {
                    return false
                }
                let (lo, hi) = Self.journalRange(bundleRow: bundleRow)
                if start == 0 {
                    // Another indexer (another collector, a concurrent first read) finished it.
                    if try await c.one("SELECT 1 AS one FROM journal_indexes WHERE bundle_row = \(bundleRow)") != nil {
                        return true
                    }
                    // Rows an interrupted run left behind (a crash between chunks) go first.
                    try await c.execute("DELETE FROM journal_entries WHERE id BETWEEN \(lo) AND \(hi)")
                }
                var buffer = ByteBuffer()
                buffer.reserveCapacity((end - start) * 256)
                var line: [UInt8] = []
                for seq in start..<end {
                    var e = entries[seq]
                    let message = e.message
                    // PostgreSQL text cannot hold NUL: such a message is kept exactly in `fields`
                    // (JSON escapes it) and `message` holds the searchable copy.
                    let exact = message.map { $0.utf8.contains(0) } ?? false
                    if !exact { e.message = nil }
                    line.removeAll(keepingCapacity: true)
                    JournalLineCodec.append(e, to: &line)
                    if line.last == 0x0A { line.removeLast() }
                    Self.copyField(lo + Int64(seq), to: &buffer)
                    buffer.writeInteger(UInt8(0x09))
                    Self.copyField(e.realtime, to: &buffer)
                    buffer.writeInteger(UInt8(0x09))
                    Self.copyField(e.priority.map { Int64($0) }, to: &buffer)
                    buffer.writeInteger(UInt8(0x09))
                    Self.copyField(Self.text(e.unit), to: &buffer)
                    buffer.writeInteger(UInt8(0x09))
                    Self.copyField(Self.text(e.userUnit), to: &buffer)
                    buffer.writeInteger(UInt8(0x09))
                    Self.copyField(Self.text(e.identifier), to: &buffer)
                    buffer.writeInteger(UInt8(0x09))
                    Self.copyField(Self.text(e.bootID), to: &buffer)
                    buffer.writeInteger(UInt8(0x09))
                    Self.copyField(e.pid.map { Int64($0) }, to: &buffer)
                    buffer.writeInteger(UInt8(0x09))
                    Self.copyField(Self.text(message), to: &buffer)
                    buffer.writeInteger(UInt8(0x09))
                    Self.copyField(Self.text(entries[seq].locator) as String, to: &buffer)
                    buffer.writeInteger(UInt8(0x09))
                    Self.copyField(String(decoding: line, as: UTF8.self), to: &buffer)
                    buffer.writeInteger(UInt8(0x0A))
                }
                try await c.connection.copyFrom(
                    table: "journal_entries",
                    columns: ["id", "realtime", "priority", "unit", "user_unit", "identifier", "boot_id", "pid", "message", "locator", "fields"],
                    logger: c.logger
                ) { writer in
                    // Pieces of about a megabyte: the server parses while the rest is sent.
                    while buffer.readableBytes > 0 {
                        let slice = buffer.readSlice(length: min(buffer.readableBytes, 1 << 20))!
                        try await writer.write(slice)
                    }
                }
                if last {
                    try await c.execute("INSERT INTO journal_indexes (bundle_row, entries, indexed_at) VALUES (\(bundleRow), \(Int64(entries.count)), \(now))")
                }
                return true
            }
            guard stored else { return false }
            if start == 0, try await read({ c in
                try await c.one("""
                    SELECT 1 AS one FROM journal_indexes j JOIN bundles b ON b.id = j.bundle_row WHERE b.bundle_id = \(bundleID)
                    """) != nil
            }), end < entries.count {
                return true  // it was already indexed: nothing written
            }
            next = end
        } while next < entries.count
        return true
    }

    /// Rows of expired bundles' journal indexes removed per transaction by `purgeJournalIndexes`.
    static let journalPurgeChunk = 20_000

    public func purgeJournalIndexes() async throws -> Int {
        var removed = 0
        while true {
            let n = try await write { c -> Int in
                // Expired bundles whose rows are still there (markExpired only drops the mark).
                guard let bundleRow: Int64 = try await c.one("""
                    SELECT b.id FROM bundles b WHERE b.expired AND EXISTS (
                        SELECT 1 FROM journal_entries e WHERE e.id BETWEEN (b.id << 32) AND ((b.id << 32) | 4294967295))
                    ORDER BY b.id LIMIT 1
                    """)?["id"] else { return 0 }
                let (lo, hi) = Self.journalRange(bundleRow: bundleRow)
                let last: Int64 = try await c.one("""
                    SELECT id FROM journal_entries WHERE id BETWEEN \(lo) AND \(hi) ORDER BY id LIMIT 1 OFFSET \(Int64(Self.journalPurgeChunk - 1))
                    """)?["id"] ?? hi
                let deleted: Int64 = try await c.one("""
                    WITH d AS (DELETE FROM journal_entries WHERE id BETWEEN \(lo) AND \(last) RETURNING 1) SELECT count(*) AS n FROM d
                    """)?["n"] ?? 0
                return Int(deleted)
            }
            if n == 0 { return removed }
            removed += n
        }
    }

    /// The bundle's row when it is live and completely indexed.
    private static func indexedBundleRow(_ c: PGConnection, bundleID: String) async throws -> Int64? {
        try await c.one("""
            SELECT b.id FROM bundles b JOIN journal_indexes j ON j.bundle_row = b.id WHERE b.bundle_id = \(bundleID) AND NOT b.expired
            """)?["id"]
    }

    private static let entryColumns = "journal_entries.id, journal_entries.message, journal_entries.fields"

    private static func entry(_ row: PGRow, bundleID: String) throws -> JournalEntry {
        let fields: String = try row["fields"]
        var copy = fields
        var e: JournalEntry
        do {
            e = try copy.withUTF8 { try JournalLineCodec.parse(UnsafeRawBufferPointer($0)) }
        } catch {
            throw StoreError(.corrupt, "journal index entry \((try? row["id"] as Int64) ?? -1) of bundle \(bundleID) cannot be read: \(error)")
        }
        // A message holding NUL was kept whole in `fields` (see storeJournalIndex).
        if e.message == nil { e.message = try row["message"] }
        return e
    }

    /// The message a row's entry has: the `message` column, unless the message held NUL
    /// (the column then has U+FFFD in its place and the exact text is in `fields`).
    private static func message(_ row: PGRow, bundleID: String) throws -> String? {
        let column: String? = try row["message"]
        guard let column, column.unicodeScalars.contains("\u{FFFD}") else { return column }
        return try entry(row, bundleID: bundleID).message
    }

    /// An `ILIKE` pattern that every message containing `foldedNeedle` (as
    /// `JournalText.contains` decides) matches, whatever the database's locale folds, or nil
    /// when the needle offers nothing to narrow by.
    ///
    /// The needle's longest printable ASCII run (`JournalText.longestASCIIRun`): an ASCII
    /// character of a folded message comes from that character, its uppercase, or (for `k`)
    /// the Kelvin sign, which `ILIKE` need not fold to `k`, so `k` becomes `_` (any one
    /// character). `%`, `_` and `\` of the needle are escaped. Any part of the run narrows
    /// soundly: at most 64 characters of it, so a huge needle is not a huge pattern.
    static func journalLikePattern(foldedNeedle: String) -> String? {
        let run = JournalText.longestASCIIRun(foldedNeedle)
        guard !run.isEmpty else { return nil }
        var pattern = "%"
        for scalar in run.unicodeScalars.prefix(64) {
            switch scalar {
            case "\\", "%", "_": pattern.append("\\"); pattern.unicodeScalars.append(scalar)
            case "k": pattern.append("_")
            default: pattern.unicodeScalars.append(scalar)
            }
        }
        pattern.append("%")
        return pattern
    }

    /// A statement built from pieces, its values bound as `$1`, `$2`, ….
    private struct Statement {
        var sql = ""
        var binds = PostgresBindings()
        var count = 0

        /// Binds `value` and answers its placeholder.
        mutating func bind<T: PostgresDynamicTypeEncodable>(_ value: T) -> String {
            binds.append(value)
            count += 1
            return "$\(count)"
        }

        var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
    }

    public func journalPage(bundleID: String, filter: BundleArchive.JournalFilter, offset: Int,
                            limit: Int) async throws -> BundleArchive.JournalPage? {
        try await read { c in
            guard let bundleRow = try await Self.indexedBundleRow(c, bundleID: bundleID) else { return nil }
            let (lo, hi) = Self.journalRange(bundleRow: bundleRow)
            // Every condition is a constant of this function; values are bound.
            var q = Statement()
            var conditions: [String] = []
            var skip = offset
            if filter.isEmpty {
                // Positions are ids: seek straight to the page.
                guard offset <= 0xFFFF_FFFF else { return BundleArchive.JournalPage(entries: [], offset: offset, limit: limit, nextOffset: nil) }
                conditions.append("id BETWEEN \(q.bind(lo + Int64(offset))) AND \(q.bind(hi))")
                skip = 0
            } else {
                conditions.append("id BETWEEN \(q.bind(lo)) AND \(q.bind(hi))")
            }
            if let p = filter.maxPriority {
                conditions.append("coalesce(priority, 6) <= \(q.bind(Int64(p)))")
            }
            if let identifier = filter.identifier {
                conditions.append("identifier = \(q.bind(Self.text(identifier)))")
            }
            if let boot = filter.bootID {
                conditions.append("boot_id = \(q.bind(Self.text(boot)))")
            }
            if let since = filter.since {
                conditions.append("realtime >= \(q.bind(Saturating.microseconds(since1970: since)))")
            }
            if let until = filter.until {
                conditions.append("realtime < \(q.bind(Saturating.microseconds(since1970: until)))")
            }
            var entries: [JournalEntry] = []
            var more = false
            if let text = filter.text {
                if let unit = filter.unit {
                    let u = q.bind(Self.text(unit))
                    conditions.append("(unit = \(u) OR user_unit = \(u) OR identifier = \(u))")
                }
                // The trigram index narrows; `JournalText.contains` decides, as in the blob scan,
                // so the two keep exactly the same entries.
                let needle = JournalText.fold(text)
                if let pattern = Self.journalLikePattern(foldedNeedle: needle) {
                    conditions.append("message ILIKE \(q.bind(pattern))")
                }
                // Candidates in id order, a batch at a time (keyset), until the page is full.
                let batch = max(256, min(skip, 5_000) + min(limit, 5_000) + 1)
                let base = conditions.joined(separator: " AND ")
                var matched = 0
                var cursor = lo - 1
                scan: while true {
                    var s = q
                    s.sql = "SELECT \(Self.entryColumns) FROM journal_entries WHERE \(base) AND id > \(s.bind(cursor)) "
                        + "ORDER BY id LIMIT \(s.bind(Int64(batch)))"
                    let rows = try await c.all(s.query)
                    for row in rows {
                        cursor = try row["id"]
                        guard JournalText.contains(try Self.message(row, bundleID: bundleID) ?? "", foldedNeedle: needle) else { continue }
                        matched += 1
                        if matched <= skip { continue }
                        if entries.count == limit { more = true; break scan }
                        entries.append(try Self.entry(row, bundleID: bundleID))
                    }
                    if rows.count < batch { break }
                }
            } else {
                let base = conditions.joined(separator: " AND ")
                if let unit = filter.unit {
                    // One ordered index range per column, merged: an OR of the three would
                    // collect and sort every match before the page.
                    let u = q.bind(Self.text(unit))
                    let arms = ["unit", "user_unit", "identifier"].map { "SELECT id FROM journal_entries WHERE \($0) = \(u) AND \(base)" }
                    q.sql = "SELECT \(Self.entryColumns) FROM journal_entries WHERE id IN ("
                        + arms.joined(separator: " UNION ") + " ORDER BY 1 LIMIT \(q.bind(Int64(limit) + 1)) OFFSET \(q.bind(Int64(skip)))) ORDER BY id"
                } else {
                    q.sql = "SELECT \(Self.entryColumns) FROM journal_entries WHERE \(base) ORDER BY id LIMIT \(q.bind(Int64(limit) + 1)) OFFSET \(q.bind(Int64(skip)))"
                }
                let rows = try await c.all(q.query)
                more = rows.count > limit
                entries = try rows.prefix(limit).map { try Self.entry($0, bundleID: bundleID) }
            }
            return BundleArchive.JournalPage(entries: entries, offset: offset, limit: limit, nextOffset: more ? offset + entries.count : nil)
        }
    }

    public func journalContext(bundleID: String, locator: String, before: Int, after: Int) async throws -> BundleArchive.JournalContext? {
        try await read { c in
            guard let bundleRow = try await Self.indexedBundleRow(c, bundleID: bundleID) else { return nil }
            let (lo, hi) = Self.journalRange(bundleRow: bundleRow)
            let stored = Self.text(locator)
            // Both locator forms carry `t=<realtime in hex>`: look the entry up by time first.
            var cited: Int64?
            if let realtime = SQLiteStore.realtime(inLocator: locator) {
                cited = try await c.one("""
                    SELECT id FROM journal_entries WHERE realtime = \(realtime) AND id BETWEEN \(lo) AND \(hi) AND locator = \(stored) ORDER BY id LIMIT 1
                    """)?["id"]
            }
            if cited == nil {
                cited = try await c.one("SELECT id FROM journal_entries WHERE id BETWEEN \(lo) AND \(hi) AND locator = \(stored) ORDER BY id LIMIT 1")?["id"]
            }
            guard let cited else { return BundleArchive.JournalContext(offset: nil, firstOffset: 0, entries: []) }
            // Clamped so that no request can overflow the arithmetic.
            let first = max(lo, cited - Int64(min(max(0, before), 0xFFFF_FFFF)))
            let last = min(hi, cited + Int64(min(max(0, after), 0xFFFF_FFFF)))
            let entries = try await c.all("""
                SELECT journal_entries.id, journal_entries.message, journal_entries.fields FROM journal_entries
                WHERE id BETWEEN \(first) AND \(last) ORDER BY id
                """).map { try Self.entry($0, bundleID: bundleID) }
            return BundleArchive.JournalContext(offset: Int(cited - lo), firstOffset: Int(first - lo), entries: entries)
        }
    }
}

extension PostgresStore {
    // MARK: IntegrationOutbox

    private static let eventColumns = """
        e.id AS e_id, e.event_uuid, e.kind, e.ticket_id AS e_ticket_id, e.incident_id, e.comment_id, e.bundle_id, e.origin, e.detail,
        e.created_at AS e_created_at
        """

    private static func event(_ row: PGRow) throws -> IntegrationEventRecord {
        let id: Int64 = try row["e_id"]
        guard let kind = IntegrationEventKind(rawValue: try row["kind"]) else {
            throw StoreError(.corrupt, "integration event \(id) has an unknown kind")
        }
        return IntegrationEventRecord(id: id, uuid: try row["event_uuid"], kind: kind, ticketID: try row["e_ticket_id"],
                                      incidentID: try row["incident_id"], commentID: try row["comment_id"], bundleID: try row["bundle_id"],
                                      origin: try row["origin"], detail: try row["detail"], createdAt: try row["e_created_at"])
    }

    private static func deliveryRecord(_ row: PGRow) throws -> IntegrationDeliveryRecord {
        let id: Int64 = try row["id"]
        guard let status = IntegrationDeliveryStatus(rawValue: try row["status"]) else {
            throw StoreError(.corrupt, "integration delivery \(id) has an unknown status")
        }
        return IntegrationDeliveryRecord(id: id, backend: try row["backend"], event: try event(row), status: status,
                                         attempts: try row["attempts"], nextAttemptAt: try row["next_attempt_at"], lastError: try row["last_error"],
                                         lastStatusCode: try row["last_status_code"], deliveredAt: try row["delivered_at"],
                                         createdAt: try row["created_at"], updatedAt: try row["updated_at"])
    }

    private static let deliverySelect = """
        SELECT d.*, \(eventColumns) FROM integration_deliveries d JOIN integration_events e ON e.id = d.event_id
        """

    public func unroutedEvents(limit: Int) async throws -> [IntegrationEventRecord] {
        try await read { c in
            try await c.all("""
                SELECT \(unescaped: Self.eventColumns) FROM integration_events e WHERE e.routed_at IS NULL ORDER BY e.id LIMIT \(Int64(limit))
                """).map(Self.event)
        }
    }

    public func routingFacts(ticketID: Int64) async throws -> TicketRoutingFacts? {
        try await read { c in
            guard let hostname: String = try await c.one("SELECT h.hostname FROM tickets t JOIN hosts h ON h.id = t.host_id WHERE t.id = \(ticketID)")?["hostname"] else {
                return nil
            }
            let findings = try await c.all("SELECT category, severity FROM findings WHERE ticket_id = \(ticketID) ORDER BY bundle_row, rank")
            let severities = try findings.compactMap { Severity(rawValue: try $0["severity"]) }
            let top = try findings.first.flatMap { FindingCategory(rawValue: try $0["category"]) }
            let linked = Set(try await c.all("SELECT backend FROM ticket_remote_links WHERE ticket_id = \(ticketID)").map { row -> String in try row["backend"] })
            return TicketRoutingFacts(topCategory: top, worstSeverity: severities.max(), hostname: hostname, linkedBackends: linked)
        }
    }

    public func route(eventID: Int64, to backends: [String], now: Date) async throws {
        try await write { c in
            let ticketID: Int64? = try await c.one("SELECT ticket_id FROM integration_events WHERE id = \(eventID)")?["ticket_id"]
            for backend in backends {
                try await c.execute("""
                    INSERT INTO integration_deliveries (event_id, backend, ticket_id, status, attempts, next_attempt_at, created_at, updated_at)
                    VALUES (\(eventID), \(backend), \(ticketID), 'pending', 0, \(now), \(now), \(now))
                    ON CONFLICT DO NOTHING
                    """)
            }
            try await c.execute("UPDATE integration_events SET routed_at = \(now) WHERE id = \(eventID)")
        }
    }

    public func claimDelivery(backends: [String], now: Date, lease: TimeInterval) async throws -> ClaimedDelivery? {
        guard !backends.isEmpty else { return nil }
        return try await write { c in
            // The exclusive write lock: the select and the update below cannot interleave with
            // another claim, in this collector or another sharing the database, so no two
            // collectors ever claim the same delivery.
            guard let id: Int64 = try await c.one("""
                SELECT d.id FROM integration_deliveries d
                WHERE d.backend = ANY(\(backends))
                  AND ((d.status = 'pending' AND d.next_attempt_at <= \(now)) OR (d.status = 'delivering' AND d.claimed_until <= \(now)))
                  AND NOT EXISTS (SELECT 1 FROM integration_deliveries p
                                  WHERE p.backend = d.backend AND p.ticket_id = d.ticket_id AND p.id < d.id
                                    AND p.status IN ('pending', 'delivering'))
                ORDER BY d.id LIMIT 1
                """)?["id"] else { return nil }
            let token = UUID().uuidString
            try await c.execute("""
                UPDATE integration_deliveries SET status = 'delivering', claim_token = \(token), claimed_until = \(now.addingTimeInterval(lease)),
                    updated_at = \(now) WHERE id = \(id)
                """)
            guard let row = try await c.one("\(unescaped: Self.deliverySelect) WHERE d.id = \(id)") else { return nil }
            return ClaimedDelivery(delivery: try Self.deliveryRecord(row), claimToken: token)
        }
    }

    public func completeDelivery(id: Int64, claimToken: String, outcome: DeliveryOutcome, now: Date) async throws -> Bool {
        try await write { c in
            guard let row = try await c.one("""
                SELECT backend, ticket_id FROM integration_deliveries WHERE id = \(id) AND claim_token = \(claimToken) AND status = 'delivering'
                """) else { return false }
            let ticketID: Int64? = try row["ticket_id"]
            switch outcome {
            case .delivered(let link):
                try await c.execute("""
                    UPDATE integration_deliveries SET status = 'delivered', attempts = attempts + 1, claim_token = NULL, claimed_until = NULL,
                        last_error = NULL, delivered_at = \(now), updated_at = \(now) WHERE id = \(id)
                    """)
                if let link, let ticketID {
                    let key = String(link.remoteKey.prefix(200))
                    let owner: Int64? = try await c.one("""
                        SELECT ticket_id FROM ticket_remote_links WHERE backend = \(link.backend) AND remote_key = \(key)
                        """)?["ticket_id"]
                    if let owner, owner != ticketID {
                        // The remote answered with a key another ticket holds: keep that link, say so
                        // (failing here would leave the row claimed and send the event again).
                        let message = "\(link.backend) answered with \(link.remoteKey.prefix(200)), which is already ticket #\(owner)'s; not linked"
                        try await c.execute("UPDATE integration_deliveries SET last_error = \(message) WHERE id = \(id)")
                    } else {
                        try await c.execute("""
                            INSERT INTO ticket_remote_links (ticket_id, backend, remote_key, remote_url, remote_status, created_at, updated_at)
                            VALUES (\(ticketID), \(link.backend), \(key), \(link.remoteURL.map { String($0.prefix(2000)) }),
                                    \(link.remoteStatus), \(now), \(now))
                            ON CONFLICT (ticket_id, backend) DO UPDATE SET remote_key = excluded.remote_key, remote_url = excluded.remote_url,
                                updated_at = excluded.updated_at
                            """)
                    }
                }
            case .skipped(let reason):
                try await c.execute("""
                    UPDATE integration_deliveries SET status = 'skipped', claim_token = NULL, claimed_until = NULL,
                        last_error = \(String(reason.prefix(2000))), updated_at = \(now)
                    WHERE id = \(id)
                    """)
            case .failed(let error, let code, let retryAt):
                try await c.execute("""
                    UPDATE integration_deliveries SET status = \(retryAt == nil ? "dead" : "pending"), attempts = attempts + 1, claim_token = NULL,
                        claimed_until = NULL, last_error = \(String(error.prefix(2000))), last_status_code = \(code.map { Int64($0) }),
                        next_attempt_at = \(retryAt ?? now), updated_at = \(now) WHERE id = \(id)
                    """)
            }
            return true
        }
    }

    public func deliveries(status: IntegrationDeliveryStatus?, limit: Int, offset: Int) async throws -> [IntegrationDeliveryRecord] {
        try await read { c in
            if let status {
                return try await c.all("""
                    \(unescaped: Self.deliverySelect) WHERE d.status = \(status.rawValue) ORDER BY d.id DESC LIMIT \(Int64(limit)) OFFSET \(Int64(offset))
                    """).map(Self.deliveryRecord)
            }
            return try await c.all("\(unescaped: Self.deliverySelect) ORDER BY d.id DESC LIMIT \(Int64(limit)) OFFSET \(Int64(offset))")
                .map(Self.deliveryRecord)
        }
    }

    public func delivery(id: Int64) async throws -> IntegrationDeliveryRecord? {
        try await read { c in
            try await c.one("\(unescaped: Self.deliverySelect) WHERE d.id = \(id)").map(Self.deliveryRecord)
        }
    }

    public func retryDelivery(id: Int64, now: Date) async throws -> Bool {
        try await write { c in
            try await c.count("""
                UPDATE integration_deliveries SET status = 'pending', attempts = 0, next_attempt_at = \(now), updated_at = \(now)
                WHERE id = \(id) AND status IN ('dead', 'skipped', 'pending') RETURNING 1
                """) == 1
        }
    }

    public func pruneIntegrationHistory(before: Date) async throws -> Int {
        try await write { c in
            let deliveries: Int64 = try await c.one("""
                WITH d AS (DELETE FROM integration_deliveries WHERE status IN ('delivered', 'skipped', 'dead') AND updated_at < \(before) RETURNING 1)
                SELECT count(*) AS n FROM d
                """)?["n"] ?? 0
            let events: Int64 = try await c.one("""
                WITH d AS (DELETE FROM integration_events WHERE routed_at IS NOT NULL AND created_at < \(before)
                  AND NOT EXISTS (SELECT 1 FROM integration_deliveries d WHERE d.event_id = integration_events.id) RETURNING 1)
                SELECT count(*) AS n FROM d
                """)?["n"] ?? 0
            return Int(deliveries + events)
        }
    }

    public func remoteLinks(ticketID: Int64) async throws -> [TicketRemoteLink] {
        try await read { c in try await Self.remoteLinks(c, ticketID: ticketID) }
    }

    static func remoteLinks(_ c: PGConnection, ticketID: Int64) async throws -> [TicketRemoteLink] {
        try await c.all("SELECT * FROM ticket_remote_links WHERE ticket_id = \(ticketID) ORDER BY backend COLLATE \"C\"").map {
            TicketRemoteLink(backend: try $0["backend"], remoteKey: try $0["remote_key"], remoteURL: try $0["remote_url"],
                             remoteStatus: try $0["remote_status"], createdAt: try $0["created_at"], updatedAt: try $0["updated_at"])
        }
    }

    public func applyRemoteStatus(backend: String, remoteKey: String, remoteStatus: String, status: TicketStatus,
                                  signature: String, seenSince: Date, now: Date) async throws -> InboundStatusOutcome {
        try await write { c in
            try await c.execute("DELETE FROM integration_inbound_seen WHERE seen_at < \(seenSince)")
            guard try await c.count("""
                INSERT INTO integration_inbound_seen (signature, seen_at) VALUES (\(signature), \(now)) ON CONFLICT DO NOTHING RETURNING 1
                """) == 1 else { return .replayed }
            guard let ticketID: Int64 = try await c.one("""
                SELECT ticket_id FROM ticket_remote_links WHERE backend = \(backend) AND remote_key = \(remoteKey)
                """)?["ticket_id"] else { return .unknownRemoteKey }
            let clipped = String(remoteStatus.prefix(200))
            try await c.execute("""
                UPDATE ticket_remote_links SET remote_status = \(clipped), updated_at = \(now) WHERE ticket_id = \(ticketID) AND backend = \(backend)
                """)
            let current: String? = try await c.one("SELECT status FROM tickets WHERE id = \(ticketID)")?["status"]
            guard current != status.rawValue else { return .applied(ticketID: ticketID, status: status) }
            try await Self.setStatus(c, ticketID: ticketID, status, now: now)
            try await c.execute("""
                INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at)
                VALUES (\(ticketID), 'helpline', \("\(backend) reported \(remoteKey) as “\(clipped)”: status set to \(status.rawValue)."), false, \(now))
                """)
            try await Self.recordEvent(c, status == .resolved || status == .closed ? .ticketResolved : .ticketUpdated, ticketID: ticketID,
                                       origin: backend, detail: "status: \(status.rawValue) (from \(backend))", now: now)
            return .applied(ticketID: ticketID, status: status)
        }
    }
}
