import ArgumentParser
import Foundation
import Shared

/// `helpline-collector export [--output FILE]`: every row of the store in a portable file
/// (docs/collector.md, "Moving an installation"), to load into another store with `import`.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every row of the store to a portable file (gzip'd JSON lines) that `import` loads into another store.")

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "The file to write (default helpline-export.jsonl.gz). It is written beside, then renamed, so a failed export leaves no half file.")
    var output: String = "helpline-export.jsonl.gz"

    func run() async throws {
        let configuration = try store.resolve(flags: store.flagSettings)
        let db = try await TransferCommands.open(configuration, command: "export")
        do {
            let header = try await db.exportRows(to: output, collectorVersion: CollectorVersion.version)
            // Every heartbeat goes through the log; only those beyond a slot's mark are not stored.
            let root = "\(configuration.dataDirectory)/heartbeat-log"
            let waiting = try await HeartbeatLog.unstored(root: root, store: db)
            try await db.close()
            Console.out("exported \(header.totalRows) rows of \(header.tables.count) tables from \(header.source) (schema \(header.schema)) to \(output)")
            Console.out("the blobs are not in the file: copy \(configuration.dataDirectory)/blobs/ to the new data directory yourself (rsync -a)")
            if waiting > 0 {
                Console.err("warning: \(root) holds \(waiting) heartbeat(s) answered and not stored yet, which are not in the export: start the collector once (it stores them), stop it, and export again")
            }
        } catch {
            try? await db.close()
            Console.err("helpline-collector export: \(TransferCommands.message(error))")
            throw ExitCode(TransferCommands.exitCode(error))
        }
    }
}

/// `helpline-collector import FILE`: loads an `export` file into an empty store of either kind.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load a file made by `export` into an empty store (SQLite or PostgreSQL), keeping every id.")

    @OptionGroup var store: StoreOptions

    @Argument(help: "A file made by `helpline-collector export`.")
    var file: String

    func run() async throws {
        let configuration = try store.resolve(flags: store.flagSettings)
        let db = try await TransferCommands.open(configuration, command: "import")
        do {
            let header = try await db.importRows(from: file)
            try await db.close()
            Console.out("imported \(header.totalRows) rows of \(header.tables.count) tables (exported from \(header.source) by collector \(header.collectorVersion) at \(header.exportedAt))")
            Console.out("the blobs are not in the file: copy the old data directory's blobs/ to \(configuration.dataDirectory)/blobs/ (rsync -a) before starting the collectors")
        } catch {
            try? await db.close()
            Console.err("helpline-collector import: \(TransferCommands.message(error))")
            throw ExitCode(TransferCommands.exitCode(error))
        }
    }
}

/// What `export`, `import` and `migrate` share.
enum TransferCommands {
    /// Opens (and migrates) the configured store; exit 2 when it cannot be reached.
    static func open(_ configuration: CollectorConfiguration, command: String) async throws -> any StoreTransfer {
        let db: any CollectorStore
        do { db = try await openStore(configuration) } catch {
            Console.err("helpline-collector \(command): \(message(error))")
            throw ExitCode(exitCode(error))
        }
        guard let transfer = db as? any StoreTransfer else {
            try? await db.close()
            Console.err("helpline-collector \(command): this store cannot export or import")
            throw ExitCode(1)
        }
        return transfer
    }

    static func message(_ error: any Error) -> String {
        (error as? StoreError)?.message ?? "\(error)"
    }

    /// 2 when the database is unreachable, else 1.
    static func exitCode(_ error: any Error) -> Int32 {
        (error as? StoreError)?.kind == .unavailable ? 2 : 1
    }
}

// MARK: - The transfer file

/// A store that can write all its rows to a transfer file and load one into itself when empty.
///
/// The file (format 1) is gzip'd JSON lines: a header line (`TransferHeader`), then one line
/// per row, `{"t":"table","r":{"column":value,…}}`, tables in an order that respects foreign
/// keys, rows in primary-key order, then `{"end":true,"rows":N}`. Values are neutral: times
/// are UTC text `yyyy-MM-dd HH:mm:ss.SSS`, flags 0/1, ids integers, reals JSON numbers, NULL
/// null. Both stores read their tables and columns from their own catalog. Derived tables
/// (SQLite's FTS5 `journal_text`, the migration bookkeeping) are not in the file.
protocol StoreTransfer: CollectorStore {
    /// Writes every row to `path` (through `path.partial`, renamed at the end) in one
    /// consistent snapshot, streaming.
    /// - Returns: the header written.
    func exportRows(to path: String, collectorVersion: String) async throws -> TransferHeader
    /// Loads the file at `path` in one transaction, keeping every id; refuses a store that
    /// has any row, a file of another schema, a damaged or truncated file, and counts that
    /// differ from the header, changing nothing.
    /// - Returns: the file's header.
    func importRows(from path: String) async throws -> TransferHeader
}

/// The first line of a transfer file.
struct TransferHeader: Codable, Sendable, Equatable {
    /// Always `helpline-export`.
    var format: String = TransferHeader.formatName
    var formatVersion: Int = TransferHeader.currentFormatVersion
    /// The exporting collector's version.
    var collectorVersion: String
    /// The schema the rows have, named by SQLite's last migration (`TransferSchema`).
    var schema: String
    /// `sqlite` or `postgresql`.
    var source: String
    /// When the snapshot was taken (UTC, as times in the rows).
    var exportedAt: String
    /// The tables in file order, with their columns and row counts.
    var tables: [TransferTable]

    static let formatName = "helpline-export"
    static let currentFormatVersion = 1

    var totalRows: Int { tables.reduce(0) { $0 + $1.rows } }
}

/// One table of a transfer file.
struct TransferTable: Codable, Sendable, Equatable {
    var name: String
    var columns: [String]
    var rows: Int
}

/// A value in a transfer file.
enum TransferValue: Equatable, Sendable, Decodable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let i = try? c.decode(Int64.self) { self = .integer(i); return }
        if let d = try? c.decode(Double.self) { self = .real(d); return }
        self = .text(try c.decode(String.self))
    }
}

/// The neutral kinds of column both stores map their types to.
enum TransferKind: Sendable, Equatable {
    case integer, real, text, time, flag
}

/// A table as a store's catalog describes it.
struct TransferTableInfo: Sendable {
    var name: String
    var columns: [(name: String, kind: TransferKind)]
    /// Primary-key columns in key order (the row order of the file).
    var primaryKey: [String]
    /// Tables this one references.
    var parents: Set<String>
}

enum TransferSchema {
    /// The schema name of this version: SQLite's last migration (PostgreSQL's migrations map
    /// to the SQLite migration they equal, `PostgresStore.transferSchemaNames`).
    static var current: String { SQLiteStore.migrator.migrations.last ?? "none" }

    /// `tables` ordered so that every table comes after those it references (ties by name).
    static func ordered(_ tables: [TransferTableInfo]) throws -> [TransferTableInfo] {
        var left = Dictionary(uniqueKeysWithValues: tables.map { ($0.name, $0) })
        var done = Set<String>(), out: [TransferTableInfo] = []
        while !left.isEmpty {
            guard let next = left.values.filter({ $0.parents.subtracting([$0.name]).allSatisfy { done.contains($0) || left[$0] == nil } })
                .map(\.name).sorted().first else {
                throw StoreError(.corrupt, "the foreign keys of \(left.keys.sorted().joined(separator: ", ")) form a cycle")
            }
            out.append(left.removeValue(forKey: next)!)
            done.insert(next)
        }
        return out
    }

    /// Checks that the file's header fits the target's catalog and schema.
    /// - Returns: the target's tables by name.
    static func check(_ header: TransferHeader, targetSchema: String, targetTables: [TransferTableInfo]) throws -> [String: TransferTableInfo] {
        guard header.format == TransferHeader.formatName else {
            throw StoreError(.corrupt, "not a Helpline export file (format \(header.format))")
        }
        guard header.formatVersion == TransferHeader.currentFormatVersion else {
            throw StoreError(.corrupt, "the file has export format \(header.formatVersion); this collector reads format \(TransferHeader.currentFormatVersion)")
        }
        guard header.schema == targetSchema else {
            throw StoreError(.corrupt, "the file has schema \(header.schema) (collector \(header.collectorVersion)) but this store has schema \(targetSchema): export and import with the same collector version (run `migrate` on the old store with the new version first)")
        }
        let byName = Dictionary(uniqueKeysWithValues: targetTables.map { ($0.name, $0) })
        let fileNames = Set(header.tables.map(\.name))
        guard fileNames == Set(byName.keys) else {
            let missing = Set(byName.keys).subtracting(fileNames).sorted(), extra = fileNames.subtracting(byName.keys).sorted()
            throw StoreError(.corrupt, "the file's tables differ from this store's (missing: \(missing.joined(separator: ", ")); unknown: \(extra.joined(separator: ", ")))")
        }
        for table in header.tables {
            let target = Set(byName[table.name]!.columns.map(\.name))
            guard Set(table.columns) == target else {
                throw StoreError(.corrupt, "the file's columns of \(table.name) (\(table.columns.sorted().joined(separator: ", "))) differ from this store's (\(target.sorted().joined(separator: ", ")))")
            }
        }
        return byName
    }

    /// Refuses a target store that has rows.
    static func requireEmpty(_ counts: [(table: String, rows: Int)]) throws {
        let filled = counts.filter { $0.rows > 0 }
        guard filled.isEmpty else {
            let key = ["tickets", "hosts", "users"].compactMap { t in counts.first { $0.table == t && $0.rows > 0 }.map { "\($0.rows) \(t)" } }
            let list = (key.isEmpty ? filled.map { "\($0.rows) \($0.table)" } : key).joined(separator: ", ")
            throw StoreError(.conflict, "the target store is not empty (\(list)); import loads only into a new, empty database and changed nothing")
        }
    }

    /// Checks the rows read and the rows now in the store against the header.
    static func checkCounts(_ header: TransferHeader, read: [String: Int], stored: [String: Int]) throws {
        for table in header.tables {
            let r = read[table.name] ?? 0, s = stored[table.name] ?? 0
            guard r == table.rows, s == table.rows else {
                throw StoreError(.corrupt, "table \(table.name): the header says \(table.rows) rows, the file had \(r), the store now has \(s); nothing was imported")
            }
        }
    }
}

// MARK: Neutral times

enum TransferTime {
    /// `yyyy-MM-dd HH:mm:ss.SSS` in UTC, milliseconds truncated (as GRDB stores dates).
    static func format(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let millis = micros >= 0 ? micros / 1000 : (micros - 999) / 1000
        let ms = Int(((millis % 1000) + 1000) % 1000)
        let seconds = (millis - Int64(ms)) / 1000
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secOfDay = Int(seconds - days * 86400)
        // Civil from days (Howard Hinnant).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func pad(_ v: Int64, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2)) \(pad(Int64(secOfDay / 3600), 2)):\(pad(Int64(secOfDay / 60 % 60), 2)):\(pad(Int64(secOfDay % 60), 2)).\(pad(Int64(ms), 3))"
    }

    /// Reads `yyyy-MM-dd HH:mm:ss.SSS` (UTC); nil when it is not that.
    static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count == 23, b[4] == 45, b[7] == 45, b[10] == 32, b[13] == 58, b[16] == 58, b[19] == 46 else { return nil }
        func num(_ r: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in r { guard (48...57).contains(b[i]) else { return nil }; v = v * 10 + Int64(b[i] - 48) }
            return v
        }
        guard let y = num(0..<4), let m = num(5..<7), let d = num(8..<10), let hh = num(11..<13), let mm = num(14..<16),
              let ss = num(17..<19), let ms = num(20..<23), (1...12).contains(m), (1...31).contains(d), hh < 24, mm < 60, ss < 61 else { return nil }
        // Days from civil (Howard Hinnant).
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let millis = ((days * 86400 + hh * 3600 + mm * 60 + ss) * 1000) + ms
        return Date(timeIntervalSince1970: Double(millis) / 1000)
    }
}

// MARK: Writing

/// Writes a transfer file: gzip'd JSON lines, through `path.partial`, renamed by `finish`.
final class TransferWriter {
    private let path: String
    private let partial: String
    private let handle: FileHandle
    private let deflater: GzipDeflater
    private var buffer: [UInt8] = []
    private var finished = false
    private(set) var rowsWritten = 0

    init(path: String) throws {
        self.path = path
        partial = path + ".partial"
        FileManager.default.createFile(atPath: partial, contents: nil, attributes: [.posixPermissions: 0o600])
        guard let handle = FileHandle(forWritingAtPath: partial) else {
            throw StoreError(.unavailable, "could not write \(partial): check the folder and its permissions")
        }
        self.handle = handle
        deflater = try GzipDeflater(level: 6)
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        if !finished { try? handle.close(); unlink(partial) }
    }

    func header(_ header: TransferHeader) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        buffer += try encoder.encode(header)
        buffer.append(10)
    }

    /// One row: `columns[i]` has `values[i]`.
    func row(table: String, columns: [String], values: [TransferValue]) throws {
        buffer += Array(#"{"t":"#.utf8)
        Self.string(table, to: &buffer)
        buffer += Array(#","r":{"#.utf8)
        for (i, column) in columns.enumerated() {
            if i > 0 { buffer.append(44) }
            Self.string(column, to: &buffer)
            buffer.append(58)
            switch values[i] {
            case .null: buffer += Array("null".utf8)
            case .integer(let v): buffer += Array(String(v).utf8)
            case .real(let v):
                guard v.isFinite else { throw StoreError(.corrupt, "table \(table), column \(column): \(v) cannot be exported") }
                buffer += Array("\(v)".utf8)
            case .text(let s): Self.string(s, to: &buffer)
            }
        }
        buffer += Array("}}\n".utf8)
        rowsWritten += 1
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Writes the end line, closes and renames the file into place.
    func finish() throws {
        buffer += Array(#"{"end":true,"rows":\#(rowsWritten)}"#.utf8)
        buffer.append(10)
        try flush()
        try deflater.finish { try write($0) }
        try handle.synchronize()
        try handle.close()
        guard rename(partial, path) == 0 else {
            throw StoreError(.unavailable, "could not rename \(partial) to \(path): \(String(cString: strerror(errno)))")
        }
        finished = true
    }

    private func flush() throws {
        let bytes = buffer
        buffer.removeAll(keepingCapacity: true)
        try deflater.compress(bytes) { try write($0) }
    }

    private func write(_ chunk: UnsafeRawBufferPointer) throws {
        do { try handle.write(contentsOf: Data(chunk)) } catch {
            throw StoreError(.unavailable, "could not write \(partial): \(error.localizedDescription)")
        }
    }

    /// A JSON string literal.
    static func string(_ s: String, to out: inout [UInt8]) {
        out.append(34)
        for byte in s.utf8 {
            switch byte {
            case 34: out += [92, 34]
            case 92: out += [92, 92]
            case 10: out += [92, 110]
            case 13: out += [92, 114]
            case 9: out += [92, 116]
            case 0..<32:
                let hex = Array("0123456789abcdef".utf8)
                out += [92, 117, 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: out.append(byte)
            }
        }
        out.append(34)
    }
}

// MARK: Reading

/// Reads a transfer file line by line (never whole), checking its structure.
final class TransferReader {
    let path: String
    private let handle: FileHandle
    private let inflater: GzipInflater
    private var pending: [UInt8] = []
    private var start = 0
    private var atEOF = false
    private(set) var lineNumber = 0
    private(set) var header: TransferHeader!
    /// Rows read per table.
    private(set) var counts: [String: Int] = [:]
    private var ended = false
    private let decoder = JSONDecoder()

    private struct Line: Decodable {
        var t: String?
        var r: [String: TransferValue]?
        var end: Bool?
        var rows: Int?
    }

    /// Opens the file and reads its header.
    init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StoreError(.notFound, "could not read \(path): no such file, or no permission")
        }
        self.handle = handle
        inflater = try GzipInflater()
        guard let first = try nextLine() else { throw bad("the file is empty") }
        do { header = try decoder.decode(TransferHeader.self, from: Data(first)) } catch {
            throw bad("the first line is not a Helpline export header")
        }
    }

    deinit { try? handle.close() }

    private func bad(_ why: String) -> StoreError {
        StoreError(.corrupt, "\(path): \(why) (line \(lineNumber)); the file is damaged or not an export; nothing was imported")
    }

    /// The next row, or nil after the end line (which must be last, with the right total).
    func next() throws -> (table: String, values: [String: TransferValue])? {
        guard !ended else { return nil }
        guard let bytes = try nextLine() else { throw bad("the file ends early, before its end line (a cut or interrupted copy)") }
        let line: Line
        do { line = try decoder.decode(Line.self, from: Data(bytes)) } catch { throw bad("a line is not valid JSON") }
        if line.end == true {
            let total = counts.values.reduce(0, +)
            guard line.rows == total else { throw bad("the end line says \(line.rows ?? -1) rows, the file had \(total)") }
            guard try nextLine() == nil else { throw bad("there is more after the end line") }
            ended = true
            return nil
        }
        guard let t = line.t, let r = line.r else { throw bad("a line is not a row") }
        counts[t, default: 0] += 1
        return (t, r)
    }

    /// The next line without its newline; nil at the end of the file.
    private func nextLine() throws -> [UInt8]? {
        while true {
            if let nl = pending[start...].firstIndex(of: 10) {
                let line = Array(pending[start..<nl])
                start = nl + 1
                lineNumber += 1
                return line
            }
            if atEOF {
                guard start == pending.count else { lineNumber += 1; throw bad("the last line is cut off") }
                return nil
            }
            if start > 0 { pending.removeFirst(start); start = 0 }
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch {
                throw StoreError(.unavailable, "could not read \(path): \(error.localizedDescription)")
            }
            do {
                if let chunk, !chunk.isEmpty {
                    try chunk.withUnsafeBytes { raw in try inflater.decompress(raw) { pending += $0 } }
                } else {
                    atEOF = true
                    try inflater.finish()
                }
            } catch let error as BundleError {
                throw bad("not a complete gzip file: \(error.message)")
            }
        }
    }
}
