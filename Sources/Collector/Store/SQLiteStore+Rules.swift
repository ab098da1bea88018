import Foundation
import GRDB
import Shared

/// Knowledge from technicians: known fixes per rule, reclassified tickets, and the figures
/// that show which rules need work.
extension SQLiteStore {
    public func ruleFixes() async throws -> [String: RuleFix] {
        try await read { db in
            var out: [String: RuleFix] = [:]
            for fix in try Row.fetchAll(db, sql: "SELECT * FROM rule_fixes").map(Self.ruleFix) { out[fix.ruleID] = fix }
            return out
        }
    }

    public func setRuleFix(_ fix: RuleFix, audit: AuditEntry) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO rule_fixes (rule_id, text, link, updated_by, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (rule_id) DO UPDATE SET text = excluded.text, link = excluded.link,
                    updated_by = excluded.updated_by, updated_at = excluded.updated_at
                """, arguments: [fix.ruleID, fix.text, fix.link, String(fix.updatedBy.prefix(128)), fix.updatedAt])
            try Self.insertAudit(db, audit)
        }
    }

    public func deleteRuleFix(ruleID: String, audit: AuditEntry) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM rule_fixes WHERE rule_id = ?", arguments: [ruleID])
            guard db.changesCount > 0 else { return false }
            try Self.insertAudit(db, audit)
            return true
        }
    }

    public func ruleStats() async throws -> [String: RuleStats] {
        try await read { db in
            var out: [String: RuleStats] = [:]
            // Grouped counts, each answered from an index alone (findings_rule_bundle,
            // tickets_top_rule, rule_events_rule): no pass over the findings' text. Bundle rows
            // are numbered in the order they arrive, so a rule's newest bundle row is its last hit.
            for row in try Row.fetchAll(db, sql: """
                SELECT g.rule_id, g.n, b.received_at AS last
                FROM (SELECT rule_id, count(*) AS n, max(bundle_row) AS last_row FROM findings GROUP BY rule_id) g
                LEFT JOIN bundles b ON b.id = g.last_row
                """) {
                out[row["rule_id"], default: RuleStats()].findings = row["n"]
                out[row["rule_id"], default: RuleStats()].lastHitAt = row["last"]
            }
            for row in try Row.fetchAll(db, sql: "SELECT top_rule_id, count(*) AS n FROM tickets WHERE top_rule_id IS NOT NULL GROUP BY top_rule_id") {
                out[row["top_rule_id"], default: RuleStats()].topTickets = row["n"]
            }
            for row in try Row.fetchAll(db, sql: "SELECT rule_id, count(*) AS n FROM rule_events WHERE kind = 'split' GROUP BY rule_id") {
                out[row["rule_id"], default: RuleStats()].splits = row["n"]
            }
            // A ticket reclassified twice is one ticket the rule got wrong.
            for row in try Row.fetchAll(db, sql: """
                SELECT rule_id, count(DISTINCT coalesce(ticket_id, -id)) AS n FROM rule_events WHERE kind = 'reclassified' GROUP BY rule_id
                """) {
                out[row["rule_id"], default: RuleStats()].reclassified = row["n"]
            }
            return out
        }
    }

    public func ruleEvents(ruleID: String, limit: Int) async throws -> [RuleEvent] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rule_events WHERE rule_id = ? ORDER BY id DESC LIMIT ?", arguments: [ruleID, limit]).map { row in
                RuleEvent(id: row["id"], ruleID: row["rule_id"], kind: RuleEvent.Kind(rawValue: row["kind"]) ?? .split, ticketID: row["ticket_id"],
                          actor: row["actor"], detail: row["detail"], createdAt: row["created_at"])
            }
        }
    }

    public func reclassifyTicket(id: Int64, category: FindingCategory, by actor: String, now: Date) async throws -> TicketSummary? {
        try await write { db in
            guard let before = try Self.ticketSummaries(db, where: "t.id = ?", arguments: [id], limit: 1, offset: 0).first else { return nil }
            let diagnosed = try Self.topCategory(db, ticketID: id)
            let current = before.category ?? diagnosed
            guard current != category else { return before }
            try db.execute(sql: "UPDATE tickets SET category = ?, updated_at = ? WHERE id = ?", arguments: [category.rawValue, now, id])
            let from = current?.rawValue ?? "none"
            if let rule = before.topRuleID {
                try db.execute(sql: """
                    INSERT INTO rule_events (rule_id, kind, ticket_id, actor, detail, created_at) VALUES (?, 'reclassified', ?, ?, ?, ?)
                    """, arguments: [rule, id, String(actor.prefix(128)), "\(from) → \(category.rawValue)", now])
            }
            try db.execute(sql: "INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at) VALUES (?, ?, ?, 0, ?)",
                           arguments: [id, actor, "Reclassified from \(from) to \(category.rawValue)"
                                        + (before.topRuleID.map { " (the top finding, \($0), had it wrong)" } ?? "") + ".", now])
            try Self.recordEvent(db, .ticketUpdated, ticketID: id, detail: "category: \(category.rawValue) (was \(from); reclassified by \(actor))", now: now)
            return try Self.ticketSummaries(db, where: "t.id = ?", arguments: [id], limit: 1, offset: 0).first
        }
    }

    /// The category of a ticket's top finding (its first bundle's best-ranked finding).
    static func topCategory(_ db: Database, ticketID: Int64) throws -> FindingCategory? {
        try String.fetchOne(db, sql: "SELECT category FROM findings WHERE ticket_id = ? ORDER BY bundle_row, rank LIMIT 1",
                            arguments: [ticketID]).flatMap(FindingCategory.init(rawValue:))
    }

    /// The known fixes of these rules, for the findings a bundle brings.
    static func ruleFixes(_ db: Database, ruleIDs: Set<String>) throws -> [String: RuleFix] {
        var out: [String: RuleFix] = [:]
        let statement = try db.cachedStatement(sql: "SELECT * FROM rule_fixes WHERE rule_id = ?")
        for id in ruleIDs {
            if let fix = try Row.fetchOne(statement, arguments: [id]).map(ruleFix) { out[id] = fix }
        }
        return out
    }

    /// Records a split against the rule that topped the ticket it was split from.
    static func recordSplit(_ db: Database, ticketID: Int64, bundleID: String, newTicketID: Int64, actor: String, now: Date) throws {
        guard let rule = try String.fetchOne(db, sql: "SELECT top_rule_id FROM tickets WHERE id = ?", arguments: [ticketID]) else { return }
        try db.execute(sql: "INSERT INTO rule_events (rule_id, kind, ticket_id, actor, detail, created_at) VALUES (?, 'split', ?, ?, ?, ?)",
                       arguments: [rule, ticketID, String(actor.prefix(128)), "bundle \(bundleID) → ticket #\(newTicketID)", now])
    }

    static func ruleFix(_ row: Row) -> RuleFix {
        RuleFix(ruleID: row["rule_id"], text: row["text"], link: row["link"], updatedBy: row["updated_by"], updatedAt: row["updated_at"])
    }

    /// One audit row, fields cut to the column limits (shared with `recordAudit`).
    static func insertAudit(_ db: Database, _ entry: AuditEntry) throws {
        try db.execute(sql: "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)", arguments: [
            entry.at, clippedScalars(entry.actor, 128).nonEmpty ?? "?", clippedScalars(entry.action, 64),
            clippedScalars(entry.target, 256), clippedScalars(entry.detail, 1024),
        ])
    }
}
