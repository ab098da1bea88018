import ArgumentParser
import Foundation
import Shared

// Values the store reads and writes. They double as API bodies where the shape fits, so
// their JSON is part of docs/openapi.yaml: change both together.

/// A technician's or admin's role.
public enum UserRole: String, Sendable, Codable, CaseIterable, ExpressibleByArgument {
    /// Reads tickets and bundles, replies, changes ticket status.
    case technician
    /// Everything a technician does, plus administration.
    case admin
}

/// How soon a ticket needs attention.
public enum TicketPriority: String, Sendable, Codable, CaseIterable {
    case low, normal, high, urgent
}

/// An enrolled workstation.
public struct HostRecord: Sendable, Codable, Equatable {
    /// Assigned at enrollment (a UUID string); agents put it in manifests and heartbeats.
    public var id: String
    /// `/etc/machine-id`, unique per host.
    public var machineID: String
    public var hostname: String
    public var agentVersion: String?
    public var enrolledAt: Date
    /// Last bundle or heartbeat.
    public var lastSeenAt: Date?
    /// Set when an admin revoked the host: its token is refused and re-enrolling needs approval.
    public var revokedAt: Date?
    /// A re-enrollment of this machine waiting for (or given) an admin's approval.
    public var pendingEnrollment: PendingEnrollment?
}

/// A known machine asking to enroll again without proving it holds its current token: parked
/// until an admin approves it (`admin host approve`), then granted to the same enrollment key.
public struct PendingEnrollment: Sendable, Codable, Equatable {
    /// Hostname the request gave.
    public var hostname: String
    public var agentVersion: String?
    /// First 12 hex digits of the SHA-256 of the request's enrollment key, so an admin can
    /// compare it with what the user's `helpline enroll` printed.
    public var keyFingerprint: String
    public var requestedAt: Date
    /// Set by an admin; the next enrollment with the same key then gets a token.
    public var approvedAt: Date?
    public var approvedBy: String?
}

/// What an enrollment request asks, once checked and hashed.
public struct EnrollmentRequest: Sendable {
    /// Host id to use when the machine is new.
    public var newHostID: String
    public var machineID: String
    public var hostname: String
    public var agentVersion: String?
    /// Hash of the token to issue.
    public var newTokenHash: String
    /// The enrollment secret used (already checked usable).
    public var secretID: Int64
    /// Hash of the token the caller says it holds now, if any.
    public var currentTokenHash: String?
    /// Hash of the caller's enrollment key, if any.
    public var keyHash: String?

    /// Collects the fields.
    public init(newHostID: String, machineID: String, hostname: String, agentVersion: String?, newTokenHash: String,
                secretID: Int64, currentTokenHash: String?, keyHash: String?) {
        self.newHostID = newHostID; self.machineID = machineID; self.hostname = hostname; self.agentVersion = agentVersion
        self.newTokenHash = newTokenHash; self.secretID = secretID; self.currentTokenHash = currentTokenHash; self.keyHash = keyHash
    }
}

/// How an enrollment ended.
public enum EnrollmentOutcome: Sendable, Equatable {
    /// A new machine: a new host with the new token.
    case created(HostRecord)
    /// A known machine that proved it holds its token, or whose re-enrollment an admin approved: new token.
    case reenrolled(HostRecord)
    /// A known machine that could not prove it: parked for approval (`approvable` false when
    /// the request carried no enrollment key, so no approval can ever be granted to it).
    case pendingApproval(HostRecord, approvable: Bool)
    /// The secret reached its use limit (checked in the same transaction that would use it).
    case secretUsedUp
}

/// An enrollment secret, without its hash.
public struct EnrollmentSecretRecord: Sendable, Codable, Equatable {
    public var id: Int64
    public var label: String?
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    /// Enrollments made with it.
    public var useCount: Int
    public var lastUsedAt: Date?
    /// Enrollments it allows in all (nil: unlimited).
    public var maxUses: Int?

    /// Neither revoked, expired at `now`, nor used up.
    public func isUsable(at now: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > now } ?? true) && (maxUses.map { useCount < $0 } ?? true)
    }
}

/// A technician or admin account, without its password hash.
public struct UserRecord: Sendable, Codable, Equatable {
    public var name: String
    public var role: UserRole
    public var createdAt: Date
}

/// An API token for scripts, without its hash.
public struct APITokenRecord: Sendable, Codable, Equatable {
    public var id: Int64
    public var name: String
    public var role: UserRole
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?

    /// Neither revoked nor expired at `now`.
    public func isUsable(at now: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > now } ?? true)
    }
}

/// A validated bundle about to be recorded: its blob is already in place.
public struct NewBundle: Sendable {
    public var bundleID: String
    public var hostID: String
    public var hostname: String
    /// Hex SHA-256 of the compressed bytes, the blob's name.
    public var sha256: String
    public var compressedBytes: Int
    public var uncompressedBytes: Int
    public var journalEntries: Int
    public var receivedAt: Date
    public var manifest: Manifest
    public var members: [BundleContents.Member]

    /// The local user who asked (`manifest.requestedBy`), when it is a plausible login name
    /// (1–64 printable code points, as the column's CHECK counts them: a name of combining
    /// marks counted in characters failed the ticket's insert, and the upload with it); anything
    /// else counts as unknown.
    public var requestedBy: String? {
        guard let name = manifest.requestedBy?.trimmingCharacters(in: .whitespaces), (1...64).contains(name.unicodeScalars.count),
              name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && $0.properties.generalCategory != .control }) else { return nil }
        return name
    }

    /// Creates the value from what the reader found.
    public init(hostID: String, hostname: String, sha256: String, receivedAt: Date, contents: BundleContents) {
        bundleID = contents.manifest.bundleID.lowercased()
        self.hostID = hostID
        self.hostname = hostname
        self.sha256 = sha256
        compressedBytes = contents.compressedBytes
        uncompressedBytes = contents.uncompressedBytes
        journalEntries = contents.journalEntries
        self.receivedAt = receivedAt
        manifest = contents.manifest
        members = contents.members
    }
}

/// What `commitBundle` did.
public enum BundleCommitResult: Sendable {
    /// Recorded now.
    case stored(BundleReceipt)
    /// The bundle id was already stored by `hostID`; `receipt` is the first answer.
    case duplicate(hostID: String, receipt: BundleReceipt)
}

/// A ticket for a new bundle: open one, or join an existing one.
public enum TicketDecision: Sendable, Equatable {
    /// Open a new ticket.
    case open(NewTicket)
    /// Attach the bundle (and its findings) to this open ticket; `reason` says why, for the
    /// technician (kept as an internal comment).
    case join(ticketID: Int64, reason: String)
}

/// The fields of a ticket about to be opened.
public struct NewTicket: Sendable, Equatable {
    public var title: String
    public var priority: TicketPriority
    /// The user's note, as sent.
    public var note: String?
    /// The worst finding's rule.
    public var topRuleID: String?

    /// Creates the fields.
    public init(title: String, priority: TicketPriority, note: String?, topRuleID: String?) {
        self.title = title; self.priority = priority; self.note = note; self.topRuleID = topRuleID
    }
}

/// A stored bundle's metadata.
public struct BundleRecord: Sendable, Codable, Equatable {
    public var bundleID: String
    public var hostID: String
    public var sha256: String
    public var compressedBytes: Int
    public var uncompressedBytes: Int
    public var journalEntries: Int
    public var reason: String
    /// When the agent made it.
    public var createdAt: Date
    public var receivedAt: Date
    /// True once retention removed the blob; metadata and findings stay.
    public var expired: Bool
    public var expiredAt: Date?
    /// Tickets it belongs to.
    public var ticketIDs: [Int64]
    public var members: [BundleContents.Member]
    public var manifest: Manifest
}

/// A ticket in lists.
public struct TicketSummary: Sendable, Codable, Equatable {
    public var id: Int64
    public var hostID: String
    public var hostname: String
    public var status: TicketStatus
    public var priority: TicketPriority
    public var title: String
    public var assignee: String?
    public var topRuleID: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var firstResponseAt: Date?
    public var resolvedAt: Date?
    public var bundleCount: Int
    /// The local user whose request opened the ticket (nil: root or unknown).
    public var requestedBy: String?
    /// The category a technician put the ticket in (reclassified); nil: as its top finding says.
    public var category: FindingCategory? = nil
}

/// A finding as stored on a ticket.
public struct TicketFinding: Sendable, Codable, Equatable {
    /// The bundle it was found in.
    public var bundleID: String
    /// As the rule found it; its technician advice is the rule's own.
    public var finding: Finding
    /// The rule's known fix when this finding was stored (a fix set later is not here).
    public var knownFix: RuleFix? = nil

    /// The finding as the agent's receipt carried it: the known fix appended to its
    /// technician advice.
    public var adviceFinding: Finding { knownFix.map { $0.applied(to: finding) } ?? finding }
}

/// A ticket with everything on it.
public struct TicketDetail: Sendable, Codable, Equatable {
    public var ticket: TicketSummary
    /// The user's note from the first bundle.
    public var note: String?
    /// Worst first.
    public var findings: [TicketFinding]
    /// Oldest first.
    public var comments: [TicketComment]
    /// Oldest first.
    public var bundles: [BundleRecord]
    /// Its issues in remote trackers (Jira, Zendesk, GitHub), by backend name.
    public var remoteLinks: [TicketRemoteLink] = []
}

/// What a ticket list asks for.
public struct TicketFilter: Sendable, Equatable {
    public var status: TicketStatus?
    public var hostID: String?
    public var limit: Int
    public var offset: Int

    /// Creates a filter.
    public init(status: TicketStatus? = nil, hostID: String? = nil, limit: Int = 50, offset: Int = 0) {
        self.status = status; self.hostID = hostID; self.limit = limit; self.offset = offset
    }
}

/// A heartbeat to record.
///
/// A class, not a struct: a row passes through the recorder's queue, its batch and the
/// store's list before it is written, and copying a `Heartbeat` (some forty strings and
/// arrays) retained and released each of them every time: a fifth of the SQLite writer
/// thread's samples were reference counting, most of it on these copies.
public final class HeartbeatRow: Sendable {
    public let hostID: String
    public let receivedAt: Date
    public let heartbeat: Heartbeat
    /// The JSON stored as the host's latest heartbeat: the heartbeat without its top
    /// processes (`"topProcesses":[]`), which are stored as rows of their own and put back
    /// when it is read; with them when the rows cannot hold them exactly (`rowsHold`). Nil:
    /// the store encodes `heartbeat` so.
    public let body: String?

    /// Creates the row.
    /// - Parameter body: the heartbeat's JSON, already known to decode as `heartbeat`, with an
    ///   empty `topProcesses` when `rowsHold` them (nil: encoded when stored).
    public init(hostID: String, receivedAt: Date, heartbeat: Heartbeat, body: String? = nil) {
        self.hostID = hostID; self.receivedAt = receivedAt; self.heartbeat = heartbeat; self.body = body
    }

    /// Creates the row from the JSON the agent sent, as `HeartbeatJSON.decodeLocatingProcesses`
    /// read it: the stored JSON is `sent` with its `topProcesses` array (at `processes`)
    /// emptied. Half the bytes of a realistic heartbeat are its processes: without them the
    /// latest JSON fits in one page of the database instead of spilling to a second.
    public convenience init(hostID: String, receivedAt: Date, heartbeat: Heartbeat, sent: UnsafeRawBufferPointer, processes: Range<Int>) {
        guard Self.rowsHold(heartbeat.topProcesses) else {
            self.init(hostID: hostID, receivedAt: receivedAt, heartbeat: heartbeat, body: String(decoding: sent, as: UTF8.self))
            return
        }
        let kept = sent.count - processes.count + 2
        let body = String(unsafeUninitializedCapacity: kept) { out in
            let head = UnsafeRawBufferPointer(rebasing: sent[..<processes.lowerBound])
            let tail = UnsafeRawBufferPointer(rebasing: sent[processes.upperBound...])
            UnsafeMutableRawBufferPointer(out).copyMemory(from: head)
            out[head.count] = 0x5B  // [
            out[head.count + 1] = 0x5D  // ]
            UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(out)[(head.count + 2)...]).copyMemory(from: tail)
            return kept
        }
        self.init(hostID: hostID, receivedAt: receivedAt, heartbeat: heartbeat, body: body)
    }

    /// The JSON to store as the latest heartbeat: `body` when the caller kept it, else
    /// `heartbeat` without its processes encoded with `encoder` (made only then).
    func storedJSON(_ encoder: @autoclosure () -> JSONEncoder) throws -> String {
        try body ?? Self.latestJSON(heartbeat, encoder())
    }

    /// `heartbeat` without its processes, encoded with `encoder`: the JSON stored as a
    /// host's latest heartbeat.
    static func latestJSON(_ heartbeat: Heartbeat, _ encoder: JSONEncoder) throws -> String {
        var beat = heartbeat
        if rowsHold(beat.topProcesses) { beat.topProcesses = [] }
        return String(decoding: try encoder.encode(beat), as: UTF8.self)
    }

    /// Whether the host's process rows give `processes` back exactly, so the stored JSON can
    /// leave them out: one row per pid, at most `SQLiteStore.fleetRowsPerHost`, no text the
    /// columns cut (`clipped`) or a NUL would end, sizes that fit the columns, times in whole
    /// seconds of the years 1900–9999. The agent's heartbeats qualify; any other keeps its
    /// processes in its JSON (the rows hold them as cut).
    static func rowsHold(_ processes: [ProcessRecord]) -> Bool {
        guard processes.count <= SQLiteStore.fleetRowsPerHost else { return false }
        func fits(_ text: String, _ most: Int) -> Bool {
            (text.utf8.count <= most || text.count <= most) && !text.utf8.contains(0)
        }
        var pids = Set<Int>(minimumCapacity: processes.count)
        for i in processes.indices {
            guard pids.insert(processes[i].pid).inserted, fits(processes[i].name, 64), processes[i].user.map({ fits($0, 64) }) ?? true,
                  fits(processes[i].state, 8), fits(processes[i].commandLine, Heartbeat.commandLineCharacters),
                  processes[i].rssBytes <= UInt64(Int64.max), processes[i].cpuPercent.isFinite,
                  processes[i].startTime.map({ Self.wholeSeconds.contains($0.timeIntervalSince1970) && $0.timeIntervalSince1970.rounded() == $0.timeIntervalSince1970 }) ?? true
            else { return false }
        }
        return true
    }

    /// 1900-01-01T00:00:00Z ... 9999-12-31T23:59:59Z: the times both stores give back exactly.
    private static let wholeSeconds: ClosedRange<TimeInterval> = -2_208_988_800 ... 253_402_300_799
}

/// A recorded heartbeat.
public struct StoredHeartbeat: Sendable, Codable, Equatable {
    public var hostID: String
    public var receivedAt: Date
    public var heartbeat: Heartbeat
}

/// One row of a host's typed health history.
public struct HealthPoint: Sendable, Codable, Equatable {
    /// When the collector received the heartbeat.
    public var at: Date
    /// When the agent sent it (nil on rows from before `v12_typed_history`).
    public var sentAt: Date?
    public var memoryUsedPercent: Double?
    public var maxDiskUsedPercent: Double?
    public var failedUnitCount: Int
}

/// Row counts.
public struct StoreCounts: Sendable, Codable, Equatable {
    public var hosts: Int
    public var openTickets: Int
    public var liveBundles: Int
    public var expiredBundles: Int
}

/// Several hosts hit by the same rule within a window: one cause, fixed once.
public struct IncidentRecord: Sendable, Codable, Equatable {
    public var id: Int64
    public var ruleID: String
    public var title: String
    /// `open` or `closed`.
    public var status: String
    public var hostCount: Int
    public var createdAt: Date
    public var updatedAt: Date
    /// Tickets linked to it.
    public var ticketIDs: [Int64]
}

/// What one host holds, for per-host quotas.
public struct HostUsage: Sendable, Equatable {
    /// Bundles received since the window's start.
    public var bundlesInWindow: Int
    /// When the oldest of them was received.
    public var oldestInWindow: Date?
    /// Compressed bytes of the host's live (not expired) bundles.
    public var liveBytes: Int64

    /// Collects the figures.
    public init(bundlesInWindow: Int, oldestInWindow: Date?, liveBytes: Int64) {
        self.bundlesInWindow = bundlesInWindow; self.oldestInWindow = oldestInWindow; self.liveBytes = liveBytes
    }
}
