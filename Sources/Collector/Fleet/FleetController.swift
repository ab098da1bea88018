import Foundation
import Hummingbird
import NIOCore

/// `POST /api/v1/query` body.
public struct QueryRequest: Codable, Sendable {
    /// One SELECT over the documented views.
    public var sql: String
    /// `json` (default) or `csv`.
    public var format: String?
}

/// The documented views, for the query page and `GET /api/v1/query/schema`.
public struct QuerySchema: Encodable, Sendable, Equatable {
    public var views: [FleetSchema.View]
}

/// Fleet queries: technicians and admins ask the whole fleet one SQL question.
public struct FleetController: Sendable {
    let queries: FleetQueries
    let store: any CollectorStore
    let publicURL: String?

    /// Creates the controller.
    public init(queries: FleetQueries, store: any CollectorStore, publicURL: String?) {
        self.queries = queries
        self.store = store
        self.publicURL = publicURL
    }

    /// The routes, relative to `/api/v1`.
    public var routes: RouteCollection<CollectorRequestContext> {
        let routes = RouteCollection(context: CollectorRequestContext.self)
        routes.add(middleware: TechnicianAuthMiddleware(store: store, publicURL: publicURL))
        routes.post("query", use: query)
        routes.get("query/schema") { _, _ in JSONResponse(QuerySchema(views: FleetSchema.views)) }
        return routes
    }

    @Sendable func query(request: Request, context: CollectorRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(QueryRequest.self, limit: queries.limits.queryMaxSQLBytes + 4096)
        let csv: Bool
        switch body.format ?? "json" {
        case "json": csv = false
        case "csv": csv = true
        default: throw APIError.badRequest("invalid_format", "format is json or csv")
        }
        let result = try await queries.run(body.sql, by: user.name, clientAddress: context.clientAddress)
        if csv {
            return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8",
                                                   .contentDisposition: "attachment; filename=\"helpline-query.csv\""],
                            body: .init(byteBuffer: ByteBuffer(string: FleetQueries.csv(result))))
        }
        return try JSONResponse(result).response(from: request, context: context)
    }
}

/// Runs fleet queries off the request threads, under the time and row limits, and writes
/// each to the audit log. Shared by the API, the query page, the dashboard and policies.
///
/// The engine follows the store: `QuerySandbox` on the SQLite file, or, when
/// `postgresURL` is set, `PostgresQuerySandbox` on the `PostgresStore`'s pool. Both answer
/// the same views with the same refusals and limits (docs/fleet.md).
public struct FleetQueries: Sendable {
    enum Engine: Sendable {
        case sqlite(QuerySandbox)
        case postgres(PostgresQuerySandbox)
        /// Misconfigured: every query answers `query_unavailable` with this.
        case unavailable(String)
    }
    let engine: Engine
    let reads: BlobReadPool
    let limits: CollectorLimits
    let store: any CollectorStore

    /// Creates the runner for the configured store: PostgreSQL when
    /// `configuration.postgresURL` is set (then `store` is that `PostgresStore`, whose pool
    /// the queries use), else the SQLite file `configuration.databasePath`.
    public init(configuration: CollectorConfiguration, reads: BlobReadPool, store: any CollectorStore) {
        let limits = configuration.limits
        if configuration.postgresURL != nil {
            if let postgres = store as? PostgresStore {
                engine = .postgres(PostgresQuerySandbox(store: postgres, maxRows: limits.queryMaxRows, maxSQLBytes: limits.queryMaxSQLBytes))
            } else {
                engine = .unavailable("the collector is configured for PostgreSQL, but its store is \(type(of: store)); fleet queries need the PostgresStore")
            }
        } else {
            engine = .sqlite(QuerySandbox(databasePath: configuration.databasePath, maxRows: limits.queryMaxRows, maxSQLBytes: limits.queryMaxSQLBytes))
        }
        self.reads = reads
        self.limits = limits
        self.store = store
    }

    /// Runs `sql` on the engine now, on the caller's task, with no reader slot and no audit
    /// (`helpline-collector query`, tests).
    public func answer(_ sql: String, deadline: ContinuousClock.Instant) async -> Result<QueryResult, QueryError> {
        switch engine {
        case .sqlite(let sandbox):
            do throws(QueryError) { return .success(try sandbox.run(sql, deadline: deadline)) } catch { return .failure(error) }
        case .postgres(let sandbox): return await sandbox.run(sql, deadline: deadline)
        case .unavailable(let message): return .failure(QueryError(code: .unavailable, message: message))
        }
    }

    /// Runs `sql` for `user`.
    /// - Throws: `APIError` 400 with the sandbox's code (`query_refused`, `query_invalid`,
    ///   `query_timeout`) and its message; 503 when every reader is busy.
    public func run(_ sql: String, by user: String, clientAddress: String?, audit: Bool = true) async throws -> QueryResult {
        let engine = self.engine
        let limit = Duration.milliseconds(limits.queryTimeLimitMS)
        // PostgreSQL's query is asynchronous; it still takes a reader slot (so that
        // `max_concurrent_reads` bounds it too), whose thread waits for the answer.
        let outcome: Result<QueryResult, QueryError> = try await reads.run { poolDeadline in
            let deadline = min(poolDeadline, ContinuousClock.now + limit)
            switch engine {
            case .sqlite(let sandbox):
                do throws(QueryError) { return .success(try sandbox.run(sql, deadline: deadline)) } catch { return .failure(error) }
            case .postgres(let sandbox): return sandbox.runBlocking(sql, deadline: deadline)
            case .unavailable(let message): return .failure(QueryError(code: .unavailable, message: message))
            }
        }
        if audit {
            let detail = String(sql.replacingOccurrences(of: "\n", with: " ").prefix(600))
                + (clientAddress.map { " · from \($0)" } ?? "")
            try? await store.recordAudit(AuditEntry(at: Date(), actor: user, action: "fleet_query", target: "fleet", detail: detail))
        }
        switch outcome {
        case .success(let result): return result
        case .failure(let error):
            throw APIError(.badRequest, code: error.code.rawValue, error.message)
        }
    }

    /// The answer as CSV (RFC 4180: quoted where needed, CRLF line ends). Cells starting
    /// with `=`, `+`, `-` or `@` get a leading `'` so a spreadsheet does not run them.
    public static func csv(_ result: QueryResult) -> String {
        func cell(_ text: String) -> String {
            var t = text
            if let first = t.first, "=+-@\t\r".contains(first), Double(t) == nil { t = "'" + t }
            if t.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
                return "\"" + t.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            return t
        }
        var out = result.columns.map(cell).joined(separator: ",") + "\r\n"
        for row in result.rows { out += row.map { cell($0.text) }.joined(separator: ",") + "\r\n" }
        return out
    }
}
