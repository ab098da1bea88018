import Foundation
import GRDB

/// `export` and `import` on SQLite (`StoreTransfer`): tables, columns and foreign keys come
/// from the catalog (`sqlite_master`, `PRAGMA table_info`, `PRAGMA foreign_key_list`).
extension SQLiteStore: StoreTransfer {
    /// Tables not in a transfer file: SQLite's own, GRDB's migration list, and the FTS5
    /// journal index (`journal_text` and its shadow tables), which import rebuilds.
    static func transferTables(_ db: Database) throws -> [TransferTableInfo] {
        let names = try String.fetchAll(db, sql: """
            SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
              AND name NOT LIKE 'journal\\_text%' ESCAPE '\\' AND name <> 'grdb_migrations' ORDER BY name
            """)
        return try TransferSchema.ordered(names.map { name in
            var columns: [(name: String, kind: TransferKind)] = []
            var key: [(Int, String)] = []
            // table_info leaves out generated columns (journal_entries.bundle_row, seq).
            for row in try Row.fetchAll(db, sql: "SELECT name, type, pk FROM pragma_table_info(?)", arguments: [name]) {
                let column: String = row["name"], type: String = row["type"], pk: Int = row["pk"]
                let kind: TransferKind
                switch type.uppercased() {
                case "INTEGER": kind = .integer
                case "REAL": kind = .real
                case "TEXT": kind = .text
                case "DATETIME": kind = .time
                case "BOOLEAN": kind = .flag
                default: throw StoreError(.corrupt, "column \(name).\(column) has type \(type), which export does not know")
                }
                columns.append((column, kind))
                if pk > 0 { key.append((pk, column)) }
            }
            let parents = Set(try String.fetchAll(db, sql: "SELECT \"table\" FROM pragma_foreign_key_list(?)", arguments: [name]))
            return TransferTableInfo(name: name, columns: columns, primaryKey: key.sorted { $0.0 < $1.0 }.map(\.1), parents: parents)
        })
    }

    /// The schema this store has, by name (`TransferSchema`).
    static func transferSchema(_ db: Database) throws -> String {
        try migrator.appliedMigrations(db).last ?? "none"
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    func exportRows(to path: String, collectorVersion: String) async throws -> TransferHeader {
        try await read { db in
            let tables = try Self.transferTables(db)
            var header = TransferHeader(collectorVersion: collectorVersion, schema: try Self.transferSchema(db), source: "sqlite",
                                        exportedAt: TransferTime.format(Date()), tables: [])
            for table in tables {
                let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(Self.quoted(table.name))") ?? 0
                header.tables.append(TransferTable(name: table.name, columns: table.columns.map(\.name), rows: rows))
            }
            let writer = try TransferWriter(path: path)
            try writer.header(header)
            for table in tables {
                let names = table.columns.map(\.name)
                let order = table.primaryKey.isEmpty ? "rowid" : table.primaryKey.map(Self.quoted).joined(separator: ", ")
                let cursor = try Row.fetchCursor(db, sql: "SELECT \(names.map(Self.quoted).joined(separator: ", ")) FROM \(Self.quoted(table.name)) ORDER BY \(order)")
                while let row = try cursor.next() {
                    var values: [TransferValue] = []
                    values.reserveCapacity(names.count)
                    for (i, column) in table.columns.enumerated() {
                        values.append(try Self.transferValue(row[i] as DatabaseValue, kind: column.kind, where: "\(table.name).\(column.name)"))
                    }
                    try writer.row(table: table.name, columns: names, values: values)
                }
            }
            try writer.finish()
            return header
        }
    }

    /// A stored value in the neutral form of its column's kind.
    private static func transferValue(_ value: DatabaseValue, kind: TransferKind, where place: String) throws -> TransferValue {
        switch (value.storage, kind) {
        case (.null, _): return .null
        case (.int64(let v), .integer), (.int64(let v), .flag): return .integer(v)
        case (.int64(let v), .real): return .real(Double(v))
        case (.double(let v), .real): return .real(v)
        case (.string(let s), .text): return .text(s)
        case (_, .time):
            guard let date = Date.fromDatabaseValue(value) else { throw StoreError(.corrupt, "\(place) holds \(value), which is not a time") }
            return .text(TransferTime.format(date))
        default:
            throw StoreError(.corrupt, "\(place) holds \(value), which does not fit its column")
        }
    }

    func importRows(from path: String) async throws -> TransferHeader {
        try await write { db in
            let reader = try TransferReader(path: path)
            let header = reader.header!
            let tables = try Self.transferTables(db)
            let byName = try TransferSchema.check(header, targetSchema: try Self.transferSchema(db), targetTables: tables)
            try TransferSchema.requireEmpty(try tables.map { ($0.name, try Int.fetchOne(db, sql: "SELECT count(*) FROM \(Self.quoted($0.name))") ?? 0) })
            // Rows come in the exporter's order; foreign keys are checked at commit.
            try db.execute(sql: "PRAGMA defer_foreign_keys = ON")
            var statements: [String: Statement] = [:]
            while let row = try reader.next() {
                let (name, values) = row
                guard let table = byName[name] else {
                    throw StoreError(.corrupt, "\(path): line \(reader.lineNumber) names table \(name), which is not in the header; nothing was imported")
                }
                guard values.count == table.columns.count else {
                    throw StoreError(.corrupt, "\(path): line \(reader.lineNumber) has \(values.count) columns for \(name), which has \(table.columns.count); nothing was imported")
                }
                let statement: Statement
                if let s = statements[name] { statement = s } else {
                    let columns = table.columns.map { Self.quoted($0.name) }.joined(separator: ", ")
                    let marks = Array(repeating: "?", count: table.columns.count).joined(separator: ", ")
                    statement = try db.makeStatement(sql: "INSERT INTO \(Self.quoted(name)) (\(columns)) VALUES (\(marks))")
                    statements[name] = statement
                }
                var arguments: [(any DatabaseValueConvertible)?] = []
                arguments.reserveCapacity(table.columns.count)
                for column in table.columns {
                    guard let value = values[column.name] else {
                        throw StoreError(.corrupt, "\(path): line \(reader.lineNumber) has no \(name).\(column.name); nothing was imported")
                    }
                    arguments.append(try Self.databaseValue(value, kind: column.kind, where: "\(path): line \(reader.lineNumber), \(name).\(column.name)"))
                }
                try statement.execute(arguments: StatementArguments(arguments))
            }
            // The journal's text index is derived: built from the imported entries.
            if try db.tableExists("journal_text") {
                try db.execute(sql: "INSERT INTO journal_text (journal_text) VALUES ('rebuild')")
            }
            var stored: [String: Int] = [:]
            for table in tables { stored[table.name] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(Self.quoted(table.name))") ?? 0 }
            try TransferSchema.checkCounts(header, read: reader.counts, stored: stored)
            if let violation = try Row.fetchOne(db, sql: "SELECT \"table\", parent FROM pragma_foreign_key_check LIMIT 1") {
                let table: String = violation["table"], parent: String = violation["parent"]
                throw StoreError(.corrupt, "\(path): a row of \(table) refers to a missing row of \(parent); nothing was imported")
            }
            return header
        }
    }

    /// A file value as the store keeps its column's kind.
    private static func databaseValue(_ value: TransferValue, kind: TransferKind, where place: String) throws -> DatabaseValue {
        switch (value, kind) {
        case (.null, _): return .null
        case (.integer(let v), .integer): return v.databaseValue
        case (.integer(let v), .flag) where v == 0 || v == 1: return v.databaseValue
        case (.real(let v), .integer) where v == v.rounded() && abs(v) < 9.0e18: return Int64(v).databaseValue
        case (.integer(let v), .real): return Double(v).databaseValue
        case (.real(let v), .real): return v.databaseValue
        case (.text(let s), .text): return s.databaseValue
        case (.text(let s), .time) where TransferTime.parse(s) != nil: return s.databaseValue
        default: throw StoreError(.corrupt, "\(place): \(value) does not fit the column; nothing was imported")
        }
    }
}
