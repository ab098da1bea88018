import CSQLite
import Dispatch
import Foundation
import Logging
import PostgresNIO
import Shared

/// Runs one technician's SQL on a `PostgresStore`, read-only and confined, with the
/// behaviour of `QuerySandbox` (same views, refusals, codes and messages, limits).
///
/// Two locks, both needed:
/// 1. Before PostgreSQL sees it, the query is authorized by `QuerySandbox`'s own machinery:
///    prepared by SQLite on an empty in-memory copy of the store's schema with the same TEMP
///    views and authorizer. So it is one SELECT over the documented views, calling only
///    allow-listed functions (`pg_sleep`, `set_config`, `current_setting`, `pg_read_file`,
///    `query_to_xml`, `dblink`, `lo_import`… are not SQLite functions: refused), reading no
///    table behind the views and nothing of `pg_catalog` or `information_schema` (which
///    PostgreSQL lets every role read). A lexical check first refuses what the two parsers
///    would read differently (`E'…'` and other prefixed strings, `$` quoting, nested
///    `/* */` comments, `[…]` and backquote quoting), so PostgreSQL runs the statement SQLite
///    authorized, token for token.
/// 2. PostgreSQL then runs it in `BEGIN READ ONLY`, under the NOLOGIN role
///    `helpline_fleet_query` (`SET LOCAL ROLE`), which has USAGE on schema `fleet` and SELECT
///    on its views only, with `search_path` `fleet, pg_catalog` and `statement_timeout` at
///    the time left; through a cursor, so at most `maxRows + 1` rows are ever computed.
///    The transaction is rolled back.
///
/// Why both: the role alone leaves `pg_catalog`, and functions any role may call — one of
/// them, `set_config('role', …)`, returns to the collector's own user, since SET ROLE is
/// checked against the session user. The check alone would trust a parser that is not
/// PostgreSQL's. Together, a query that slipped past one still meets the other for
/// writes (read-only transaction) and base tables (the role).
public struct PostgresQuerySandbox: Sendable {
    /// The role queries run under.
    public static let role = "helpline_fleet_query"

    /// The pool of the store.
    let client: PostgresClient
    let logger: Logger
    /// Rows answered at most (`query_max_rows`).
    public let maxRows: Int
    /// Longest SQL accepted, in bytes (`query_max_sql_bytes`).
    public let maxSQLBytes: Int
    /// Largest single text value, in bytes (as SQLite's SQLITE_LIMIT_LENGTH there).
    public let maxValueBytes = 1 << 20
    /// Largest answer, in bytes of cell text, before it is cut like the row limit.
    public let maxResultBytes = 32 << 20
    private let setup = RoleSetup()
    /// The collector's database user (for the administrator's SQL).
    let user: String

    /// Creates a sandbox running on `store`'s pool.
    public init(store: PostgresStore, maxRows: Int, maxSQLBytes: Int) {
        client = store.client
        logger = store.logger
        user = String(store.location.dropFirst("postgres://".count).prefix { $0 != "@" })
        self.maxRows = maxRows
        self.maxSQLBytes = maxSQLBytes
    }

    /// The SQL an administrator runs once, as a role with CREATEROLE, when the collector's
    /// database user `user` may not create the query role itself.
    public static func adminSQL(user: String) -> String {
        let quoted = "\"" + user.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        return "CREATE ROLE \(role) NOLOGIN; GRANT \(role) TO \(quoted);"
    }

    // MARK: Running

    /// Runs `sql` and answers its rows (or why not).
    public func run(_ sql: String, deadline: ContinuousClock.Instant) async -> Result<QueryResult, QueryError> {
        do throws(QueryError) {
            let text = try QuerySandbox.screen(sql, maxSQLBytes: maxSQLBytes)
            try Self.sameTokensInBoth(text)
            try Self.authorize(text, maxSQLBytes: maxSQLBytes, deadline: deadline)
            return .success(try await execute(Self.quotingKeywordColumns(text), deadline: deadline))
        } catch {
            return .failure(error)
        }
    }

    /// `run` for a caller on a thread of its own (`BlobReadPool`): waits for the answer,
    /// at most until a little after `deadline`.
    func runBlocking(_ sql: String, deadline: ContinuousClock.Instant) -> Result<QueryResult, QueryError> {
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        let sandbox = self
        Task {
            box.set(await sandbox.run(sql, deadline: deadline))
            done.signal()
        }
        let left = max(.zero, deadline - .now) + .seconds(5)
        let (seconds, atto) = left.components
        if done.wait(timeout: .now() + .milliseconds(Int(seconds) * 1000 + Int(atto / 1_000_000_000_000_000))) == .timedOut {
            return .failure(Self.timeout)
        }
        return box.get() ?? .failure(Self.timeout)
    }

    static let timeout = QueryError(code: .timeout, message: "the query ran longer than its time limit and was stopped; narrow it (a WHERE, a LIMIT) or ask an admin about query_time_limit_ms")

    final class ResultBox: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Result<QueryResult, QueryError>?
        func set(_ v: Result<QueryResult, QueryError>) { lock.withLock { value = v } }
        func get() -> Result<QueryResult, QueryError>? { lock.withLock { value } }
    }

    // MARK: The check before PostgreSQL

    /// Refuses what SQLite and PostgreSQL tokenize differently, so that the statement SQLite
    /// authorizes is the statement PostgreSQL runs: strings with a prefix (`E'…'`, `U&'…'`,
    /// `B'…'`, `X'…'`, `N'…'`; in PostgreSQL `E'\''` ends later than SQLite thinks), `$`
    /// (dollar quoting), `/*` inside a block comment (PostgreSQL nests them, SQLite does not),
    /// and SQLite's `[…]` and backquote identifiers.
    static func sameTokensInBoth(_ text: String) throws(QueryError) {
        func refuse(_ what: String) -> QueryError {
            QueryError(code: .refused, message: "\(what) is not allowed in fleet queries on PostgreSQL (SQLite and PostgreSQL would read it differently)")
        }
        let b = Array(text.utf8)
        var i = 0
        func isWord(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c >= 0x80 }
        while i < b.count {
            let c = b[i]
            switch c {
            case UInt8(ascii: "-") where i + 1 < b.count && b[i + 1] == UInt8(ascii: "-"):
                while i < b.count && b[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "/") where i + 1 < b.count && b[i + 1] == UInt8(ascii: "*"):
                i += 2
                while i < b.count && !(b[i] == UInt8(ascii: "*") && i + 1 < b.count && b[i + 1] == UInt8(ascii: "/")) {
                    if b[i] == UInt8(ascii: "/") && i + 1 < b.count && b[i + 1] == UInt8(ascii: "*") { throw refuse("a comment inside a /* comment */") }
                    i += 1
                }
                i += 2
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                // A one-letter word just before (E, B, X, N: PostgreSQL's string prefixes), or `U&`.
                let prefixed = i > 0 && "eEbBxXnN".utf8.contains(b[i - 1]) && (i == 1 || !isWord(b[i - 2]))
                if prefixed || (i > 0 && b[i - 1] == UInt8(ascii: "&")) {
                    throw refuse(c == UInt8(ascii: "'") ? "a string with a prefix (E'…', U&'…', B'…', X'…')" : "an identifier with a prefix (U&\"…\")")
                }
                i += 1
                while i < b.count {
                    if b[i] == c {
                        if i + 1 < b.count && b[i + 1] == c { i += 2; continue }
                        break
                    }
                    i += 1
                }
                i += 1
            case UInt8(ascii: "$"): throw refuse("$ (dollar quoting, parameters)")
            case UInt8(ascii: "["), UInt8(ascii: "`"): throw refuse("[…] and `…` quoting (write \"…\")")
            default: i += 1
            }
        }
    }

    /// Words that are plain identifiers in SQLite but keywords in PostgreSQL, where a view has
    /// a column of that name: `processes.user` (bare `user` is `current_user` in PostgreSQL).
    static let keywordColumns: Set<String> = ["user"]

    /// `text` with every bare word in `keywordColumns` double-quoted, outside strings,
    /// comments and quoted identifiers, so PostgreSQL reads the column SQLite authorized.
    /// Call after `sameTokensInBoth` (whose tokenizing it follows).
    static func quotingKeywordColumns(_ text: String) -> String {
        let b = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count + 8)
        var i = 0
        func isWord(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c >= 0x80 }
        func copy(until end: Int) { out.append(contentsOf: b[i..<min(end, b.count)]); i = min(end, b.count) }
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "-"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "-") {
                var j = i
                while j < b.count && b[j] != UInt8(ascii: "\n") { j += 1 }
                copy(until: j)
            } else if c == UInt8(ascii: "/"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "*") {
                var j = i + 2
                while j < b.count && !(b[j] == UInt8(ascii: "*") && j + 1 < b.count && b[j + 1] == UInt8(ascii: "/")) { j += 1 }
                copy(until: j + 2)
            } else if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                var j = i + 1
                while j < b.count {
                    if b[j] == c {
                        if j + 1 < b.count && b[j + 1] == c { j += 2; continue }
                        break
                    }
                    j += 1
                }
                copy(until: j + 1)
            } else if isWord(c) {
                var j = i
                while j < b.count && isWord(b[j]) { j += 1 }
                let word = String(decoding: b[i..<j], as: UTF8.self)
                if keywordColumns.contains(word.lowercased()) {
                    out.append(UInt8(ascii: "\"")); out.append(contentsOf: word.lowercased().utf8); out.append(UInt8(ascii: "\""))
                    i = j
                } else {
                    copy(until: j)
                }
            } else {
                out.append(c)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Authorizes `text` as `QuerySandbox` does (`checkNamesOnlyViews`: prepared by SQLite
    /// where only the views exist, as tables, under the same authorizer): the same refusals,
    /// codes and messages as on SQLite; a name that is not a view (`pg_roles`,
    /// `pg_catalog.…`, `information_schema.…`) is refused there. A function SQLite lacks,
    /// which PostgreSQL might run, is refused here.
    static func authorize(_ text: String, maxSQLBytes: Int, deadline: ContinuousClock.Instant) throws(QueryError) {
        do {
            try QuerySandbox.checkNamesOnlyViews(text, maxSQLBytes: maxSQLBytes, deadline: deadline)
        } catch where error.code == .invalid && error.message.hasPrefix("no such function: ") {
            let name = error.message.dropFirst("no such function: ".count)
            throw QueryError(code: .refused, message: "the function \(name)() is not allowed in fleet queries")
        }
    }

    // MARK: PostgreSQL

    /// Runs the authorized `text` under the role, read-only, within `deadline`.
    func execute(_ text: String, deadline: ContinuousClock.Instant) async throws(QueryError) -> QueryResult {
        let started = ContinuousClock.now
        do {
            try await setup.ensure(client: client, logger: logger)
        } catch let error as QueryError {
            throw error
        } catch {
            throw QueryError(code: .unavailable, message: "could not reach the PostgreSQL database: \(Self.describe(error))")
        }
        let maxRows = self.maxRows, maxValueBytes = self.maxValueBytes, maxResultBytes = self.maxResultBytes
        let logger = self.logger
        var stage = "role"
        do {
            return try await client.withConnection { connection in
                let c = PGConnection(connection: connection, logger: logger)
                try await c.execute("BEGIN READ ONLY")
                do {
                    try await c.execute("""
                        SELECT set_config('role', \(Self.role), true), set_config('search_path', 'fleet, pg_catalog', true),
                               set_config('statement_timeout', \(Self.milliseconds(until: deadline)), true),
                               set_config('standard_conforming_strings', 'on', true), set_config('TimeZone', 'UTC', true),
                               set_config('lock_timeout', \(Self.milliseconds(until: deadline)), true)
                        """)
                    stage = "query"
                    try await c.execute(PostgresQuery(unsafeSQL: "DECLARE fleet_query NO SCROLL CURSOR FOR " + text))
                    try await c.execute("SELECT set_config('statement_timeout', \(Self.milliseconds(until: deadline)), true)")
                    let rows = try await connection.query(PostgresQuery(unsafeSQL: "FETCH FORWARD \(maxRows + 1) FROM fleet_query"), logger: logger)
                    let columns = rows.columns.map(\.name)
                    var answer: [[QueryValue]] = []
                    var bytes = 0
                    var truncated = false
                    for try await row in rows {
                        if answer.count >= maxRows || bytes >= maxResultBytes {
                            truncated = true
                            continue
                        }
                        var values: [QueryValue] = []
                        values.reserveCapacity(columns.count)
                        for cell in row {
                            let value = try Self.value(cell, maxValueBytes: maxValueBytes)
                            if case .text(let s) = value { bytes += s.utf8.count }
                            values.append(value)
                        }
                        answer.append(values)
                    }
                    try await c.execute("ROLLBACK")
                    let elapsed = ContinuousClock.now - started
                    return QueryResult(columns: columns, rows: answer, truncated: truncated,
                                       elapsedMS: Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000))
                } catch {
                    try? await c.execute("ROLLBACK")
                    throw error
                }
            }
        } catch let error as QueryError {
            throw error
        } catch let error as PSQLError {
            if stage == "role" || error.serverInfo?[.sqlState] == "42501" { await setup.reset() }
            throw Self.queryError(error, stage: stage, user: user)
        } catch {
            throw QueryError(code: .unavailable, message: "could not reach the PostgreSQL database: \(error)")
        }
    }

    /// Milliseconds left until `deadline`, at least 1 (0 would turn the limit off).
    static func milliseconds(until deadline: ContinuousClock.Instant) -> String {
        let (seconds, atto) = (deadline - .now).components
        return String(max(1, seconds * 1000 + atto / 1_000_000_000_000_000))
    }

    /// A server error as the `QueryError` SQLite would give.
    static func queryError(_ error: PSQLError, stage: String, user: String) -> QueryError {
        let state = error.serverInfo?[.sqlState]
        let message = error.serverInfo?[.message] ?? describe(error)
        if stage == "role" {
            return QueryError(code: .unavailable, message: "fleet queries run as the PostgreSQL role \(role), which this collector cannot use (\(message)); an administrator runs once: \(adminSQL(user: user)) (docs/fleet.md)")
        }
        switch state {
        case "57014", "55P03": return timeout
        case "25006": return QueryError(code: .refused, message: "only SELECT queries are allowed")
        case "42501": return QueryError(code: .refused, message: "\(message): query the documented views (\(FleetSchema.names.sorted().joined(separator: ", ")))")
        case "54000", "53200", "53100": return QueryError(code: .invalid, message: message)
        default: return QueryError(code: .invalid, message: message)
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError { return PGConnection.describe(e) }
        return "\(error)"
    }

    /// One cell as a `QueryValue`, typed as SQLite would answer it: booleans 0/1, numerics
    /// without a fraction as integers and with one as reals, times as UTC text.
    static func value(_ cell: PostgresCell, maxValueBytes: Int) throws(QueryError) -> QueryValue {
        do {
            return try decodedValue(cell, maxValueBytes: maxValueBytes)
        } catch let error as QueryError {
            throw error
        } catch {
            throw QueryError(code: .invalid, message: "could not read a value of type \(cell.dataType) in column \(cell.columnName)")
        }
    }

    private static func decodedValue(_ cell: PostgresCell, maxValueBytes: Int) throws -> QueryValue {
        guard var bytes = cell.bytes else { return .null }
        guard bytes.readableBytes <= maxValueBytes else {
            throw QueryError(code: .invalid, message: "string or blob too big")
        }
        if cell.format == .text { return .text(bytes.readString(length: bytes.readableBytes) ?? "") }
        switch cell.dataType {
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4: return .real(Double(try cell.decode(Float.self)))
        case .float8: return .real(try cell.decode(Double.self))
        case .numeric: return numeric(&bytes)
        case .timestamptz, .timestamp:
            let date = try cell.decode(Date.self)
            return .text(UTCTimestamp(date)?.sqlite ?? "\(date)")
        case .bytea: return .text("(\(bytes.readableBytes) bytes of binary data)")
        default:
            if let s = try? cell.decode(String.self) { return .text(s) }
            return .text("(a value of type \(cell.dataType))")
        }
    }

    /// PostgreSQL's binary numeric: an integer when its scale is 0 and it fits, else a real.
    static func numeric(_ bytes: inout ByteBuffer) -> QueryValue {
        guard let count = bytes.readInteger(as: Int16.self), let weight = bytes.readInteger(as: Int16.self),
              let sign = bytes.readInteger(as: UInt16.self), let scale = bytes.readInteger(as: Int16.self) else { return .null }
        switch sign {
        case 0xC000: return .real(.nan)
        case 0xD000: return .real(.infinity)
        case 0xF000: return .real(-.infinity)
        default: break
        }
        var groups: [Int16] = []
        for _ in 0..<max(0, Int(count)) { groups.append(bytes.readInteger(as: Int16.self) ?? 0) }
        var whole = "", fraction = ""
        for (i, g) in groups.enumerated() {
            let text = String(g), padded = String(repeating: "0", count: 4 - text.count) + text
            if i <= Int(weight) { whole += whole.isEmpty ? text : padded } else { fraction += padded }
        }
        if Int(weight) >= groups.count { whole += String(repeating: "0000", count: Int(weight) - groups.count + 1) }
        if weight < 0 { fraction = String(repeating: "0000", count: -Int(weight) - 1) + fraction }
        if whole.isEmpty { whole = "0" }
        let negative = sign == 0x4000
        if scale == 0, let n = Int64((negative ? "-" : "") + whole) { return .integer(n) }
        return .real(Double((negative ? "-" : "") + whole + "." + (fraction.isEmpty ? "0" : fraction)) ?? .nan)
    }

    // MARK: The role

    /// Creates the query role when it is missing and this user may (CREATEROLE), makes the
    /// user a member, and grants the role USAGE on `fleet` and SELECT on its views — once a
    /// process, under the migration lock (two collectors granting at once would collide).
    /// Without the role or the membership, queries fail naming `adminSQL`.
    actor RoleSetup {
        var done = false

        /// Runs the setup again before the next query (after the role was missing).
        func reset() { done = false }

        func ensure(client: PostgresClient, logger: Logger) async throws {
            guard !done else { return }
            try await client.withConnection { connection in
                let c = PGConnection(connection: connection, logger: logger)
                try await c.execute("BEGIN")
                do {
                    try await c.execute("SELECT pg_advisory_xact_lock(\(PostgresStore.migrationLock))")
                    try await c.execute(PostgresQuery(unsafeSQL: PostgresQuerySandbox.roleSetup))
                    try await c.execute("COMMIT")
                } catch {
                    try? await c.execute("ROLLBACK")
                    throw error
                }
            }
            done = true
        }
    }

    /// The statement `RoleSetup` runs (idempotent; does nothing it has no right to do).
    static let roleSetup = """
        DO $$
        DECLARE
            can_create boolean;
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '\(role)') THEN
                SELECT rolcreaterole OR rolsuper INTO can_create FROM pg_catalog.pg_roles WHERE rolname = current_user;
                IF NOT can_create THEN
                    RETURN;
                END IF;
                BEGIN
                    CREATE ROLE \(role) NOLOGIN;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    NULL;
                END;
            END IF;
            IF NOT pg_catalog.pg_has_role(current_user, '\(role)', 'MEMBER') THEN
                BEGIN
                    EXECUTE pg_catalog.format('GRANT \(role) TO %I', current_user);
                EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
                    RETURN;
                END;
            END IF;
            GRANT USAGE ON SCHEMA fleet TO \(role);
            GRANT SELECT ON ALL TABLES IN SCHEMA fleet TO \(role);
        END
        $$
        """
}
