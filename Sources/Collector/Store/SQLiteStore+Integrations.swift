import Foundation
import GRDB
import Shared

extension SQLiteStore {
    // MARK: Writing events (inside the ticket transactions)

    /// Appends an outbox row in the caller's transaction: the event exists exactly when the
    /// change it reports was committed.
    static func recordEvent(_ db: Database, _ kind: IntegrationEventKind, ticketID: Int64? = nil, incidentID: Int64? = nil,
                            commentID: Int64? = nil, bundleID: String? = nil, origin: String? = nil, detail: String? = nil,
                            now: Date) throws {
        try db.execute(sql: """
            INSERT INTO integration_events (event_uuid, kind, ticket_id, incident_id, comment_id, bundle_id, origin, detail, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [UUID().uuidString.lowercased(), kind.rawValue, ticketID, incidentID, commentID, bundleID, origin,
                             detail.map { String($0.prefix(2000)) }, now])
    }

    /// Sets a ticket's status and its resolved time (shared by `updateTicket` and inbound changes).
    static func setStatus(_ db: Database, ticketID: Int64, _ status: TicketStatus, now: Date) throws {
        try db.execute(sql: "UPDATE tickets SET status = ?, updated_at = ? WHERE id = ?", arguments: [status.rawValue, now, ticketID])
        let resolved: Date? = (status == .resolved || status == .closed) ? now : nil
        try db.execute(sql: "UPDATE tickets SET resolved_at = ? WHERE id = ?", arguments: [resolved, ticketID])
    }

    // MARK: IntegrationOutbox

    private static let eventColumns = """
        e.id AS e_id, e.event_uuid, e.kind, e.ticket_id AS e_ticket_id, e.incident_id, e.comment_id, e.bundle_id, e.origin, e.detail,
        e.created_at AS e_created_at
        """

    private static func event(_ row: Row) throws -> IntegrationEventRecord {
        guard let kind = IntegrationEventKind(rawValue: row["kind"]) else {
            throw StoreError(.corrupt, "integration event \(row["e_id"] as Int64) has an unknown kind")
        }
        return IntegrationEventRecord(id: row["e_id"], uuid: row["event_uuid"], kind: kind, ticketID: row["e_ticket_id"],
                                      incidentID: row["incident_id"], commentID: row["comment_id"], bundleID: row["bundle_id"],
                                      origin: row["origin"], detail: row["detail"], createdAt: row["e_created_at"])
    }

    private static func deliveryRecord(_ row: Row) throws -> IntegrationDeliveryRecord {
        guard let status = IntegrationDeliveryStatus(rawValue: row["status"]) else {
            throw StoreError(.corrupt, "integration delivery \(row["id"] as Int64) has an unknown status")
        }
        return IntegrationDeliveryRecord(id: row["id"], backend: row["backend"], event: try event(row), status: status,
                                         attempts: row["attempts"], nextAttemptAt: row["next_attempt_at"], lastError: row["last_error"],
                                         lastStatusCode: row["last_status_code"], deliveredAt: row["delivered_at"],
                                         createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    private static let deliverySelect = """
        SELECT d.*, \(eventColumns) FROM integration_deliveries d JOIN integration_events e ON e.id = d.event_id
        """

    public func unroutedEvents(limit: Int) async throws -> [IntegrationEventRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.eventColumns) FROM integration_events e WHERE e.routed_at IS NULL ORDER BY e.id LIMIT ?",
                             arguments: [limit]).map(Self.event)
        }
    }

    public func routingFacts(ticketID: Int64) async throws -> TicketRoutingFacts? {
        try await read { db in
            guard let hostname = try String.fetchOne(db, sql: "SELECT h.hostname FROM tickets t JOIN hosts h ON h.id = t.host_id WHERE t.id = ?",
                                                     arguments: [ticketID]) else { return nil }
            let findings = try Row.fetchAll(db, sql: "SELECT category, severity FROM findings WHERE ticket_id = ? ORDER BY bundle_row, rank",
                                            arguments: [ticketID])
            let severities = findings.compactMap { Severity(rawValue: $0["severity"]) }
            let top = findings.first.flatMap { FindingCategory(rawValue: $0["category"]) }
            let linked = Set(try String.fetchAll(db, sql: "SELECT backend FROM ticket_remote_links WHERE ticket_id = ?", arguments: [ticketID]))
            return TicketRoutingFacts(topCategory: top, worstSeverity: severities.max(), hostname: hostname, linkedBackends: linked)
        }
    }

    public func route(eventID: Int64, to backends: [String], now: Date) async throws {
        try await write { db in
            let ticketID = try Int64.fetchOne(db, sql: "SELECT ticket_id FROM integration_events WHERE id = ?", arguments: [eventID])
            for backend in backends {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO integration_deliveries (event_id, backend, ticket_id, status, attempts, next_attempt_at, created_at, updated_at)
                    VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)
                    """, arguments: [eventID, backend, ticketID, now, now, now])
            }
            try db.execute(sql: "UPDATE integration_events SET routed_at = ? WHERE id = ?", arguments: [now, eventID])
        }
    }

    public func claimDelivery(backends: [String], now: Date, lease: TimeInterval) async throws -> ClaimedDelivery? {
        guard !backends.isEmpty else { return nil }
        return try await write { db in
            // One writer at a time (SQLite): the select and the update below cannot interleave
            // with another claim, in this process or another sharing the file.
            let placeholders = Array(repeating: "?", count: backends.count).joined(separator: ", ")
            var args: StatementArguments = StatementArguments(backends)
            args += [now, now]
            guard let id = try Int64.fetchOne(db, sql: """
                SELECT d.id FROM integration_deliveries d
                WHERE d.backend IN (\(placeholders))
                  AND ((d.status = 'pending' AND d.next_attempt_at <= ?) OR (d.status = 'delivering' AND d.claimed_until <= ?))
                  AND NOT EXISTS (SELECT 1 FROM integration_deliveries p
                                  WHERE p.backend = d.backend AND p.ticket_id = d.ticket_id AND p.id < d.id
                                    AND p.status IN ('pending', 'delivering'))
                ORDER BY d.id LIMIT 1
                """, arguments: args) else { return nil }
            let token = UUID().uuidString
            try db.execute(sql: """
                UPDATE integration_deliveries SET status = 'delivering', claim_token = ?, claimed_until = ?, updated_at = ? WHERE id = ?
                """, arguments: [token, now.addingTimeInterval(lease), now, id])
            guard let row = try Row.fetchOne(db, sql: Self.deliverySelect + " WHERE d.id = ?", arguments: [id]) else { return nil }
            return ClaimedDelivery(delivery: try Self.deliveryRecord(row), claimToken: token)
        }
    }

    public func completeDelivery(id: Int64, claimToken: String, outcome: DeliveryOutcome, now: Date) async throws -> Bool {
        try await write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT backend, ticket_id FROM integration_deliveries WHERE id = ? AND claim_token = ? AND status = 'delivering'",
                                             arguments: [id, claimToken]) else { return false }
            switch outcome {
            case .delivered(let link):
                try db.execute(sql: """
                    UPDATE integration_deliveries SET status = 'delivered', attempts = attempts + 1, claim_token = NULL, claimed_until = NULL,
                        last_error = NULL, delivered_at = ?, updated_at = ? WHERE id = ?
                    """, arguments: [now, now, id])
                if let link, let ticketID = row["ticket_id"] as Int64?,
                   let owner = try Int64.fetchOne(db, sql: "SELECT ticket_id FROM ticket_remote_links WHERE backend = ? AND remote_key = ?",
                                                  arguments: [link.backend, String(link.remoteKey.prefix(200))]), owner != ticketID {
                    // The remote answered with a key another ticket holds: keep that link, say so
                    // (failing here would leave the row claimed and send the event again).
                    try db.execute(sql: "UPDATE integration_deliveries SET last_error = ? WHERE id = ?",
                                   arguments: ["\(link.backend) answered with \(link.remoteKey.prefix(200)), which is already ticket #\(owner)'s; not linked", id])
                } else if let link, let ticketID = row["ticket_id"] as Int64? {
                    try db.execute(sql: """
                        INSERT INTO ticket_remote_links (ticket_id, backend, remote_key, remote_url, remote_status, created_at, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (ticket_id, backend) DO UPDATE SET remote_key = excluded.remote_key, remote_url = excluded.remote_url,
                            updated_at = excluded.updated_at
                        """, arguments: [ticketID, link.backend, String(link.remoteKey.prefix(200)), link.remoteURL.map { String($0.prefix(2000)) },
                                         link.remoteStatus, now, now])
                }
            case .skipped(let reason):
                try db.execute(sql: """
                    UPDATE integration_deliveries SET status = 'skipped', claim_token = NULL, claimed_until = NULL, last_error = ?, updated_at = ?
                    WHERE id = ?
                    """, arguments: [String(reason.prefix(2000)), now, id])
            case .failed(let error, let code, let retryAt):
                try db.execute(sql: """
                    UPDATE integration_deliveries SET status = ?, attempts = attempts + 1, claim_token = NULL, claimed_until = NULL,
                        last_error = ?, last_status_code = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?
                    """, arguments: [retryAt == nil ? "dead" : "pending", String(error.prefix(2000)), code, retryAt ?? now, now, id])
            }
            return true
        }
    }

    public func deliveries(status: IntegrationDeliveryStatus?, limit: Int, offset: Int) async throws -> [IntegrationDeliveryRecord] {
        try await read { db in
            if let status {
                return try Row.fetchAll(db, sql: Self.deliverySelect + " WHERE d.status = ? ORDER BY d.id DESC LIMIT ? OFFSET ?",
                                        arguments: [status.rawValue, limit, offset]).map(Self.deliveryRecord)
            }
            return try Row.fetchAll(db, sql: Self.deliverySelect + " ORDER BY d.id DESC LIMIT ? OFFSET ?",
                                    arguments: [limit, offset]).map(Self.deliveryRecord)
        }
    }

    public func delivery(id: Int64) async throws -> IntegrationDeliveryRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: Self.deliverySelect + " WHERE d.id = ?", arguments: [id]).map(Self.deliveryRecord)
        }
    }

    public func retryDelivery(id: Int64, now: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: """
                UPDATE integration_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
                WHERE id = ? AND status IN ('dead', 'skipped', 'pending')
                """, arguments: [now, now, id])
            return db.changesCount == 1
        }
    }

    public func pruneIntegrationHistory(before: Date) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM integration_deliveries WHERE status IN ('delivered', 'skipped', 'dead') AND updated_at < ?",
                           arguments: [before])
            let deliveries = db.changesCount
            try db.execute(sql: """
                DELETE FROM integration_events WHERE routed_at IS NOT NULL AND created_at < ?
                  AND NOT EXISTS (SELECT 1 FROM integration_deliveries d WHERE d.event_id = integration_events.id)
                """, arguments: [before])
            return deliveries + db.changesCount
        }
    }

    public func remoteLinks(ticketID: Int64) async throws -> [TicketRemoteLink] {
        try await read { db in try Self.remoteLinks(db, ticketID: ticketID) }
    }

    static func remoteLinks(_ db: Database, ticketID: Int64) throws -> [TicketRemoteLink] {
        try Row.fetchAll(db, sql: "SELECT * FROM ticket_remote_links WHERE ticket_id = ? ORDER BY backend", arguments: [ticketID]).map {
            TicketRemoteLink(backend: $0["backend"], remoteKey: $0["remote_key"], remoteURL: $0["remote_url"], remoteStatus: $0["remote_status"],
                             createdAt: $0["created_at"], updatedAt: $0["updated_at"])
        }
    }

    public func applyRemoteStatus(backend: String, remoteKey: String, remoteStatus: String, status: TicketStatus,
                                  signature: String, seenSince: Date, now: Date) async throws -> InboundStatusOutcome {
        try await write { db in
            try db.execute(sql: "DELETE FROM integration_inbound_seen WHERE seen_at < ?", arguments: [seenSince])
            try db.execute(sql: "INSERT OR IGNORE INTO integration_inbound_seen (signature, seen_at) VALUES (?, ?)", arguments: [signature, now])
            guard db.changesCount == 1 else { return .replayed }
            guard let ticketID = try Int64.fetchOne(db, sql: "SELECT ticket_id FROM ticket_remote_links WHERE backend = ? AND remote_key = ?",
                                                    arguments: [backend, remoteKey]) else { return .unknownRemoteKey }
            let clipped = String(remoteStatus.prefix(200))
            try db.execute(sql: "UPDATE ticket_remote_links SET remote_status = ?, updated_at = ? WHERE ticket_id = ? AND backend = ?",
                           arguments: [clipped, now, ticketID, backend])
            let current = try String.fetchOne(db, sql: "SELECT status FROM tickets WHERE id = ?", arguments: [ticketID])
            guard current != status.rawValue else { return .applied(ticketID: ticketID, status: status) }
            try Self.setStatus(db, ticketID: ticketID, status, now: now)
            try db.execute(sql: "INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at) VALUES (?, 'helpline', ?, 0, ?)",
                           arguments: [ticketID, "\(backend) reported \(remoteKey) as “\(clipped)”: status set to \(status.rawValue).", now])
            try Self.recordEvent(db, status == .resolved || status == .closed ? .ticketResolved : .ticketUpdated, ticketID: ticketID,
                                 origin: backend, detail: "status: \(status.rawValue) (from \(backend))", now: now)
            return .applied(ticketID: ticketID, status: status)
        }
    }
}
