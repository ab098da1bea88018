import Foundation
import Shared

// Values the web UI reads and writes through the store. Not part of the JSON API.

/// The user behind a web session, and whether they must change their password first.
public struct WebSessionUser: Sendable, Equatable {
    /// The user.
    public var user: UserRecord
    /// Set for the first-start admin and after an admin reset the password.
    public var mustChangePassword: Bool

    /// Creates the value.
    public init(user: UserRecord, mustChangePassword: Bool) {
        self.user = user
        self.mustChangePassword = mustChangePassword
    }
}

/// One line of the audit log: who did what to which thing.
public struct AuditEntry: Sendable, Codable, Equatable {
    /// Row id, increasing.
    public var id: Int64
    /// When.
    public var at: Date
    /// The user or API token name (or the name tried, for failed sign-ins).
    public var actor: String
    /// What (`sign_in`, `bundle_viewed`, `bundle_downloaded`, `ticket_updated`…).
    public var action: String
    /// On what (`bundle 1f0…`, `ticket 12`).
    public var target: String
    /// More, such as the client address or the changed fields.
    public var detail: String

    /// Creates an entry.
    public init(id: Int64 = 0, at: Date, actor: String, action: String, target: String, detail: String = "") {
        self.id = id; self.at = at; self.actor = actor; self.action = action; self.target = target; self.detail = detail
    }
}

/// How the ticket queue is ordered.
public enum TicketSort: String, Sendable, CaseIterable {
    /// Most urgent first, then most recently updated.
    case priority
    /// Most recently updated first.
    case updated
    /// Newest first.
    case created
    /// Oldest first (the longest waiting).
    case oldest
    /// By host name.
    case host
}

/// The ticket queue's filters, sort and page.
public struct TicketQuery: Sendable, Equatable {
    /// Statuses to show; empty shows every status.
    public var statuses: [TicketStatus] = [.open, .inProgress, .waitingOnUser]
    /// Only this priority.
    public var priority: TicketPriority?
    /// Only tickets whose top finding has this category.
    public var category: FindingCategory?
    /// Host name contains this (case-insensitive for ASCII).
    public var host: String?
    /// Only this assignee; the empty string means unassigned.
    public var assignee: String?
    /// Title or the user's note contains this (case-insensitive for ASCII).
    public var text: String?
    /// Order.
    public var sort: TicketSort = .priority
    /// Page size.
    public var limit = 50
    /// Rows skipped.
    public var offset = 0

    /// The default queue: tickets not yet resolved, most urgent first.
    public init() {}
}

/// A ticket as the queue lists it.
public struct QueueRow: Sendable, Equatable {
    /// The ticket.
    public var ticket: TicketSummary
    /// Its top finding's category, when it has findings.
    public var category: FindingCategory?
    /// The open incident it belongs to, if any.
    public var incidentID: Int64?
}

/// One page of the queue and how many tickets match in all.
public struct TicketQueuePage: Sendable, Equatable {
    /// Every ticket matching the filters.
    public var total: Int
    /// This page.
    public var rows: [QueueRow]
}

/// A fleet query someone saved, for themselves or for everyone.
public struct SavedQuery: Sendable, Codable, Equatable {
    public var id: Int64
    public var name: String
    public var sql: String
    /// Who saved it.
    public var owner: String
    /// Everyone sees it (otherwise only its owner).
    public var shared: Bool
    public var createdAt: Date
    /// Set when it is a policy: it runs every this many minutes.
    public var policyIntervalMinutes: Int?
    /// What the tickets it opens say to do.
    public var policyAdvice: String?
    /// The priority of the tickets it opens.
    public var policyPriority: TicketPriority?
    public var policyLastRunAt: Date?
    /// The last run in words (`3 hosts match, 1 new ticket`, or the error).
    public var policyLastResult: String?
}

/// A policy's settings when saving a query.
public struct PolicySettings: Sendable, Equatable {
    public var intervalMinutes: Int
    public var advice: String
    public var priority: TicketPriority

    public init(intervalMinutes: Int, advice: String, priority: TicketPriority) {
        self.intervalMinutes = intervalMinutes; self.advice = advice; self.priority = priority
    }
}

/// A technician's request for a fresh bundle, with what became of it.
public struct BundleRequestRecord: Sendable, Codable, Equatable {
    public var id: Int64
    public var hostID: String
    public var ticketID: Int64?
    public var requestedBy: String
    public var note: String?
    public var createdAt: Date
    public var expiresAt: Date
    /// When the bundle arrived, and which.
    public var deliveredAt: Date?
    public var bundleID: String?

    /// `pending`, `delivered` or `expired` at `now`.
    public func state(at now: Date) -> String {
        deliveredAt != nil ? "delivered" : expiresAt <= now ? "expired" : "pending"
    }
}
