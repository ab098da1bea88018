import Foundation
import PostgresNIO
import Shared

// STUB: replaced by the PostgreSQL implementation of this group (see PostgresStore.swift).
extension PostgresStore {
    public func storeJournalIndex(bundleID: String, entries: [JournalEntry], now: Date) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func journalPage(bundleID: String, filter: BundleArchive.JournalFilter, offset: Int, limit: Int) async throws -> BundleArchive.JournalPage? {
        throw Self.notBuilt(#function)
    }

    public func journalContext(bundleID: String, locator: String, before: Int, after: Int) async throws -> BundleArchive.JournalContext? {
        throw Self.notBuilt(#function)
    }

    public func purgeJournalIndexes() async throws -> Int {
        throw Self.notBuilt(#function)
    }

    public func unroutedEvents(limit: Int) async throws -> [IntegrationEventRecord] {
        throw Self.notBuilt(#function)
    }

    public func routingFacts(ticketID: Int64) async throws -> TicketRoutingFacts? {
        throw Self.notBuilt(#function)
    }

    public func route(eventID: Int64, to backends: [String], now: Date) async throws {
        throw Self.notBuilt(#function)
    }

    public func claimDelivery(backends: [String], now: Date, lease: TimeInterval) async throws -> ClaimedDelivery? {
        throw Self.notBuilt(#function)
    }

    public func completeDelivery(id: Int64, claimToken: String, outcome: DeliveryOutcome, now: Date) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func deliveries(status: IntegrationDeliveryStatus?, limit: Int, offset: Int) async throws -> [IntegrationDeliveryRecord] {
        throw Self.notBuilt(#function)
    }

    public func delivery(id: Int64) async throws -> IntegrationDeliveryRecord? {
        throw Self.notBuilt(#function)
    }

    public func retryDelivery(id: Int64, now: Date) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func pruneIntegrationHistory(before: Date) async throws -> Int {
        throw Self.notBuilt(#function)
    }

    public func remoteLinks(ticketID: Int64) async throws -> [TicketRemoteLink] {
        throw Self.notBuilt(#function)
    }

    public func applyRemoteStatus(backend: String, remoteKey: String, remoteStatus: String, status: TicketStatus,
                           signature: String, seenSince: Date, now: Date) async throws -> InboundStatusOutcome {
        throw Self.notBuilt(#function)
    }
}
