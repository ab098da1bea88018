import Foundation

/// The bundle format version this code writes. Readers accept `BundleSchema.readable`.
public enum BundleSchema {
    /// The version `BundleWriter` writes.
    public static let current = 1
    /// Versions `BundleReader` reads. The collector keeps reading the previous version when
    /// the format moves on.
    public static let readable: ClosedRange<Int> = 1...1
}

/// Member names of a bundle, the first always `manifest.json`.
public enum BundleMember {
    public static let manifest = "manifest.json"
    public static let system = "system.json"
    public static let memory = "memory.json"
    public static let disks = "disks.json"
    public static let processes = "processes.json"
    public static let network = "network.json"
    public static let units = "units.json"
    public static let journal = "journal.jsonl"
    public static let note = "note.txt"
    /// Optional files the user attached live under this folder.
    public static let attachmentsPrefix = "attachments/"

    /// Every member name the format defines (attachments aside).
    public static let known: Set<String> = [manifest, system, memory, disks, processes, network, units, journal, note]
}

/// Why a bundle was made.
public enum BundleReason: String, Sendable, Codable, CaseIterable {
    /// The user asked for help (`helpline`, the desktop launcher).
    case userRequest = "user_request"
    /// A timer or policy collected it.
    case scheduled
    /// A technician asked this host for a bundle.
    case technicianRequest = "technician_request"
}

/// Who this host is. `hostID` is assigned by the collector at enrollment (nil before).
public struct HostIdentity: Sendable, Codable, Equatable {
    public var hostID: String?
    public var hostname: String
    public var machineID: String?
    public var bootID: String?

    public init(hostID: String? = nil, hostname: String, machineID: String? = nil, bootID: String? = nil) {
        self.hostID = hostID
        self.hostname = hostname
        self.machineID = machineID
        self.bootID = bootID
    }
}

/// How a probe fared.
public enum ProbeStatus: String, Sendable, Codable, CaseIterable {
    /// Everything the probe declares was gathered.
    case ok
    /// Some of it was gathered (a cap cut it, or some sources were unreadable).
    case partial
    /// The probe failed or timed out; its member may be missing.
    case error
    /// The probe did not apply here (no journal, no system bus…).
    case skipped
}

/// One probe's line in the manifest.
public struct ProbeReport: Sendable, Codable, Equatable {
    /// Probe name (`journal`, `disks`…).
    public var name: String
    /// The member it wrote, if any.
    public var member: String?
    public var status: ProbeStatus
    /// Why it is not `ok`, in words a technician can act on.
    public var error: String?
    /// Wall time the probe took, in milliseconds.
    public var durationMS: Int
    /// Items gathered (journal entries, processes, filesystems…).
    public var items: Int
    /// Bytes of the member, uncompressed.
    public var bytes: Int
    /// True when a cap cut what was gathered; `truncation` says where.
    public var truncated: Bool
    /// Where and why the cap cut (e.g. "entries before 2026-11-29T08:00:00Z left out: 200000-entry cap").
    public var truncation: String?
    /// What could not be read without more privileges, if anything.
    public var unreadable: [String]?

    public init(name: String, member: String? = nil, status: ProbeStatus, error: String? = nil, durationMS: Int = 0,
                items: Int = 0, bytes: Int = 0, truncated: Bool = false, truncation: String? = nil, unreadable: [String]? = nil) {
        self.name = name
        self.member = member
        self.status = status
        self.error = error
        self.durationMS = durationMS
        self.items = items
        self.bytes = bytes
        self.truncated = truncated
        self.truncation = truncation
        self.unreadable = unreadable
    }
}

/// The journal window and caps that applied to a collection, recorded so a technician
/// knows what the bundle can and cannot show.
public struct CollectionWindow: Sendable, Codable, Equatable {
    /// Every entry from this time on.
    public var allSince: Date
    /// Entries at or above `importantPriority` (numerically ≤) from this time on.
    public var importantSince: Date
    /// syslog priority threshold for `importantSince` (4 = warning).
    public var importantPriority: Int
    /// Kernel messages of this boot, whatever their age.
    public var kernelBootID: String?
    /// The reference time the window was computed from.
    public var until: Date
    /// Entry cap.
    public var maxEntries: Int
    /// Uncompressed byte cap for journal.jsonl.
    public var maxBytes: Int
    /// First and last cursor of what was collected (for `journalctl --cursor`).
    public var firstCursor: String?
    public var lastCursor: String?

    public init(allSince: Date, importantSince: Date, importantPriority: Int, kernelBootID: String?, until: Date,
                maxEntries: Int, maxBytes: Int, firstCursor: String? = nil, lastCursor: String? = nil) {
        self.allSince = allSince
        self.importantSince = importantSince
        self.importantPriority = importantPriority
        self.kernelBootID = kernelBootID
        self.until = until
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
        self.firstCursor = firstCursor
        self.lastCursor = lastCursor
    }
}

/// The first member of every bundle: what it is, where it came from, what each probe did.
public struct Manifest: Sendable, Codable, Equatable {
    /// Bundle format version (`BundleSchema.current` when written).
    public var schemaVersion: Int
    /// The bundle's id, also the upload idempotency key (a UUID string, lower case).
    public var bundleID: String
    public var createdAt: Date
    /// Version of the agent that made it.
    public var agentVersion: String
    public var host: HostIdentity
    public var reason: BundleReason
    /// The user's own words, redacted (also stored as note.txt).
    public var note: String?
    /// The local user who asked for help, when known.
    public var requestedBy: String?
    /// One line per probe, in the order they ran.
    public var probes: [ProbeReport]
    /// Redaction rule name → number of replacements, over every member.
    public var redactions: [String: Int]
    /// The journal window and caps, when the journal probe ran.
    public var journalWindow: CollectionWindow?
    /// For `technician_request` bundles: the collector's request this bundle answers, so it
    /// joins that request's ticket.
    public var bundleRequestID: Int64?

    public init(schemaVersion: Int = BundleSchema.current, bundleID: String, createdAt: Date, agentVersion: String,
                host: HostIdentity, reason: BundleReason, note: String? = nil, requestedBy: String? = nil,
                probes: [ProbeReport] = [], redactions: [String: Int] = [:], journalWindow: CollectionWindow? = nil) {
        self.schemaVersion = schemaVersion
        self.bundleID = bundleID
        self.createdAt = createdAt
        self.agentVersion = agentVersion
        self.host = host
        self.reason = reason
        self.note = note
        self.requestedBy = requestedBy
        self.probes = probes
        self.redactions = redactions
        self.journalWindow = journalWindow
    }
}
