import Foundation
import GRDB
import Shared

/// The journal index: a bundle's journal entries as rows, so a journal page is a query
/// instead of inflating and scanning the blob (schema and layout in `v6_journal_index`).
extension SQLiteStore {
    /// Entries written per transaction: the single writer is free between chunks for
    /// heartbeats and other bundles.
    static let journalIndexChunk = 20_000

    /// A string as a bound value: GRDB hands text to SQLite as a C string (cut at the first
    /// NUL, and read back the same way), so text holding NUL goes as its UTF-8 bytes, a BLOB.
    /// A BLOB never equals a TEXT, so filters still compare whole strings.
    static func sqlText(_ text: String?) -> (any DatabaseValueConvertible)? {
        guard let text else { return nil }
        return text.utf8.contains(0) ? Data(text.utf8) : text
    }

    /// Reads a column written with `sqlText`.
    static func string(_ row: Row, _ column: String) -> String? {
        switch (row[column] as DatabaseValue).storage {
        case .string(let text): text
        case .blob(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The id range of a bundle's entries.
    static func journalRange(bundleRow: Int64) -> (lo: Int64, hi: Int64) {
        (bundleRow << 32, (bundleRow << 32) | 0xFFFF_FFFF)
    }

    public func storeJournalIndex(bundleID: String, entries: [JournalEntry], now: Date) async throws -> Bool {
        guard entries.count <= 0xFFFF_FFFF else { return false }
        var next = 0
        repeat {
            let start = next
            let end = min(entries.count, start + Self.journalIndexChunk)
            let last = end == entries.count
            let stored = try await write { db -> Bool in
                // Expired (or gone) meanwhile: retention may already have removed earlier chunks.
                guard let bundleRow = try Int64.fetchOne(db, sql: "SELECT id FROM bundles WHERE bundle_id = ? AND expired = 0",
                                                         arguments: [bundleID]) else {
                    return false
                }
                let (lo, hi) = Self.journalRange(bundleRow: bundleRow)
                if start == 0 {
                    // Another indexer (another collector, a concurrent first read) finished it.
                    if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM journal_indexes WHERE bundle_row = ?)", arguments: [bundleRow]) == true {
                        return true
                    }
                    // Rows an interrupted run left behind (a crash between chunks) go first.
                    try db.execute(sql: """
                        INSERT INTO journal_text (journal_text, rowid, message)
                        SELECT 'delete', id, message FROM journal_entries WHERE id BETWEEN ? AND ?
                        """, arguments: [lo, hi])
                    try db.execute(sql: "DELETE FROM journal_entries WHERE id BETWEEN ? AND ?", arguments: [lo, hi])
                }
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO journal_entries (id, realtime, priority, unit, user_unit, identifier, boot_id, pid, message, locator, fields)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                var line: [UInt8] = []
                for seq in start..<end {
                    var e = entries[seq]
                    let message = e.message
                    e.message = nil
                    line.removeAll(keepingCapacity: true)
                    JournalLineCodec.append(e, to: &line)
                    if line.last == 0x0A { line.removeLast() }
                    try insert.execute(arguments: [lo + Int64(seq), e.realtime, e.priority, Self.sqlText(e.unit), Self.sqlText(e.userUnit),
                                                   Self.sqlText(e.identifier), Self.sqlText(e.bootID), e.pid, Self.sqlText(message),
                                                   Self.sqlText(entries[seq].locator), String(decoding: line, as: UTF8.self)])
                }
                try db.execute(sql: """
                    INSERT INTO journal_text (rowid, message)
                    SELECT id, message FROM journal_entries WHERE id BETWEEN ? AND ?
                    """, arguments: [lo + Int64(start), lo + Int64(end) - 1])
                if last {
                    try db.execute(sql: "INSERT INTO journal_indexes (bundle_row, entries, indexed_at) VALUES (?, ?, ?)",
                                   arguments: [bundleRow, entries.count, now])
                }
                return true
            }
            guard stored else { return false }
            if start == 0, try await read({ db in
                try Bool.fetchOne(db, sql: """
                    SELECT EXISTS (SELECT 1 FROM journal_indexes j JOIN bundles b ON b.id = j.bundle_row WHERE b.bundle_id = ?)
                    """, arguments: [bundleID]) ?? false
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
            let n = try await write { db -> Int in
                // Expired bundles whose rows are still there (markExpired only drops the mark).
                guard let bundleRow = try Int64.fetchOne(db, sql: """
                    SELECT b.id FROM bundles b WHERE b.expired = 1 AND EXISTS (
                        SELECT 1 FROM journal_entries e WHERE e.id BETWEEN (b.id << 32) AND ((b.id << 32) | 4294967295))
                    ORDER BY b.id LIMIT 1
                    """) else { return 0 }
                let (lo, hi) = Self.journalRange(bundleRow: bundleRow)
                let last = try Int64.fetchOne(db, sql: "SELECT id FROM journal_entries WHERE id BETWEEN ? AND ? ORDER BY id LIMIT 1 OFFSET ?",
                                              arguments: [lo, hi, Self.journalPurgeChunk - 1]) ?? hi
                // The FTS rows first, told the text they indexed (external content needs it).
                try db.execute(sql: """
                    INSERT INTO journal_text (journal_text, rowid, message)
                    SELECT 'delete', id, message FROM journal_entries WHERE id BETWEEN ? AND ?
                    """, arguments: [lo, last])
                try db.execute(sql: "DELETE FROM journal_entries WHERE id BETWEEN ? AND ?", arguments: [lo, last])
                return db.changesCount
            }
            if n == 0 { return removed }
            removed += n
        }
    }

    /// The bundle's row when it is live and completely indexed.
    private static func indexedBundleRow(_ db: Database, bundleID: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: """
            SELECT b.id FROM bundles b JOIN journal_indexes j ON j.bundle_row = b.id WHERE b.bundle_id = ? AND b.expired = 0
            """, arguments: [bundleID])
    }

    private static let entryColumns = "journal_entries.id, journal_entries.message, journal_entries.fields"

    private static func entry(_ row: Row, bundleID: String) throws -> JournalEntry {
        let fields: String = row["fields"]
        var copy = fields
        var e: JournalEntry
        do {
            e = try copy.withUTF8 { try JournalLineCodec.parse(UnsafeRawBufferPointer($0)) }
        } catch {
            throw StoreError(.corrupt, "journal index entry \(row["id"] as Int64) of bundle \(bundleID) cannot be read: \(error)")
        }
        e.message = string(row, "message")
        return e
    }

    public func journalPage(bundleID: String, filter: BundleArchive.JournalFilter, offset: Int,
                            limit: Int) async throws -> BundleArchive.JournalPage? {
        try await read { db in
            guard let bundleRow = try Self.indexedBundleRow(db, bundleID: bundleID) else { return nil }
            let (lo, hi) = Self.journalRange(bundleRow: bundleRow)
            // Every condition is a constant of this function; values are bound.
            var conditions: [String] = []
            var arguments: StatementArguments = []
            var skip = offset
            if filter.isEmpty {
                // Positions are ids: seek straight to the page.
                guard offset <= 0xFFFF_FFFF else { return BundleArchive.JournalPage(entries: [], offset: offset, limit: limit, nextOffset: nil) }
                conditions.append("id BETWEEN ? AND ?")
                arguments += [lo + Int64(offset), hi]
                skip = 0
            } else {
                conditions.append("id BETWEEN ? AND ?")
                arguments += [lo, hi]
            }
            if let p = filter.maxPriority {
                conditions.append("coalesce(priority, 6) <= ?")
                arguments += [p]
            }
            if let identifier = filter.identifier {
                conditions.append("identifier = ?")
                arguments += [Self.sqlText(identifier)]
            }
            if let boot = filter.bootID {
                conditions.append("boot_id = ?")
                arguments += [Self.sqlText(boot)]
            }
            // Unary + keeps the planner off the realtime index (across every bundle) for ranges.
            if let since = filter.since {
                conditions.append("+realtime >= ?")
                arguments += [Saturating.microseconds(since1970: since)]
            }
            if let until = filter.until {
                conditions.append("+realtime < ?")
                arguments += [Saturating.microseconds(since1970: until)]
            }
            var entries: [JournalEntry] = []
            var more = false
            if let text = filter.text {
                if let unit = filter.unit {
                    conditions.append("(unit = ? OR user_unit = ? OR identifier = ?)")
                    arguments += [Self.sqlText(unit), Self.sqlText(unit), Self.sqlText(unit)]
                }
                let sql = "SELECT \(Self.entryColumns) FROM journal_entries WHERE \(conditions.joined(separator: " AND ")) ORDER BY id"
                // The trigram index narrows; `JournalText.contains` decides, as in the blob scan,
                // so the two keep exactly the same entries.
                let needle = JournalText.fold(text)
                var query = sql
                if let match = JournalText.trigramQuery(foldedNeedle: needle) {
                    // Driven by the FTS5 index, whose rowids come in order: a page stops early.
                    query = "SELECT \(Self.entryColumns) FROM journal_text JOIN journal_entries ON journal_entries.id = journal_text.rowid "
                        + "WHERE journal_text MATCH ? AND journal_text.rowid BETWEEN ? AND ? AND \(conditions.joined(separator: " AND ")) "
                        + "ORDER BY journal_text.rowid"
                    arguments = [match, lo, hi] + arguments
                } else if case let run = JournalText.longestASCIIRun(needle), !run.isEmpty {
                    // Too short for trigrams: SQLite narrows in C (lower() folds ASCII only,
                    // so the Kelvin sign is made k first, as `fold` does).
                    query = "SELECT \(Self.entryColumns) FROM journal_entries WHERE \(conditions.joined(separator: " AND ")) "
                        + "AND instr(lower(replace(message, char(8490), 'k')), ?) > 0 ORDER BY id"
                    arguments += [run]
                }
                var matched = 0
                let rows = try Row.fetchCursor(db, sql: query, arguments: arguments)
                while let row = try rows.next() {
                    guard JournalText.contains(Self.string(row, "message") ?? "", foldedNeedle: needle) else { continue }
                    matched += 1
                    if matched <= skip { continue }
                    if entries.count == limit { more = true; break }
                    entries.append(try Self.entry(row, bundleID: bundleID))
                }
            } else {
                let base = conditions.joined(separator: " AND ")
                let sql: String
                if let unit = filter.unit {
                    // One ordered index range per column, merged (a UNION of sorted arms): an OR
                    // of the three would collect and sort every match before the page.
                    let arms = ["unit", "user_unit", "identifier"].map { "SELECT id FROM journal_entries WHERE \($0) = ? AND \(base)" }
                    sql = "SELECT \(Self.entryColumns) FROM journal_entries WHERE id IN ("
                        + arms.joined(separator: " UNION ") + " ORDER BY 1 LIMIT ? OFFSET ?) ORDER BY id"
                    var all: StatementArguments = []
                    for _ in arms { all += [Self.sqlText(unit)]; all += arguments }
                    arguments = all + [limit + 1, skip]
                } else {
                    sql = "SELECT \(Self.entryColumns) FROM journal_entries WHERE \(base) ORDER BY id LIMIT ? OFFSET ?"
                    arguments += [limit + 1, skip]
                }
                let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
                more = rows.count > limit
                entries = try rows.prefix(limit).map { try Self.entry($0, bundleID: bundleID) }
            }
            return BundleArchive.JournalPage(entries: entries, offset: offset, limit: limit, nextOffset: more ? offset + entries.count : nil)
        }
    }

    public func journalContext(bundleID: String, locator: String, before: Int, after: Int) async throws -> BundleArchive.JournalContext? {
        try await read { db in
            guard let bundleRow = try Self.indexedBundleRow(db, bundleID: bundleID) else { return nil }
            let (lo, hi) = Self.journalRange(bundleRow: bundleRow)
            // Both locator forms carry `t=<realtime in hex>`: look the entry up by time first.
            var cited: Int64?
            if let realtime = Self.realtime(inLocator: locator) {
                cited = try Int64.fetchOne(db, sql: """
                    SELECT id FROM journal_entries WHERE realtime = ? AND id BETWEEN ? AND ? AND locator = ? ORDER BY id LIMIT 1
                    """, arguments: [realtime, lo, hi, Self.sqlText(locator)])
            }
            if cited == nil {
                cited = try Int64.fetchOne(db, sql: "SELECT id FROM journal_entries WHERE id BETWEEN ? AND ? AND locator = ? ORDER BY id LIMIT 1",
                                           arguments: [lo, hi, Self.sqlText(locator)])
            }
            guard let cited else { return BundleArchive.JournalContext(offset: nil, firstOffset: 0, entries: []) }
            // Clamped so that no request can overflow the arithmetic.
            let first = max(lo, cited - Int64(min(max(0, before), 0xFFFF_FFFF)))
            let last = min(hi, cited + Int64(min(max(0, after), 0xFFFF_FFFF)))
            let entries = try Row.fetchAll(db, sql: "SELECT \(Self.entryColumns) FROM journal_entries WHERE id BETWEEN ? AND ? ORDER BY id",
                                           arguments: [first, last]).map { try Self.entry($0, bundleID: bundleID) }
            return BundleArchive.JournalContext(offset: Int(cited - lo), firstOffset: Int(first - lo), entries: entries)
        }
    }

    /// The `t=` field of a locator or sd-journal cursor, when it is a plausible time.
    static func realtime(inLocator locator: String) -> Int64? {
        for field in locator.utf8.split(separator: UInt8(ascii: ";")) where field.starts(with: "t=".utf8) {
            let hex = field.dropFirst(2)
            guard (1...16).contains(hex.count), let value = UInt64(String(decoding: hex, as: UTF8.self), radix: 16),
                  value <= UInt64(Int64.max) else { return nil }
            return Int64(value)
        }
        return nil
    }
}
