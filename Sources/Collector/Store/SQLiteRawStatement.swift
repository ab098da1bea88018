import CSQLite
import Foundation
import GRDB

/// One of GRDB's cached statements on the writer connection, bound and stepped with SQLite's
/// C API, for the heartbeat batch: GRDB's `StatementArguments` (an existential box per
/// value, ~130 values a heartbeat) cost as much CPU as SQLite's own work there.
///
/// GRDB still prepares, caches and finalizes the statement with its connection; only these
/// calls use it (its SQL text is not run through GRDB elsewhere), and each use starts with a
/// reset, so GRDB's view of it does not matter. No transaction observer is registered in the
/// collector, so nothing misses these changes. Used on the writer's thread only, inside its
/// transaction.
struct SQLiteRawStatement {
    private let handle: OpaquePointer
    private let connection: OpaquePointer
    private var index: Int32 = 0

    /// The cached statement for `sql` on `db`.
    init(_ db: Database, sql: String) throws {
        guard let connection = db.sqliteConnection else {
            throw StoreError(.unavailable, "the database connection is closed")
        }
        self.connection = connection
        handle = try db.cachedStatement(sql: sql).sqliteStatement
    }

    /// Starts a new execution: clears the previous bindings.
    mutating func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        index = 0
    }

    /// Binds the next parameter to text (NULL when nil).
    mutating func bind(_ text: String?) {
        index += 1
        guard var value = text else { sqlite3_bind_null(handle, index); return }
        let (handle, index) = (handle, index)
        value.withUTF8 { bytes in
            // An empty string's buffer may have no address; SQLite needs one for '' (not NULL).
            guard let base = bytes.baseAddress else { sqlite3_bind_text(handle, index, "", 0, CSQLite_transient()); return }
            sqlite3_bind_text(handle, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(bytes.count), CSQLite_transient())
        }
    }

    /// Binds the next parameter to an integer (NULL when nil).
    mutating func bind(_ value: Int64?) {
        index += 1
        guard let value else { sqlite3_bind_null(handle, index); return }
        sqlite3_bind_int64(handle, index, value)
    }

    /// Binds the next parameter to an integer (NULL when nil).
    mutating func bind(_ value: Int?) { bind(value.map { Int64($0) }) }

    /// Binds the next parameter to 1 or 0.
    mutating func bind(_ value: Bool) { bind(Int64(value ? 1 : 0)) }

    /// Binds the next parameter to a real; NULL when nil or not finite (as SQLite stores NaN).
    mutating func bind(_ value: Double?) {
        index += 1
        guard let value, value.isFinite else { sqlite3_bind_null(handle, index); return }
        sqlite3_bind_double(handle, index, value)
    }

    /// Steps to the next row: true when there is one (read it with `int64(at:)`, `bytes(at:)`),
    /// false when the statement is done.
    /// - Throws: GRDB's `DatabaseError`, as `run()`.
    mutating func next() throws -> Bool {
        let code = sqlite3_step(handle)
        if code == SQLITE_ROW { return true }
        guard code == SQLITE_DONE else { throw failure(code) }
        return false
    }

    /// Column `column` (from 0) of the current row as an integer.
    func int64(at column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    /// Column `column` (from 0) of the current row as its text's bytes (empty for NULL): keys
    /// are compared byte for byte, as SQLite's BINARY collation does, not as Swift strings
    /// (which equate canonically equivalent Unicode).
    func bytes(at column: Int32) -> [UInt8] {
        guard let text = sqlite3_column_text(handle, column) else { return [] }
        return Array(UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(handle, column))))
    }

    /// Runs the statement to its end.
    /// - Throws: GRDB's `DatabaseError` with SQLite's code and message (a constraint, a full
    ///   disk), as GRDB's own `execute` would.
    mutating func run() throws {
        var code = sqlite3_step(handle)
        while code == SQLITE_ROW { code = sqlite3_step(handle) }
        guard code == SQLITE_DONE else { throw failure(code) }
    }

    /// Rows the last `run()` of this statement inserted, updated or deleted (`sqlite3_changes`
    /// of its connection, read right after the run).
    var changes: Int { Int(sqlite3_changes(connection)) }

    /// The error for a step that answered `code`; resets the statement.
    private func failure(_ code: Int32) -> DatabaseError {
        let message = String(cString: sqlite3_errmsg(connection))
        sqlite3_reset(handle)
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: String(cString: sqlite3_sql(handle)))
    }
}
