import ArgumentParser
import Foundation

/// `helpline-collector query "SQL"`: a fleet query on the collector host, with the same
/// sandbox, views and limits as `POST /api/v1/query`.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Ask the fleet one SQL SELECT over the documented views (see docs/fleet.md); prints a table.")

    @OptionGroup var store: StoreOptions

    @Argument(help: "One SELECT, e.g. \"SELECT hostname, mount_point, used_percent FROM disks WHERE used_percent > 90\".")
    var sql: String?

    @Flag(name: .long, help: "Print JSON: {columns, rows, truncated, elapsedMS}.")
    var json = false

    @Flag(name: .long, help: "Print CSV.")
    var csv = false

    @Flag(name: .long, help: "List the views and their columns instead.")
    var schema = false

    func validate() throws {
        if json && csv { throw ValidationError("choose one of --json and --csv") }
        if sql == nil && !schema { throw ValidationError("give one SELECT, or --schema to list the views") }
    }

    func run() async throws {
        if schema {
            for view in FleetSchema.views {
                Console.out("\(view.name): \(view.meaning)")
                for c in view.columns { Console.out("  \(c.name) \(c.type) — \(c.meaning)") }
            }
            return
        }
        let configuration = try store.resolve(flags: store.flagSettings)
        // Opening the store applies pending migrations, so the views' tables exist; on
        // PostgreSQL the query runs on its pool (the same engine as the API's, FleetQueries).
        let db = try await openStore(configuration)
        let queries = FleetQueries(configuration: configuration, reads: BlobReadPool(limit: 1, budget: .seconds(3600), retryAfter: 1), store: db)
        let outcome = await queries.answer(sql ?? "", deadline: .now + .milliseconds(configuration.limits.queryTimeLimitMS))
        try await db.close()
        let result: QueryResult
        switch outcome {
        case .success(let r): result = r
        case .failure(let error):
            Console.err("helpline-collector query: \(error.message)")
            throw ExitCode(error.code == .unavailable ? 2 : 1)
        }
        if json {
            let data = try JSONEncoder().encode(result)
            Console.out(String(decoding: data, as: UTF8.self))
        } else if csv {
            Console.out(String(FleetQueries.csv(result).dropLast(2)))
        } else {
            Console.out(Self.table(result))
        }
    }

    /// A plain-text table: columns padded to their widest cell (cells cut at 60 characters).
    static func table(_ result: QueryResult) -> String {
        let cells = [result.columns] + result.rows.map { $0.map { String($0.text.replacingOccurrences(of: "\n", with: " ").prefix(60)) } }
        var widths = result.columns.map(\.count)
        for row in cells { for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ row: [String]) -> String {
            row.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        var out = [line(cells[0]), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        out += cells.dropFirst().map(line)
        out.append("(\(result.rows.count) rows\(result.truncated ? ", cut at the row limit" : ""), \(result.elapsedMS) ms)")
        return out.joined(separator: "\n")
    }
}
