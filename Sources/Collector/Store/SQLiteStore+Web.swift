import Foundation
import GRDB
import Shared

extension SQLiteStore {
    // MARK: Sessions

    public func webSession(hash: String, now: Date) async throws -> WebSessionUser? {
        try await read { db in
            try Row.fetchOne(db, sql: """
                SELECT u.name, u.role, u.created_at, u.must_change_password FROM sessions s JOIN users u ON u.id = s.user_id
                WHERE s.token_hash = ? AND s.expires_at > ?
                """, arguments: [hash, now]).map { WebSessionUser(user: try Self.user($0), mustChangePassword: $0["must_change_password"]) }
        }
    }

    public func deleteSession(hash: String) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM sessions WHERE token_hash = ?", arguments: [hash]) }
    }

    public func deleteExpiredSessions(now: Date) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at <= ?", arguments: [now])
            return db.changesCount
        }
    }

    public func changePassword(name: String, passwordHash: String, keepingSession sessionHash: String?, now: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "UPDATE users SET password_hash = ?, updated_at = ?, must_change_password = 0 WHERE name = ?",
                           arguments: [passwordHash, now, name])
            guard db.changesCount > 0 else { return false }
            // Every other session of the user ends: whoever knew the old password is signed out.
            try db.execute(sql: """
                DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?) AND token_hash IS NOT ?
                """, arguments: [name, sessionHash])
            return true
        }
    }

    // MARK: Audit

    public func recordAudit(_ entry: AuditEntry) async throws {
        try await write { db in try Self.insertAudit(db, entry) }
    }

    public func pruneAuditLog(before: Date) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM audit_log WHERE at < ?", arguments: [before])
            return db.changesCount
        }
    }

    public func auditLog(limit: Int, offset: Int) async throws -> [AuditEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log ORDER BY id DESC LIMIT ? OFFSET ?", arguments: [limit, offset]).map {
                AuditEntry(id: $0["id"], at: $0["at"], actor: $0["actor"], action: $0["action"], target: $0["target"], detail: $0["detail"])
            }
        }
    }

    // MARK: Queue

    public func ticketQueue(_ query: TicketQuery) async throws -> TicketQueuePage {
        try await read { db in
            // Every condition is a constant of this file; values go through `arguments`.
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if !query.statuses.isEmpty {
                conditions.append("t.status IN (\(Array(repeating: "?", count: query.statuses.count).joined(separator: ", ")))")
                for s in query.statuses { arguments += [s.rawValue] }
            }
            if let p = query.priority {
                conditions.append("t.priority = ?")
                arguments += [p.rawValue]
            }
            if let c = query.category {
                // A technician's reclassification wins over the top finding's category.
                conditions.append("coalesce(t.category, (SELECT f.category FROM findings f WHERE f.ticket_id = t.id ORDER BY f.bundle_row, f.rank LIMIT 1)) = ?")
                arguments += [c.rawValue]
            }
            if let h = query.host, !h.isEmpty {
                conditions.append("instr(lower(h.hostname), lower(?)) > 0")
                arguments += [h]
            }
            if let a = query.assignee {
                if a.isEmpty { conditions.append("t.assignee IS NULL") } else {
                    conditions.append("t.assignee = ?")
                    arguments += [a]
                }
            }
            if let text = query.text, !text.isEmpty {
                conditions.append("(instr(lower(t.title), lower(?)) > 0 OR instr(lower(coalesce(t.note, '')), lower(?)) > 0)")
                arguments += [text, text]
            }
            let condition = conditions.isEmpty ? "1" : conditions.joined(separator: " AND ")
            let order: String
            switch query.sort {
            case .priority:
                order = "CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, t.updated_at DESC, t.id DESC"
            case .updated: order = "t.updated_at DESC, t.id DESC"
            case .created: order = "t.created_at DESC, t.id DESC"
            case .oldest: order = "t.created_at, t.id"
            case .host: order = "h.hostname, t.updated_at DESC, t.id DESC"
            }
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM tickets t JOIN hosts h ON h.id = t.host_id WHERE \(condition)",
                                         arguments: arguments) ?? 0
            var pageArguments = arguments
            pageArguments += [query.limit, query.offset]
            let ids = try Int64.fetchAll(db, sql: """
                SELECT t.id FROM tickets t JOIN hosts h ON h.id = t.host_id WHERE \(condition) ORDER BY \(order) LIMIT ? OFFSET ?
                """, arguments: pageArguments)
            var rows: [QueueRow] = []
            for id in ids {
                guard let summary = try Self.ticketSummaries(db, where: "t.id = ?", arguments: [id], limit: 1, offset: 0).first else { continue }
                let category = try summary.category ?? Self.topCategory(db, ticketID: id)
                let incident = try Int64.fetchOne(db, sql: """
                    SELECT i.id FROM incidents i JOIN incident_tickets it ON it.incident_id = i.id
                    WHERE it.ticket_id = ? AND i.status = 'open' ORDER BY i.id DESC LIMIT 1
                    """, arguments: [id])
                rows.append(QueueRow(ticket: summary, category: category, incidentID: incident))
            }
            return TicketQueuePage(total: total, rows: rows)
        }
    }

    // MARK: Ticket page

    public func joinReasons(ticketID: Int64) async throws -> [String: String] {
        try await read { db in
            var reasons: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT b.bundle_id, tb.join_reason FROM ticket_bundles tb JOIN bundles b ON b.id = tb.bundle_row
                WHERE tb.ticket_id = ? AND tb.join_reason IS NOT NULL
                """, arguments: [ticketID]) {
                reasons[row["bundle_id"]] = row["join_reason"]
            }
            return reasons
        }
    }

    public func previousBundle(of bundleID: String) async throws -> BundleRecord? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, host_id, received_at FROM bundles WHERE bundle_id = ?", arguments: [bundleID]) else {
                return nil
            }
            return try Row.fetchOne(db, sql: """
                SELECT \(Self.bundleColumns) FROM bundles b WHERE b.host_id = ? AND (b.received_at < ? OR (b.received_at = ? AND b.id < ?))
                ORDER BY b.received_at DESC, b.id DESC LIMIT 1
                """, arguments: [row["host_id"] as String, row["received_at"] as Date, row["received_at"] as Date, row["id"] as Int64]).map(Self.bundle)
        }
    }

    public func incidentsOf(ticketID: Int64) async throws -> [IncidentRecord] {
        try await read { db in
            try Int64.fetchAll(db, sql: "SELECT incident_id FROM incident_tickets WHERE ticket_id = ? ORDER BY incident_id DESC", arguments: [ticketID])
                .compactMap { try Self.incident(db, id: $0) }
        }
    }
}

extension String {
    /// nil for the empty string.
    var nonEmpty: String? { isEmpty ? nil : self }
}
