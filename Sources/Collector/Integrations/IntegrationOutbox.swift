import Foundation
import Shared

/// What happened to a ticket or incident that backends hear about.
public enum IntegrationEventKind: String, Sendable, Codable, CaseIterable {
    /// A new ticket (a bundle, a split, a fleet policy).
    case ticketOpened = "ticket.opened"
    /// Status, priority or assignee changed, or a reply the user can see was added.
    case ticketUpdated = "ticket.updated"
    /// A repeat bundle joined the ticket.
    case ticketJoined = "ticket.joined"
    /// The ticket was resolved or closed.
    case ticketResolved = "ticket.resolved"
    /// The same rule fired on enough hosts to open an incident.
    case incidentOpened = "incident.opened"
}

/// One outbox row: written in the transaction of the change it reports.
public struct IntegrationEventRecord: Sendable, Equatable, Codable {
    /// Row id (delivery order).
    public var id: Int64
    /// Stable id sent to backends as the idempotency key.
    public var uuid: String
    /// What happened.
    public var kind: IntegrationEventKind
    /// The ticket, for ticket events.
    public var ticketID: Int64?
    /// The incident, for incident events.
    public var incidentID: Int64?
    /// The comment a `ticket.updated` carries, if any.
    public var commentID: Int64?
    /// The bundle that opened or joined the ticket.
    public var bundleID: String?
    /// Backend whose inbound webhook caused the change (it is not told of its own change).
    public var origin: String?
    /// What changed, in words.
    public var detail: String?
    /// When.
    public var createdAt: Date
}

/// Where a delivery is.
public enum IntegrationDeliveryStatus: String, Sendable, Codable, CaseIterable {
    /// Waiting for its next attempt.
    case pending
    /// Claimed by a worker now.
    case delivering
    /// The backend accepted it.
    case delivered
    /// Nothing to send (e.g. an update for a ticket that has no remote issue there).
    case skipped
    /// Gave up after `integration_max_attempts`, or the remote refused it for good; an admin can retry.
    case dead
}

/// One event on its way to one backend, as the admin API lists it.
public struct IntegrationDeliveryRecord: Sendable, Equatable, Codable {
    /// Row id.
    public var id: Int64
    /// Backend name.
    public var backend: String
    /// The event.
    public var event: IntegrationEventRecord
    /// Where it is.
    public var status: IntegrationDeliveryStatus
    /// Attempts made.
    public var attempts: Int
    /// When the next attempt is due (pending).
    public var nextAttemptAt: Date
    /// Why the last attempt failed.
    public var lastError: String?
    /// HTTP status of the last answer.
    public var lastStatusCode: Int?
    /// When the backend accepted it.
    public var deliveredAt: Date?
    /// Row times.
    public var createdAt: Date
    /// Last change.
    public var updatedAt: Date
}

/// A delivery a worker claimed: only the holder of `claimToken` may complete it.
public struct ClaimedDelivery: Sendable, Equatable {
    /// The delivery as claimed (status `delivering`, attempts not yet counted).
    public var delivery: IntegrationDeliveryRecord
    /// Proof of the claim.
    public var claimToken: String
}

/// A ticket's issue in a remote tracker.
public struct TicketRemoteLink: Sendable, Equatable, Codable {
    /// Backend name.
    public var backend: String
    /// `OPS-12`, a Zendesk ticket id, a GitHub issue number.
    public var remoteKey: String
    /// Where a person opens it.
    public var remoteURL: String?
    /// The remote's last status the inbound webhook reported.
    public var remoteStatus: String?
    /// When the link was made.
    public var createdAt: Date
    /// Last change.
    public var updatedAt: Date
}

/// How one attempt ended.
public enum DeliveryOutcome: Sendable, Equatable {
    /// Accepted; a created remote issue is linked to the ticket in the same transaction.
    case delivered(link: TicketRemoteLink?)
    /// Nothing to send.
    case skipped(reason: String)
    /// Failed; retried at `retryAt`, or dead-lettered when nil.
    case failed(error: String, statusCode: Int?, retryAt: Date?)
}

/// What a signed inbound status change did.
public enum InboundStatusOutcome: Sendable, Equatable {
    /// The ticket took the status (or already had it).
    case applied(ticketID: Int64, status: TicketStatus)
    /// No ticket is linked to that remote key on that backend.
    case unknownRemoteKey
    /// This signature was already used within the replay window.
    case replayed
}

/// The outbox and delivery bookkeeping, behind its own small interface (`SQLiteStore`
/// implements it; the events themselves are written by the store's ticket transactions).
public protocol IntegrationOutbox: Sendable {
    /// Events not yet fanned out to deliveries, oldest first.
    func unroutedEvents(limit: Int) async throws -> [IntegrationEventRecord]
    /// Facts a filter needs about a ticket: top finding's category, worst severity,
    /// hostname, and which backends already hold a remote issue for it.
    func routingFacts(ticketID: Int64) async throws -> TicketRoutingFacts?
    /// Creates one pending delivery per backend (none twice) and marks the event routed, in one transaction.
    func route(eventID: Int64, to backends: [String], now: Date) async throws
    /// Claims the oldest due delivery of one of `backends`, atomically, for `lease`: a
    /// delivery is due when pending and past its time (or delivering with an expired lease),
    /// and no earlier delivery of the same ticket to the same backend is still unfinished.
    func claimDelivery(backends: [String], now: Date, lease: TimeInterval) async throws -> ClaimedDelivery?
    /// Records how an attempt ended; false when the claim was lost meanwhile (changes nothing).
    func completeDelivery(id: Int64, claimToken: String, outcome: DeliveryOutcome, now: Date) async throws -> Bool
    /// Deliveries, newest first, optionally of one status.
    func deliveries(status: IntegrationDeliveryStatus?, limit: Int, offset: Int) async throws -> [IntegrationDeliveryRecord]
    /// One delivery.
    func delivery(id: Int64) async throws -> IntegrationDeliveryRecord?
    /// Puts a dead, skipped or pending delivery back in line now, with its attempts reset.
    /// False when there is no such delivery or it is delivered or being delivered.
    func retryDelivery(id: Int64, now: Date) async throws -> Bool
    /// Removes finished deliveries (delivered, skipped, dead) last changed before `before`,
    /// and routed events older than that with no delivery left. Answers how many rows went.
    func pruneIntegrationHistory(before: Date) async throws -> Int
    /// A ticket's remote issues.
    func remoteLinks(ticketID: Int64) async throws -> [TicketRemoteLink]
    /// Applies a remote status change a signed inbound webhook reported, in one
    /// transaction with the replay check: `signature` seen since `seenSince` answers `.replayed`.
    func applyRemoteStatus(backend: String, remoteKey: String, remoteStatus: String, status: TicketStatus,
                           signature: String, seenSince: Date, now: Date) async throws -> InboundStatusOutcome
}

/// What routing needs to know about a ticket.
public struct TicketRoutingFacts: Sendable, Equatable {
    /// Category of the top finding.
    public var topCategory: FindingCategory?
    /// Worst severity among its findings.
    public var worstSeverity: Severity?
    /// Its host's name.
    public var hostname: String
    /// Backends that already hold a remote issue for it.
    public var linkedBackends: Set<String>
}
