import Foundation

// Bodies of the collector's JSON API that the agent also speaks (docs/openapi.yaml).

/// `POST /api/v1/enroll` body.
public struct EnrollRequest: Codable, Sendable, Equatable {
    /// An enrollment secret from `admin secret create` (or the collector's first start).
    public var secret: String
    public var hostname: String
    /// `/etc/machine-id`: re-enrolling the same machine keeps its host id.
    public var machineID: String
    public var agentVersion: String?
    /// The host token this machine holds now, if any: re-enrolling a machine the collector
    /// knows must prove possession of it (otherwise an admin approves the re-enrollment).
    public var currentHostToken: String?
    /// A random key this agent keeps in its state folder (`hlk_…`, 16 to 128 bytes). When a
    /// known machine re-enrolls without its current token, the collector parks the request
    /// under this key's hash; after an admin approves it, enrolling again with the same key
    /// gets the new token. Sent on every enrollment.
    public var enrollmentKey: String?

    public init(secret: String, hostname: String, machineID: String, agentVersion: String? = nil,
                currentHostToken: String? = nil, enrollmentKey: String? = nil) {
        self.secret = secret; self.hostname = hostname; self.machineID = machineID; self.agentVersion = agentVersion
        self.currentHostToken = currentHostToken; self.enrollmentKey = enrollmentKey
    }
}

/// `POST /api/v1/enroll` answer.
public struct EnrollResponse: Codable, Sendable, Equatable {
    public var hostID: String
    /// Shown once; the collector keeps only its hash. A re-enrollment replaces it.
    public var hostToken: String
    public var hostname: String
    public var enrolledAt: Date
    /// True when this machine was enrolled before (same host id, new token).
    public var reenrolled: Bool

    public init(hostID: String, hostToken: String, hostname: String, enrolledAt: Date, reenrolled: Bool) {
        self.hostID = hostID; self.hostToken = hostToken; self.hostname = hostname; self.enrolledAt = enrolledAt; self.reenrolled = reenrolled
    }
}

/// `POST /api/v1/heartbeats` answer.
public struct HeartbeatAck: Codable, Sendable, Equatable {
    public var hostID: String
    public var receivedAt: Date

    public init(hostID: String, receivedAt: Date) { self.hostID = hostID; self.receivedAt = receivedAt }
}

/// Where a ticket stands.
public enum TicketStatus: String, Sendable, Codable, CaseIterable {
    case open
    case inProgress = "in_progress"
    case waitingOnUser = "waiting_on_user"
    case resolved
    case closed

    /// Open, in progress or waiting: a bundle may still join it.
    public var isActive: Bool { self != .resolved && self != .closed }

    /// In plain words for the user.
    public var words: String {
        switch self {
        case .open: "open"
        case .inProgress: "being worked on"
        case .waitingOnUser: "waiting for you"
        case .resolved: "resolved"
        case .closed: "closed"
        }
    }
}

/// A comment on a ticket.
public struct TicketComment: Sendable, Codable, Equatable {
    public var id: Int64
    public var author: String
    public var body: String
    /// Shown to the user (a reply) or internal.
    public var visibleToUser: Bool
    public var createdAt: Date

    public init(id: Int64, author: String, body: String, visibleToUser: Bool, createdAt: Date) {
        self.id = id; self.author = author; self.body = body; self.visibleToUser = visibleToUser; self.createdAt = createdAt
    }
}

/// A ticket as its host's user sees it (`GET /api/v1/hosts/self/tickets`).
public struct HostTicket: Sendable, Codable, Equatable {
    public var id: Int64
    public var status: TicketStatus
    public var title: String
    /// The technician working on it, if any.
    public var assignee: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// Comments visible to the user, oldest first.
    public var replies: [TicketComment]
    /// The local user whose request opened it (nil: root or unknown).
    public var requestedBy: String?

    public init(id: Int64, status: TicketStatus, title: String, assignee: String? = nil, createdAt: Date, updatedAt: Date, replies: [TicketComment],
                requestedBy: String? = nil) {
        self.id = id; self.status = status; self.title = title; self.assignee = assignee
        self.createdAt = createdAt; self.updatedAt = updatedAt; self.replies = replies; self.requestedBy = requestedBy
    }
}

/// `GET /api/v1/hosts/self/tickets` answer.
public struct HostTicketList: Codable, Sendable, Equatable {
    public var tickets: [HostTicket]
    public init(tickets: [HostTicket]) { self.tickets = tickets }
}

/// Every API error body: `{"error":{"code","message"}}`.
public struct APIErrorBody: Codable, Sendable, Equatable {
    /// The error.
    public struct Detail: Codable, Sendable, Equatable {
        /// Stable reason (`invalid_token`, a `BundleError` code…).
        public var code: String
        /// What was wrong and what to do.
        public var message: String
        public init(code: String, message: String) { self.code = code; self.message = message }
    }
    public var error: Detail
    public init(code: String, message: String) { error = Detail(code: code, message: message) }
}

/// A technician's request for a fresh bundle from one host, as the agent sees it
/// (`GET /api/v1/hosts/self/bundle-requests`).
public struct PendingBundleRequest: Sendable, Codable, Equatable {
    /// The request's id, sent back in the bundle's manifest (`bundleRequestID`).
    public var id: Int64
    /// The ticket the bundle will join, when the request came from one.
    public var ticketID: Int64?
    /// Who asked.
    public var requestedBy: String
    /// Why, in the technician's words (may be empty).
    public var note: String?
    public var requestedAt: Date
    public var expiresAt: Date

    public init(id: Int64, ticketID: Int64?, requestedBy: String, note: String?, requestedAt: Date, expiresAt: Date) {
        self.id = id; self.ticketID = ticketID; self.requestedBy = requestedBy; self.note = note
        self.requestedAt = requestedAt; self.expiresAt = expiresAt
    }
}

/// `GET /api/v1/hosts/self/bundle-requests`: what the help desk is waiting for from this host.
public struct PendingBundleRequestList: Sendable, Codable, Equatable {
    public var requests: [PendingBundleRequest]
    public init(requests: [PendingBundleRequest]) { self.requests = requests }
}
