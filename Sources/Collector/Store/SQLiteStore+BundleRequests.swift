import Foundation
import GRDB
import Shared

extension SQLiteStore {
    static func bundleRequest(_ row: Row) -> BundleRequestRecord {
        BundleRequestRecord(id: row["id"], hostID: row["host_id"], ticketID: row["ticket_id"], requestedBy: row["requested_by"],
                            note: row["note"], createdAt: row["created_at"], expiresAt: row["expires_at"],
                            deliveredAt: row["delivered_at"], bundleID: row["bundle_id"])
    }

    public func createBundleRequest(hostID: String, ticketID: Int64?, requestedBy: String, note: String?, now: Date,
                                    expiresAt: Date, maxPending: Int) async throws -> BundleRequestRecord {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM hosts WHERE id = ?)", arguments: [hostID]) == true else {
                throw StoreError(.notFound, "host \(hostID)")
            }
            if let ticketID {
                guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM tickets WHERE id = ? AND host_id = ?)",
                                        arguments: [ticketID, hostID]) == true else {
                    throw StoreError(.notFound, "ticket \(ticketID) of host \(hostID)")
                }
            }
            let waiting = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM bundle_requests WHERE host_id = ? AND delivered_at IS NULL AND expires_at > ?
                """, arguments: [hostID, now]) ?? 0
            guard waiting < maxPending else {
                throw StoreError(.conflict, "this host already has \(waiting) bundle requests waiting (max_pending_bundle_requests); it collects them at its next check-in")
            }
            try db.execute(sql: """
                INSERT INTO bundle_requests (host_id, ticket_id, requested_by, note, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [hostID, ticketID, requestedBy, note, now, expiresAt])
            return BundleRequestRecord(id: db.lastInsertedRowID, hostID: hostID, ticketID: ticketID, requestedBy: requestedBy, note: note,
                                       createdAt: now, expiresAt: expiresAt, deliveredAt: nil, bundleID: nil)
        }
    }

    public func pendingBundleRequests(hostID: String, now: Date) async throws -> [BundleRequestRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM bundle_requests WHERE host_id = ? AND delivered_at IS NULL AND expires_at > ? ORDER BY id LIMIT 100
                """, arguments: [hostID, now]).map(Self.bundleRequest)
        }
    }

    public func bundleRequests(hostID: String?, ticketID: Int64?, limit: Int) async throws -> [BundleRequestRecord] {
        try await read { db in
            if let ticketID {
                return try Row.fetchAll(db, sql: "SELECT * FROM bundle_requests WHERE ticket_id = ? ORDER BY id DESC LIMIT ?",
                                        arguments: [ticketID, limit]).map(Self.bundleRequest)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM bundle_requests WHERE host_id = ? ORDER BY id DESC LIMIT ?",
                                    arguments: [hostID ?? "", limit]).map(Self.bundleRequest)
        }
    }

    /// Inside the commit of a bundle: the pending request it answers (same host, not
    /// delivered, not expired), marked delivered. Nil when it answers none.
    static func claimBundleRequest(_ db: Database, _ bundle: NewBundle) throws -> BundleRequestRecord? {
        guard bundle.manifest.reason == .technicianRequest, let id = bundle.manifest.bundleRequestID else { return nil }
        guard let row = try Row.fetchOne(db, sql: """
            SELECT * FROM bundle_requests WHERE id = ? AND host_id = ? AND delivered_at IS NULL AND expires_at > ?
            """, arguments: [id, bundle.hostID, bundle.receivedAt]) else { return nil }
        try db.execute(sql: "UPDATE bundle_requests SET delivered_at = ?, bundle_id = ? WHERE id = ?",
                       arguments: [bundle.receivedAt, bundle.bundleID, id])
        return bundleRequest(row)
    }
}
