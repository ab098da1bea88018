import Foundation
import PostgresNIO

/// `export` and `import` on PostgreSQL (`StoreTransfer`): tables, columns, keys and foreign
/// keys come from the catalog (`information_schema.columns`, `pg_index`, `pg_constraint`).
extension PostgresStore: StoreTransfer {
    /// Each PostgreSQL migration and the SQLite migration whose schema it completes: the
    /// schema name in transfer files (`TransferSchema.current`). A `pg2_…` gets its line here.
    static let transferSchemaNames: [String: String] = [
        "pg1_schema": "v16_lean_heartbeat_writes",
        // The fleet views (schema `fleet`): no table changes, SQLite's views are per query.
        "pg2_fleet_views": "v16_lean_heartbeat_writes",
        // Indexes and TOAST compression only.
        "pg3_dashboard_indexes": "v16_lean_heartbeat_writes",
        "pg4_process_rows": "v17_process_rows",
    ]

    /// The schema this store has, by name.
    static func transferSchema(_ c: PGConnection) async throws -> String {
        let applied = try await c.all("SELECT name FROM helpline_migrations ORDER BY applied_at, name").map { try $0["name"] as String }
        guard let last = applied.last else { return "none" }
        return transferSchemaNames[last] ?? last
    }

    /// The store's tables but the migration list, ordered by foreign keys.
    static func transferTables(_ c: PGConnection) async throws -> [TransferTableInfo] {
        var tables: [String: TransferTableInfo] = [:]
        for row in try await c.all("""
            SELECT table_name::text AS t, column_name::text AS c, data_type::text AS type
            FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name <> 'helpline_migrations' AND is_generated = 'NEVER'
              AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE')
            ORDER BY table_name, ordinal_position
            """) {
            let table: String = try row["t"], column: String = try row["c"], type: String = try row["type"]
            let kind: TransferKind
            switch type {
            case "bigint", "integer", "smallint": kind = .integer
            case "double precision", "real": kind = .real
            case "text", "character varying": kind = .text
            case "timestamp with time zone": kind = .time
            case "boolean": kind = .flag
            default: throw StoreError(.corrupt, "column \(table).\(column) has type \(type), which export does not know")
            }
            tables[table, default: TransferTableInfo(name: table, columns: [], primaryKey: [], parents: [])].columns.append((column, kind))
        }
        for row in try await c.all("""
            SELECT cl.relname::text AS t, a.attname::text AS c
            FROM pg_index i JOIN pg_class cl ON cl.oid = i.indrelid
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indisprimary AND cl.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
            ORDER BY cl.relname, array_position(i.indkey::int2[], a.attnum)
            """) {
            let table: String = try row["t"], column: String = try row["c"]
            tables[table]?.primaryKey.append(column)
        }
        for row in try await c.all("""
            SELECT child.relname::text AS t, parent.relname::text AS p
            FROM pg_constraint k JOIN pg_class child ON child.oid = k.conrelid JOIN pg_class parent ON parent.oid = k.confrelid
            WHERE k.contype = 'f' AND k.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
            """) {
            let table: String = try row["t"], parent: String = try row["p"]
            tables[table]?.parents.insert(parent)
        }
        return try TransferSchema.ordered(Array(tables.values))
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// Row counts of `tables`.
    static func transferCounts(_ c: PGConnection, _ tables: [TransferTableInfo]) async throws -> [(table: String, rows: Int)] {
        var out: [(table: String, rows: Int)] = []
        for table in tables {
            let row = try await c.one(PostgresQuery(unsafeSQL: "SELECT count(*) AS n FROM \(quoted(table.name))"))
            out.append((table.name, Int(try row!["n"] as Int64)))
        }
        return out
    }

    func exportRows(to path: String, collectorVersion: String) async throws -> TransferHeader {
        try await read { c in
            let tables = try await Self.transferTables(c)
            let counts = try await Self.transferCounts(c, tables)
            let header = TransferHeader(collectorVersion: collectorVersion, schema: try await Self.transferSchema(c), source: "postgresql",
                                        exportedAt: TransferTime.format(Date()),
                                        tables: zip(tables, counts).map { TransferTable(name: $0.name, columns: $0.columns.map(\.name), rows: $1.rows) })
            let writer = try TransferWriter(path: path)
            try writer.header(header)
            for table in tables {
                let names = table.columns.map(\.name)
                let kinds = Dictionary(uniqueKeysWithValues: table.columns.map { ($0.name, $0.kind) })
                // Text keys in byte order, as SQLite sorts them, whatever the database's collation.
                let order = (table.primaryKey.isEmpty ? names : table.primaryKey)
                    .map { Self.quoted($0) + (kinds[$0] == .text ? " COLLATE \"C\"" : "") }.joined(separator: ", ")
                let sql = "SELECT \(names.map(Self.quoted).joined(separator: ", ")) FROM \(Self.quoted(table.name)) ORDER BY \(order)"
                for try await row in try await c.connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) {
                    var values: [TransferValue] = []
                    values.reserveCapacity(names.count)
                    for (cell, column) in zip(row, table.columns) {
                        values.append(try Self.transferValue(cell, kind: column.kind, where: "\(table.name).\(column.name)"))
                    }
                    try writer.row(table: table.name, columns: names, values: values)
                }
            }
            try writer.finish()
            return header
        }
    }

    /// A cell in the neutral form of its column's kind.
    private static func transferValue(_ cell: PostgresCell, kind: TransferKind, where place: String) throws -> TransferValue {
        do {
            switch kind {
            case .integer: return try cell.decode(Int64?.self).map { .integer($0) } ?? .null
            case .real: return try cell.decode(Double?.self).map { .real($0) } ?? .null
            case .text: return try cell.decode(String?.self).map { .text($0) } ?? .null
            case .time: return try cell.decode(Date?.self).map { .text(TransferTime.format($0)) } ?? .null
            case .flag: return try cell.decode(Bool?.self).map { .integer($0 ? 1 : 0) } ?? .null
            }
        } catch {
            throw StoreError(.corrupt, "could not read \(place): \(error)")
        }
    }

    /// Rows per INSERT statement (PostgreSQL takes at most 65535 parameters).
    static let transferBatchParameters = 30_000

    func importRows(from path: String) async throws -> TransferHeader {
        let reader = try TransferReader(path: path)
        let header = reader.header!
        return try await write { c in
            let tables = try await Self.transferTables(c)
            let byName = try TransferSchema.check(header, targetSchema: try await Self.transferSchema(c), targetTables: tables)
            try TransferSchema.requireEmpty(try await Self.transferCounts(c, tables))
            var batchTable: TransferTableInfo?
            var bindings = PostgresBindings()
            var batchRows = 0
            func flush() async throws {
                guard let table = batchTable, batchRows > 0 else { return }
                let width = table.columns.count
                var sql = "INSERT INTO \(Self.quoted(table.name)) (\(table.columns.map { Self.quoted($0.name) }.joined(separator: ", "))) VALUES "
                // Times go as UTC text cast by the server: a bound Date would lose a microsecond to
                // binary rounding (….679 becoming ….678999).
                let casts = table.columns.map { $0.kind == .time ? "::timestamptz" : "" }
                sql += (0..<batchRows).map { r in "(" + (1...width).map { "$\(r * width + $0)\(casts[$0 - 1])" }.joined(separator: ", ") + ")" }.joined(separator: ", ")
                try await c.execute(PostgresQuery(unsafeSQL: sql, binds: bindings))
                bindings = PostgresBindings()
                batchRows = 0
            }
            while let row = try reader.next() {
                let (name, values) = row
                guard let table = byName[name] else {
                    throw StoreError(.corrupt, "\(path): line \(reader.lineNumber) names table \(name), which is not in the header; nothing was imported")
                }
                guard values.count == table.columns.count else {
                    throw StoreError(.corrupt, "\(path): line \(reader.lineNumber) has \(values.count) columns for \(name), which has \(table.columns.count); nothing was imported")
                }
                if batchTable?.name != name || (batchRows + 1) * table.columns.count > Self.transferBatchParameters {
                    try await flush()
                    batchTable = table
                }
                for column in table.columns {
                    guard let value = values[column.name] else {
                        throw StoreError(.corrupt, "\(path): line \(reader.lineNumber) has no \(name).\(column.name); nothing was imported")
                    }
                    try Self.bind(value, kind: column.kind, to: &bindings, where: "\(path): line \(reader.lineNumber), \(name).\(column.name)")
                }
                batchRows += 1
            }
            try await flush()
            // Identity columns continue past the highest id imported (tickets keep their numbers).
            for row in try await c.all("""
                SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns
                WHERE table_schema = current_schema() AND is_identity = 'YES'
                """) {
                let table: String = try row["t"], column: String = try row["c"]
                let t = Self.quoted(table), col = Self.quoted(column)
                try await c.execute(PostgresQuery(unsafeSQL: """
                    SELECT setval(pg_get_serial_sequence('\(t.replacingOccurrences(of: "'", with: "''"))', '\(column.replacingOccurrences(of: "'", with: "''"))'),
                                  COALESCE((SELECT max(\(col)) FROM \(t)), 1), (SELECT max(\(col)) FROM \(t)) IS NOT NULL)
                    """))
            }
            let stored = Dictionary(uniqueKeysWithValues: try await Self.transferCounts(c, tables).map { ($0.table, $0.rows) })
            try TransferSchema.checkCounts(header, read: reader.counts, stored: stored)
            return header
        }
    }

    /// Binds a file value as its column's kind.
    private static func bind(_ value: TransferValue, kind: TransferKind, to b: inout PostgresBindings, where place: String) throws {
        switch (value, kind) {
        case (.null, .integer): b.append(Int64?.none)
        case (.null, .real): b.append(Double?.none)
        case (.null, .text): b.append(String?.none)
        case (.null, .time): b.append(String?.none)
        case (.null, .flag): b.append(Bool?.none)
        case (.integer(let v), .integer): b.append(v)
        case (.real(let v), .integer) where v == v.rounded() && abs(v) < 9.0e18: b.append(Int64(v))
        case (.integer(let v), .flag) where v == 0 || v == 1: b.append(v == 1)
        case (.integer(let v), .real): b.append(Double(v))
        case (.real(let v), .real): b.append(v)
        case (.text(let s), .text): b.append(text(s))
        case (.text(let s), .time) where TransferTime.parse(s) != nil: b.append(s + "+00")
        default: throw StoreError(.corrupt, "\(place): \(value) does not fit the column; nothing was imported")
        }
    }
}
