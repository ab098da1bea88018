import Foundation
import PostgresNIO
import Shared

// STUB: replaced by the PostgreSQL implementation of this group (see PostgresStore.swift).
extension PostgresStore {
    public func recordHeartbeats(_ heartbeats: [HeartbeatRow]) async throws {
        throw Self.notBuilt(#function)
    }

    public func latestHeartbeat(hostID: String) async throws -> StoredHeartbeat? {
        throw Self.notBuilt(#function)
    }

    public func pruneHealthHistory(hourlyBefore: Date, deleteBefore: Date) async throws -> Int {
        throw Self.notBuilt(#function)
    }

    public func healthHistory(hostID: String, limit: Int) async throws -> [HealthPoint] {
        throw Self.notBuilt(#function)
    }

    public func saveQuery(name: String, sql: String, owner: String, shared: Bool, policy: PolicySettings?, now: Date) async throws -> SavedQuery {
        throw Self.notBuilt(#function)
    }

    public func duePolicies(now: Date) async throws -> [SavedQuery] {
        throw Self.notBuilt(#function)
    }

    public func recordPolicyRun(_ policy: SavedQuery, matches: [(hostID: String, detail: String)]?, summary: String, maxNewTickets: Int,
                         now: Date) async throws -> [Int64] {
        throw Self.notBuilt(#function)
    }

    public func savedQueries(visibleTo user: String) async throws -> [SavedQuery] {
        throw Self.notBuilt(#function)
    }

    public func deleteSavedQuery(id: Int64, by user: String, isAdmin: Bool) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func createBundleRequest(hostID: String, ticketID: Int64?, requestedBy: String, note: String?, now: Date,
                             expiresAt: Date, maxPending: Int) async throws -> BundleRequestRecord {
        throw Self.notBuilt(#function)
    }

    public func pendingBundleRequests(hostID: String, now: Date) async throws -> [BundleRequestRecord] {
        throw Self.notBuilt(#function)
    }

    public func bundleRequests(hostID: String?, ticketID: Int64?, limit: Int) async throws -> [BundleRequestRecord] {
        throw Self.notBuilt(#function)
    }

    public func recordInventory(hostID: String, _ inventory: Inventory, now: Date) async throws {
        throw Self.notBuilt(#function)
    }

    public func inventoryReceivedAt(hostID: String) async throws -> Date? {
        throw Self.notBuilt(#function)
    }
}
