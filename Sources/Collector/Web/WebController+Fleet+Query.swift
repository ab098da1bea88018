import Foundation
import Hummingbird
import NIOCore
import Shared

/// A query answer as a page shows it.
struct ResultView {
    struct Row { var cells: [String] }
    struct Bar {
        var label: String
        var value: String
        var y: Int
        var textY: Int
        var width: Int
    }
    var columns: [String]
    var rows: [Row]
    var count: Int
    var truncated: Bool
    var elapsedMS: Int
    var empty: Bool
    var bars: [Bar]
    var hasChart: Bool
    var chartHeight: Int

    /// The table, and a bar chart when the answer is (label, number) pairs.
    init(_ r: QueryResult, chartable: Bool = true) {
        columns = r.columns.map { WebFormat.untrusted($0, max: 200) }
        rows = r.rows.prefix(1000).map { Row(cells: $0.map { WebFormat.untrusted($0.text, max: 2000) }) }
        count = r.rows.count
        truncated = r.truncated || r.rows.count > 1000
        elapsedMS = r.elapsedMS
        empty = r.rows.isEmpty
        var bars: [Bar] = []
        if chartable, r.columns.count == 2, !r.rows.isEmpty, r.rows.count <= 25 {
            let values: [Double?] = r.rows.map {
                switch $0[1] {
                case .integer(let n): Double(n)
                case .real(let d): d.isFinite ? d : nil
                default: nil
                }
            }
            if values.allSatisfy({ $0 != nil && $0! >= 0 }), let top = values.compactMap({ $0 }).max(), top > 0 {
                for (i, row) in r.rows.enumerated() {
                    let v = values[i]!
                    let text = row[0].text
                    let label = text.count > 28 ? String(text.prefix(27)) + "…" : text
                    bars.append(Bar(label: WebFormat.untrusted(label, max: 40), value: row[1].text,
                                    y: i * 20 + 2, textY: i * 20 + 14, width: max(1, Int(v / top * 200))))
                }
            }
        }
        self.bars = bars
        hasChart = !bars.isEmpty
        chartHeight = bars.count * 20 + 4
    }
}

struct DashboardCard {
    var title: String
    var meaning: String
    var queryHref: String
    var result: ResultView?
    var error: String?
}

struct FleetPage {
    var chrome: PageChrome
    var cards: [DashboardCard]
    var package: String
}

struct QueryPage {
    struct SavedView {
        var id: Int64
        var name: String
        var href: String
        var owner: String
        var shared: Bool
        var canDelete: Bool
        var deleteAction: String
        var policy: String?
    }
    var chrome: PageChrome
    var sql: String
    var result: ResultView?
    var error: String?
    var errorCode: String?
    var csvHref: String?
    var views: [FleetSchema.View]
    var saved: [SavedView]
    var hasSaved: Bool
    var maxSQLBytes: Int
}

extension WebController {
    /// The fleet dashboard's built-in questions. Each text runs on both stores with the
    /// same answer: SQLite's `datetime` and `round` exist in PostgreSQL's `fleet` schema
    /// (FleetSchema.postgresMigration), NULLs are placed with `NULLS FIRST/LAST` (the two
    /// engines' defaults differ), and every selected column is grouped or aggregated.
    static let dashboard: [(title: String, meaning: String, sql: String)] = [
        // `ORDER BY disks.used_percent`, not the rounded output column of the same name, so
        // that the index answers the order and the query stops after 50 rows; read-only
        // filesystems (ISO images, DVDs: 100 % by design) cannot fill and would crowd the top.
        ("Disks over 90 %", "Writable filesystems about to fill, fullest first.",
         "SELECT hostname, mount_point, round(used_percent, 1) AS used_percent, available_bytes FROM disks WHERE used_percent > 90 AND read_only = 0 ORDER BY disks.used_percent DESC LIMIT 50"),
        ("Memory pressure", "Hosts whose tasks wait for memory (PSI over 10 % in the last 10 s) or with RAM over 90 % used.",
         "SELECT hostname, round(memory_used_percent, 1) AS memory_used_percent, round(psi_memory_some_avg10, 1) AS psi_memory, round(swap_used_percent, 1) AS swap_used_percent FROM health WHERE psi_memory_some_avg10 >= 10 OR memory_used_percent >= 90 ORDER BY psi_memory_some_avg10 DESC NULLS LAST LIMIT 50"),
        ("Failed units", "systemd units failed on the most hosts.",
         "SELECT unit, count(*) AS hosts FROM failed_units GROUP BY unit ORDER BY hosts DESC, unit LIMIT 20"),
        // Two index ranges (never seen, seen before the cutoff) instead of one OR, which
        // SQLite answered by walking the whole last_seen_at index in order, host by host.
        ("Not seen for 7 days", "Enrolled hosts that sent nothing for a week.",
         "SELECT hostname, last_seen_at FROM hosts WHERE revoked = 0 AND last_seen_at IS NULL UNION ALL SELECT hostname, last_seen_at FROM hosts WHERE revoked = 0 AND last_seen_at < datetime('now', '-7 days') ORDER BY last_seen_at NULLS FIRST LIMIT 50"),
        ("Agent versions", "Which agent versions the fleet runs.",
         "SELECT agent_version, count(*) AS hosts FROM health GROUP BY agent_version ORDER BY hosts DESC LIMIT 20"),
        // From `health` (hosts that sent a heartbeat) grouped by the column, not by the
        // coalesce(), so that it counts along the kernel index.
        ("Kernels", "Running kernel releases across the fleet (hosts that sent a heartbeat).",
         "SELECT coalesce(kernel, 'unknown') AS kernel, count(*) AS hosts FROM health GROUP BY health.kernel ORDER BY hosts DESC LIMIT 20"),
        ("Top findings this week", "Problems found on the most hosts in the last 7 days.",
         "SELECT min(title) AS title, count(DISTINCT host_id) AS hosts FROM findings WHERE received_at >= datetime('now', '-7 days') GROUP BY rule_id ORDER BY hosts DESC, title LIMIT 10"),
    ]

    /// The dashboard's package card: one package's versions across the fleet (`?package=`).
    static func packageVersions(_ name: String) -> (title: String, meaning: String, sql: String) {
        let literal = "'" + name.replacingOccurrences(of: "'", with: "''") + "'"
        return ("Versions of \(name)", "Which versions of one package the fleet has installed (change it above).",
                "SELECT version, count(*) AS hosts FROM packages WHERE name = \(literal) GROUP BY version ORDER BY hosts DESC LIMIT 20")
    }

    @Sendable func fleetPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        let user = try self.user(context)
        let package = try Self.parameter(request, "package", max: 200) ?? "openssl"
        guard package.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) else {
            throw APIError.badRequest("invalid_query", "a Debian package name is letters, digits, + - and .")
        }
        var cards: [DashboardCard] = []
        for item in Self.dashboard + [Self.packageVersions(package)] {
            var card = DashboardCard(title: item.title, meaning: item.meaning, queryHref: WebLinks.link("/query", [("sql", item.sql)]))
            do {
                card.result = ResultView(try await fleet.run(item.sql, by: user.name, clientAddress: context.clientAddress, audit: false))
            } catch let e as APIError {
                card.error = e.message
            }
            cards.append(card)
        }
        await audit(context, "fleet_dashboard_viewed", "fleet")
        return try page("fleet", FleetPage(chrome: PageChrome(context: context, title: "Fleet", section: "fleet"), cards: cards, package: package))
    }

    func queryModel(_ context: CollectorRequestContext, sql: String, result: QueryResult?, error: APIError?) async throws -> QueryPage {
        let user = try self.user(context)
        let saved = try await store.savedQueries(visibleTo: user.name).map { q in
            QueryPage.SavedView(id: q.id, name: WebFormat.untrusted(q.name, max: 100), href: WebLinks.link("/query", [("sql", q.sql)]),
                                owner: WebFormat.untrusted(q.owner, max: 64), shared: q.shared,
                                canDelete: q.owner == user.name || user.role == .admin, deleteAction: "/query/saved/\(q.id)/delete",
                                policy: q.policyIntervalMinutes.map { "policy every \($0) min" + (q.policyLastResult.map { " · last run: \(WebFormat.untrusted($0, max: 300))" } ?? " · not run yet") })
        }
        return QueryPage(chrome: PageChrome(context: context, title: "Query the fleet", section: "fleet"), sql: sql,
                         result: result.map { ResultView($0, chartable: false) }, error: error?.message, errorCode: error?.code,
                         csvHref: result != nil && !sql.isEmpty ? WebLinks.link("/query.csv", [("sql", sql)]) : nil,
                         views: FleetSchema.views, saved: saved, hasSaved: !saved.isEmpty, maxSQLBytes: limits.queryMaxSQLBytes)
    }

    /// `GET /query?sql=…`: a query is a read, so its URL can be shared and bookmarked.
    @Sendable func queryPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        let user = try self.user(context)
        let sql = try Self.parameter(request, "sql", max: limits.queryMaxSQLBytes + 1) ?? ""
        var result: QueryResult?
        var failure: APIError?
        if !sql.isEmpty {
            do { result = try await fleet.run(sql, by: user.name, clientAddress: context.clientAddress) } catch let e as APIError { failure = e }
        }
        let model = try await queryModel(context, sql: sql, result: result, error: failure)
        return try page("query", model, status: failure.map { $0.status == .serviceUnavailable ? .serviceUnavailable : .badRequest } ?? .ok)
    }

    @Sendable func queryCSV(request: Request, context: CollectorRequestContext) async throws -> Response {
        let user = try self.user(context)
        guard let sql = try Self.parameter(request, "sql", max: limits.queryMaxSQLBytes + 1) else {
            throw APIError.badRequest("invalid_query", "give the query as ?sql=")
        }
        let result = try await fleet.run(sql, by: user.name, clientAddress: context.clientAddress)
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .cacheControl: "no-store",
                                               .contentDisposition: "attachment; filename=\"helpline-query.csv\""],
                        body: .init(byteBuffer: ByteBuffer(string: FleetQueries.csv(result))))
    }

    @Sendable func saveQuery(request: Request, context: CollectorRequestContext) async throws -> Response {
        let user = try self.user(context)
        let form = try await form(request, context)
        let name = (form["name"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let sql = (form["sql"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard isPlainName(name, max: 100) else {
            throw APIError.badRequest("invalid_name", "a saved query's name is 1 to 100 characters (Unicode code points), no control characters")
        }
        guard !sql.isEmpty, sql.utf8.count <= limits.queryMaxSQLBytes else {
            throw APIError.badRequest("invalid_query", "a saved query is 1 byte to \(limits.queryMaxSQLBytes) bytes of SQL")
        }
        var policy: PolicySettings?
        if let every = form["policy_minutes"], !every.isEmpty, every != "0" {
            guard let minutes = Int(every), (limits.policyMinIntervalMinutes...10_080).contains(minutes) else {
                throw APIError.badRequest("invalid_policy", "a policy runs every \(limits.policyMinIntervalMinutes) to 10080 minutes")
            }
            let advice = (form["policy_advice"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard advice.unicodeScalars.count <= 4000 else { throw APIError.badRequest("invalid_policy", "a policy's advice is at most 4000 characters (Unicode code points)") }
            let priority = TicketPriority(rawValue: form["policy_priority"] ?? "normal") ?? .normal
            // A policy must name its hosts: check the query answers host_id before saving.
            let probe = try await fleet.run(sql, by: user.name, clientAddress: context.clientAddress, audit: false)
            guard probe.columns.contains("host_id") else {
                throw APIError.badRequest("invalid_policy", "a policy's query must answer a host_id column (one row per matching host)")
            }
            policy = PolicySettings(intervalMinutes: minutes, advice: advice, priority: priority)
        }
        do {
            _ = try await store.saveQuery(name: name, sql: sql, owner: user.name, shared: form["shared"] == "1" || policy != nil, policy: policy, now: Date())
        } catch let e as StoreError where e.kind == .conflict {
            throw APIError(.conflict, code: "name_taken", e.message)
        }
        await audit(context, "query_saved", "query \(name.prefix(100))", form["shared"] == "1" ? "shared" : "private")
        return try Redirect(location: WebLinks.link("/query", [("sql", sql)])).response(from: request, context: context)
    }

    @Sendable func deleteSavedQuery(request: Request, context: CollectorRequestContext) async throws -> Response {
        let user = try self.user(context)
        _ = try await form(request, context)
        guard let id = context.parameters.get("queryID", as: Int64.self), id > 0 else {
            throw APIError.badRequest("invalid_id", "saved query ids are positive whole numbers")
        }
        guard try await store.deleteSavedQuery(id: id, by: user.name, isAdmin: user.role == .admin) else {
            throw APIError.notFound("saved query \(id) of yours")
        }
        await audit(context, "query_deleted", "query \(id)")
        return try Redirect(location: "/query").response(from: request, context: context)
    }
}
