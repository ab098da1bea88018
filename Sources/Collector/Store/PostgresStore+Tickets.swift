import Foundation
import PostgresNIO
import Shared

// STUB: replaced by the PostgreSQL implementation of this group (see PostgresStore.swift).
extension PostgresStore {
    public func bundleReceipt(bundleID: String) async throws -> (hostID: String, receipt: BundleReceipt)? {
        throw Self.notBuilt(#function)
    }

    public func commitBundle(_ bundle: NewBundle, findings: [Finding], policy: any TicketPolicy) async throws -> BundleCommitResult {
        throw Self.notBuilt(#function)
    }

    public func hostUsage(hostID: String, since: Date) async throws -> HostUsage {
        throw Self.notBuilt(#function)
    }

    public func isBlobReferenced(sha256: String) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func liveBlobDigests() async throws -> Set<String> {
        throw Self.notBuilt(#function)
    }

    public func bundle(id: String) async throws -> BundleRecord? {
        throw Self.notBuilt(#function)
    }

    public func bundles(ticketID: Int64) async throws -> [BundleRecord] {
        throw Self.notBuilt(#function)
    }

    public func bundles(hostID: String, limit: Int, offset: Int) async throws -> [BundleRecord] {
        throw Self.notBuilt(#function)
    }

    public func tickets(_ filter: TicketFilter) async throws -> [TicketSummary] {
        throw Self.notBuilt(#function)
    }

    public func ticket(id: Int64) async throws -> TicketDetail? {
        throw Self.notBuilt(#function)
    }

    public func hostTickets(hostID: String, requestedBy: String?, limit: Int) async throws -> [HostTicket] {
        throw Self.notBuilt(#function)
    }

    public func addComment(ticketID: Int64, author: String, body: String, visibleToUser: Bool, now: Date) async throws -> TicketComment? {
        throw Self.notBuilt(#function)
    }

    public func updateTicket(id: Int64, status: TicketStatus?, priority: TicketPriority?, assignee: String?, now: Date) async throws -> TicketSummary? {
        throw Self.notBuilt(#function)
    }

    public func splitBundle(ticketID: Int64, bundleID: String, author: String, now: Date) async throws -> Int64? {
        throw Self.notBuilt(#function)
    }

    public func incidents(limit: Int) async throws -> [IncidentRecord] {
        throw Self.notBuilt(#function)
    }

    public func incident(id: Int64) async throws -> IncidentRecord? {
        throw Self.notBuilt(#function)
    }

    public func bundlesToExpire(receivedBefore: Date, keepPerHost: Int, limit: Int) async throws -> [BundleRecord] {
        throw Self.notBuilt(#function)
    }

    public func markExpired(bundleIDs: [String], reason: String, now: Date) async throws {
        throw Self.notBuilt(#function)
    }

    public func ticketQueue(_ query: TicketQuery) async throws -> TicketQueuePage {
        throw Self.notBuilt(#function)
    }

    public func joinReasons(ticketID: Int64) async throws -> [String: String] {
        throw Self.notBuilt(#function)
    }

    public func previousBundle(of bundleID: String) async throws -> BundleRecord? {
        throw Self.notBuilt(#function)
    }

    public func incidentsOf(ticketID: Int64) async throws -> [IncidentRecord] {
        throw Self.notBuilt(#function)
    }

    public func ruleFixes() async throws -> [String: RuleFix] {
        throw Self.notBuilt(#function)
    }

    public func setRuleFix(_ fix: RuleFix, audit: AuditEntry) async throws {
        throw Self.notBuilt(#function)
    }

    public func deleteRuleFix(ruleID: String, audit: AuditEntry) async throws -> Bool {
        throw Self.notBuilt(#function)
    }

    public func ruleStats() async throws -> [String: RuleStats] {
        throw Self.notBuilt(#function)
    }

    public func ruleEvents(ruleID: String, limit: Int) async throws -> [RuleEvent] {
        throw Self.notBuilt(#function)
    }

    public func reclassifyTicket(id: Int64, category: FindingCategory, by actor: String, now: Date) async throws -> TicketSummary? {
        throw Self.notBuilt(#function)
    }
}
