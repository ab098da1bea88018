import CSQLite
import Foundation

/// One value of a query's answer.
public enum QueryValue: Sendable, Equatable, Codable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    /// JSON: null, a number, or a string (non-finite reals as "inf", "-inf", "nan").
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .integer(let n): try c.encode(n)
        case .real(let d): if d.isFinite { try c.encode(d) } else { try c.encode(d.isNaN ? "nan" : d > 0 ? "inf" : "-inf") }
        case .text(let s): try c.encode(s)
        }
    }

    /// Reads what `encode` wrote (numbers with a fraction become reals).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null } else if let n = try? c.decode(Int64.self) { self = .integer(n) }
        else if let d = try? c.decode(Double.self) { self = .real(d) } else { self = .text(try c.decode(String.self)) }
    }

    /// The value as a table or CSV cell shows it.
    public var text: String {
        switch self {
        case .null: ""
        case .integer(let n): String(n)
        case .real(let d): d.isFinite ? (d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : String(d)) : String(d)
        case .text(let s): s
        }
    }
}

/// A fleet query's answer: columns, rows, and whether the row limit cut it.
public struct QueryResult: Sendable, Codable, Equatable {
    public var columns: [String]
    public var rows: [[QueryValue]]
    /// More rows matched than `query_max_rows`; only the first ones are here.
    public var truncated: Bool
    /// Time the database spent, in milliseconds.
    public var elapsedMS: Int
}

/// Why a query was refused or stopped. `code` is stable; `message` names what and why.
public struct QueryError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Not a single read-only SELECT over the documented views.
        case refused = "query_refused"
        /// Not valid SQL, or an error while running (a bad function argument…).
        case invalid = "query_invalid"
        /// Ran past `query_time_limit_ms`.
        case timeout = "query_timeout"
        /// The database could not be opened.
        case unavailable = "query_unavailable"
    }
    public var code: Code
    public var message: String
    public var description: String { "\(code.rawValue): \(message)" }
}

/// Runs one technician's SQL against the store, read-only and confined.
///
/// Confinement is the database engine's, not a text filter: each query gets its own
/// connection opened read-only (`mode=ro`, `query_only`), the documented views are created
/// on it as TEMP views, and then SQLite's authorizer admits only SELECT, reads of store
/// tables made *through those views*, recursive CTEs and an allow-list of pure functions —
/// so writes, DDL, ATTACH, PRAGMA, extension loading, `sqlite_master` and every table not
/// behind a view are refused when the statement is prepared, with the reason kept for the
/// error. A second statement after the first is refused (SQLite reports the unparsed
/// tail). A progress handler stops the query at its deadline; rows stop at the row limit;
/// values are capped by SQLITE_LIMIT_LENGTH.
///
/// The connection lives on the one thread that calls `run` and is closed before it returns.
public struct QuerySandbox: Sendable {
    /// The SQLite file of the store.
    public let databasePath: String
    /// Rows answered at most (`query_max_rows`).
    public let maxRows: Int
    /// Longest SQL accepted, in bytes (`query_max_sql_bytes`).
    public let maxSQLBytes: Int
    /// Largest single value, in bytes.
    public let maxValueBytes: Int32 = 1 << 20
    /// Largest answer, in bytes of cell text, before it is cut like the row limit.
    public let maxResultBytes = 32 << 20

    /// Creates a sandbox for the store at `databasePath`.
    public init(databasePath: String, maxRows: Int, maxSQLBytes: Int) {
        self.databasePath = databasePath
        self.maxRows = maxRows
        self.maxSQLBytes = maxSQLBytes
    }

    /// Functions a query may call: aggregates, arithmetic, text, dates, JSON readers. Not
    /// here (so refused): load_extension, readfile/writefile, randomblob/zeroblob (memory),
    /// fts3_tokenizer, sqlite_* internals, and anything an extension could add.
    static let allowedFunctions: Set<String> = [
        "count", "sum", "total", "avg", "min", "max", "group_concat", "string_agg",
        "abs", "round", "ceil", "ceiling", "floor", "trunc", "sign", "sqrt", "pow", "power", "exp", "ln", "log", "log2", "log10", "mod", "pi",
        "coalesce", "ifnull", "iif", "nullif", "typeof", "cast",
        "lower", "upper", "length", "octet_length", "substr", "substring", "instr", "replace", "trim", "ltrim", "rtrim",
        "printf", "format", "char", "unicode", "hex", "quote", "like", "glob", "concat", "concat_ws",
        "date", "time", "datetime", "julianday", "strftime", "unixepoch", "timediff",
        "json", "json_extract", "json_array_length", "json_type", "json_valid", "->", "->>",
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
    ]

    /// What the authorizer saw: the first thing it refused.
    final class Guard {
        var refusal: String?
        /// `main` is the store (reads of `FleetSchema.baseTables` admitted) rather than empty.
        var mainIsStore = false
        var deadline: ContinuousClock.Instant = .now
        var timedOut = false
    }

    /// Runs `sql` and answers its rows.
    /// - Throws: `QueryError` naming what was refused, the SQL error, or the time limit.
    public func run(_ sql: String, deadline: ContinuousClock.Instant) throws(QueryError) -> QueryResult {
        let text = try Self.screen(sql, maxSQLBytes: maxSQLBytes)
        let started = ContinuousClock.now
        try Self.checkNamesOnlyViews(text, maxSQLBytes: maxSQLBytes, deadline: deadline)
        let connection = try open()
        defer { sqlite3_close_v2(connection) }
        let guardState = Guard()
        guardState.deadline = deadline
        let statement = try Self.prepareConfined(connection, text, guardState)
        defer { sqlite3_finalize(statement) }
        let columnCount = Int(sqlite3_column_count(statement))
        let columns = (0..<columnCount).map { String(cString: sqlite3_column_name(statement, Int32($0))) }
        var rows: [[QueryValue]] = []
        var bytes = 0
        var truncated = false
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else {
                if guardState.timedOut || step == SQLITE_INTERRUPT {
                    throw QueryError(code: .timeout, message: "the query ran longer than its time limit and was stopped; narrow it (a WHERE, a LIMIT) or ask an admin about query_time_limit_ms")
                }
                if let refusal = guardState.refusal { throw QueryError(code: .refused, message: refusal) }
                throw QueryError(code: .invalid, message: Self.message(connection))
            }
            if rows.count >= maxRows || bytes >= maxResultBytes {
                truncated = true
                break
            }
            var row: [QueryValue] = []
            row.reserveCapacity(columnCount)
            for i in 0..<Int32(columnCount) {
                switch sqlite3_column_type(statement, i) {
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(statement, i)))
                case SQLITE_FLOAT: row.append(.real(sqlite3_column_double(statement, i)))
                case SQLITE_NULL: row.append(.null)
                case SQLITE_BLOB:
                    let n = Int(sqlite3_column_bytes(statement, i))
                    row.append(.text("(\(n) bytes of binary data)"))
                default:
                    let n = Int(sqlite3_column_bytes(statement, i))
                    let value = sqlite3_column_text(statement, i).map {
                        String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self)
                    } ?? ""
                    bytes += n
                    row.append(.text(value))
                }
            }
            rows.append(row)
        }
        let elapsed = ContinuousClock.now - started
        return QueryResult(columns: columns, rows: rows, truncated: truncated,
                           elapsedMS: Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000))
    }

    /// The checks made before any database sees `sql`: not empty, not longer than
    /// `maxSQLBytes`, no NUL. Answers the trimmed text.
    static func screen(_ sql: String, maxSQLBytes: Int) throws(QueryError) -> String {
        let text = sql.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw QueryError(code: .invalid, message: "the query is empty; send one SELECT") }
        guard text.utf8.count <= maxSQLBytes else {
            throw QueryError(code: .refused, message: "the query is \(text.utf8.count) bytes; the limit is \(maxSQLBytes) (query_max_sql_bytes)")
        }
        guard !text.utf8.contains(0) else { throw QueryError(code: .refused, message: "the query contains a NUL byte") }
        return text
    }

    /// Prepares `text` where only the views exist, as plain tables: an empty in-memory
    /// database with TEMP tables shaped like the views (`FleetSchema.shapeStatements`),
    /// confined like the real connection. A query that names anything but a view is refused
    /// here. This is the check that a query reads only the
    /// views; the real connection cannot make it alone, because when SQLite flattens a view
    /// into the query (`SELECT hostname FROM findings`) its authorizer reports some of the
    /// view's reads (the join keys) without naming the view. Shared with
    /// `PostgresQuerySandbox`, which runs the query on PostgreSQL once this passes.
    static func checkNamesOnlyViews(_ text: String, maxSQLBytes: Int, deadline: ContinuousClock.Instant) throws(QueryError) {
        var opened: OpaquePointer?
        guard sqlite3_open_v2(":memory:", &opened, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK,
              let connection = opened else {
            sqlite3_close_v2(opened)
            throw QueryError(code: .unavailable, message: "could not open the schema fleet queries are checked against")
        }
        defer { sqlite3_close_v2(connection) }
        limit(connection, maxSQLBytes: maxSQLBytes, maxValueBytes: 1 << 20)
        if sqlite3_exec(connection, FleetSchema.shapeStatements, nil, nil, nil) != SQLITE_OK {
            throw QueryError(code: .unavailable, message: "could not prepare the schema fleet queries are checked against: \(message(connection))")
        }
        let guardState = Guard()
        guardState.deadline = deadline
        do {
            sqlite3_finalize(try prepareOne(connection, text, guardState, mainIsStore: false))
        } catch where error.code == .invalid && error.message.hasPrefix("no such table: ") {
            // Only the views exist here, so any other name is a table the query may not touch
            // (a store table, `main.…`, `pg_catalog.…`), even by `count(*)`, which reads no
            // column and so never reaches the authorizer.
            let name = String(error.message.dropFirst("no such table: ".count))
            let views = FleetSchema.names.sorted().joined(separator: ", ")
            switch firstWord(text) {
            case "select", "with", "values":
                throw QueryError(code: .refused, message: "reading \(name) is not allowed: query the documented views (\(views))")
            case "insert", "update", "delete", "replace":
                throw QueryError(code: .refused, message: "writing (\(name)) is not allowed: fleet queries are read-only")
            default:
                throw QueryError(code: .refused, message: "only SELECT over the documented views is allowed (this query would create, drop, alter or change something)")
            }
        }
    }

    /// The first word of `text` after comments, lower-cased.
    static func firstWord(_ text: String) -> String {
        var rest = text[...]
        while true {
            rest = rest.drop { $0.isWhitespace }
            if rest.hasPrefix("--") { rest = rest.drop { $0 != "\n" }; continue }
            if rest.hasPrefix("/*"), let end = rest.range(of: "*/") { rest = rest[end.upperBound...]; continue }
            break
        }
        return rest.prefix { $0.isLetter }.lowercased()
    }

    /// Creates the views on `connection` (whose `main` holds the store's tables), confines it
    /// (`query_only`, the authorizer, the deadline), and prepares `text`: one read-only
    /// statement over the views, or the refusal. Call `checkNamesOnlyViews` first: here the
    /// authorizer admits reads of the store tables behind the views (`FleetSchema.baseTables`)
    /// whichever way SQLite reports them.
    static func prepareConfined(_ connection: OpaquePointer, _ text: String, _ guardState: Guard) throws(QueryError) -> OpaquePointer {
        // The views exist before the authorizer is installed: creating them is ours.
        if sqlite3_exec(connection, FleetSchema.createStatements, nil, nil, nil) != SQLITE_OK {
            throw QueryError(code: .unavailable, message: "could not prepare the query views: \(Self.message(connection))")
        }
        return try prepareOne(connection, text, guardState, mainIsStore: true)
    }

    /// Confines `connection` (`query_only`, the authorizer, the deadline) and prepares `text`.
    private static func prepareOne(_ connection: OpaquePointer, _ text: String, _ guardState: Guard, mainIsStore: Bool) throws(QueryError) -> OpaquePointer {
        guardState.mainIsStore = mainIsStore
        let context = Unmanaged.passUnretained(guardState).toOpaque()
        // From here nothing may change, not even the temp schema.
        sqlite3_exec(connection, "PRAGMA query_only = 1;", nil, nil, nil)
        sqlite3_set_authorizer(connection, { context, action, a, b, c, d in
            let state = Unmanaged<Guard>.fromOpaque(context!).takeUnretainedValue()
            let verdict = QuerySandbox.authorize(action: action, a.map { String(cString: $0) }, b.map { String(cString: $0) },
                                                 c.map { String(cString: $0) }, d.map { String(cString: $0) }, mainIsStore: state.mainIsStore)
            if let refusal = verdict, state.refusal == nil { state.refusal = refusal }
            return verdict == nil ? SQLITE_OK : SQLITE_DENY
        }, context)
        sqlite3_progress_handler(connection, 2000, { context in
            let state = Unmanaged<Guard>.fromOpaque(context!).takeUnretainedValue()
            if ContinuousClock.now >= state.deadline {
                state.timedOut = true
                return 1
            }
            return 0
        }, context)

        var statement: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let prepared = text.withCString { sqlite3_prepare_v2(connection, $0, -1, &statement, &tail) }
        if prepared != SQLITE_OK {
            sqlite3_finalize(statement)
            if let refusal = guardState.refusal {
                throw QueryError(code: .refused, message: refusal)
            }
            if guardState.timedOut { throw QueryError(code: .timeout, message: "the query took longer than its time limit to prepare") }
            throw QueryError(code: .invalid, message: Self.message(connection))
        }
        guard let statement else { throw QueryError(code: .invalid, message: "the query has no statement, only comments; send one SELECT") }
        // Stacked statements: whatever SQLite did not parse must hold no statement.
        if let tail, tail.pointee != 0 {
            var next: OpaquePointer?
            let code = sqlite3_prepare_v2(connection, tail, -1, &next, nil)
            sqlite3_finalize(next)
            if code != SQLITE_OK || next != nil {
                sqlite3_finalize(statement)
                throw QueryError(code: .refused, message: "send one statement: a second one follows the first (\(String(cString: tail).prefix(60))…)")
            }
        }
        guard sqlite3_stmt_readonly(statement) != 0 else {
            sqlite3_finalize(statement)
            throw QueryError(code: .refused, message: "only SELECT queries are allowed")
        }
        return statement
    }

    /// The authorizer's verdict: nil allows, a text says what was refused and why.
    /// - Parameter mainIsStore: the query already passed `checkNamesOnlyViews`, and `main`
    ///   is the store: its tables behind the views may be read (SQLite reports some reads of a
    ///   flattened view without the view's name); never the others (users, sessions, tokens).
    static func authorize(action: Int32, _ a: String?, _ b: String?, _ c: String?, _ d: String?, mainIsStore: Bool = false) -> String? {
        switch action {
        case SQLITE_SELECT, SQLITE_RECURSIVE:
            return nil
        case SQLITE_READ:
            // a = table, b = column, c = schema, d = the innermost view making the access.
            if let view = d, FleetSchema.names.contains(view) { return nil }
            if c == "temp", let table = a, FleetSchema.names.contains(table) { return nil }
            if mainIsStore, c == "main", let table = a, FleetSchema.baseTables.contains(table) { return nil }
            // No schema: a common table expression or subquery of the query itself.
            if c == nil { return nil }
            return "reading \(a ?? "?") is not allowed: query the documented views (\(FleetSchema.names.sorted().joined(separator: ", ")))"
        case SQLITE_FUNCTION:
            let name = (b ?? "").lowercased()
            if allowedFunctions.contains(name) { return nil }
            return "the function \(b ?? "?")() is not allowed in fleet queries"
        case SQLITE_PRAGMA: return "PRAGMA is not allowed: fleet queries only read the documented views"
        case SQLITE_ATTACH, SQLITE_DETACH: return "ATTACH and DETACH are not allowed: fleet queries read only the help desk's views"
        case SQLITE_INSERT, SQLITE_UPDATE, SQLITE_DELETE:
            if let table = a, table.hasPrefix("sqlite_") {
                return "creating, dropping or altering tables and views is not allowed: only SELECT over the documented views"
            }
            return "writing (\(a ?? "?")) is not allowed: fleet queries are read-only"
        case SQLITE_TRANSACTION, SQLITE_SAVEPOINT: return "transactions are not allowed: send one SELECT"
        default:
            return "only SELECT over the documented views is allowed (this query would create, drop, alter or change something)"
        }
    }

    private func open() throws(QueryError) -> OpaquePointer {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        let path = databasePath.addingPercentEncoding(withAllowedCharacters: allowed) ?? databasePath
        var connection: OpaquePointer?
        let code = sqlite3_open_v2("file:\(path)?mode=ro", &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let connection else {
            let message = connection.map { Self.message($0) } ?? "out of memory"
            sqlite3_close_v2(connection)
            throw QueryError(code: .unavailable, message: "could not open the store read-only: \(message)")
        }
        sqlite3_busy_timeout(connection, 2000)
        Self.limit(connection, maxSQLBytes: maxSQLBytes, maxValueBytes: maxValueBytes)
        return connection
    }

    /// The limits every query connection gets (also `PostgresQuerySandbox`'s check).
    static func limit(_ connection: OpaquePointer, maxSQLBytes: Int, maxValueBytes: Int32) {
        sqlite3_extended_result_codes(connection, 1)
        _ = CSQLite_disable_extensions(connection)
        sqlite3_limit(connection, SQLITE_LIMIT_LENGTH, maxValueBytes)
        sqlite3_limit(connection, SQLITE_LIMIT_SQL_LENGTH, Int32(clamping: max(maxSQLBytes, 64 << 10)))
        sqlite3_limit(connection, SQLITE_LIMIT_ATTACHED, 0)
        sqlite3_limit(connection, SQLITE_LIMIT_EXPR_DEPTH, 200)
        sqlite3_limit(connection, SQLITE_LIMIT_COMPOUND_SELECT, 64)
        sqlite3_limit(connection, SQLITE_LIMIT_FUNCTION_ARG, 32)
        sqlite3_limit(connection, SQLITE_LIMIT_VARIABLE_NUMBER, 0)
        sqlite3_exec(connection, "PRAGMA temp_store = MEMORY;", nil, nil, nil)
    }

    static func message(_ connection: OpaquePointer) -> String {
        String(cString: sqlite3_errmsg(connection))
    }
}
