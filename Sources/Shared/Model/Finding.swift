import Foundation

/// What a finding is about. A fixed vocabulary: rules, the agent's output and fleet queries
/// all use these names (docs/diagnosis.md, "Findings"). `auth` is signing in, accounts and
/// certificates; `software` is installing and updating it.
public enum FindingCategory: String, Sendable, Codable, CaseIterable {
    case disk, memory, service, crash, storage, network, dns, gpu, thermal, time, power, usb, cpu, load
    case auth, printing, audio, bluetooth, display, software, other
}

/// How bad a finding is, worst first.
public enum Severity: String, Sendable, Codable, CaseIterable, Comparable {
    case critical, high, medium, low, info

    /// 4 for critical down to 0 for info.
    public var rank: Int {
        switch self {
        case .critical: 4
        case .high: 3
        case .medium: 2
        case .low: 1
        case .info: 0
        }
    }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// One piece of evidence behind a finding: a figure, or a journal entry.
public struct Evidence: Sendable, Codable, Equatable {
    /// `metric` or `journal`.
    public var kind: String
    /// For metrics: what was measured (`disk./home.usedPercent`); for journal: the unit or identifier.
    public var label: String
    /// The figure, or the journal message.
    public var value: String
    /// When, for journal entries.
    public var time: Date?
    /// The journal cursor, for journal entries.
    public var cursor: String?

    public init(kind: String, label: String, value: String, time: Date? = nil, cursor: String? = nil) {
        self.kind = kind; self.label = label; self.value = value; self.time = time; self.cursor = cursor
    }
}

/// A diagnosis: what is wrong, how sure, why, and what to do.
public struct Finding: Sendable, Codable, Equatable {
    /// The rule that raised it (`disk.space_low`).
    public var ruleID: String
    public var category: FindingCategory
    public var severity: Severity
    /// 0–1.
    public var confidence: Double
    /// A plain title the user understands.
    public var title: String
    /// What a technician needs to know.
    public var detail: String
    /// What the user can do now.
    public var userAdvice: String
    /// What the technician should do.
    public var technicianAdvice: String
    /// The figures or journal lines that triggered it (capped).
    public var evidence: [Evidence]
    /// Time of the latest evidence, for ranking by recency.
    public var lastSeen: Date?
    /// What the finding is about: a unit (`cups.service`), device, mount, interface, server or
    /// account; nil when the rule does not say. Optional on the wire (absent before schema 12).
    public var subject: String?

    public init(ruleID: String, category: FindingCategory, severity: Severity, confidence: Double, title: String,
                detail: String, userAdvice: String, technicianAdvice: String, evidence: [Evidence] = [], lastSeen: Date? = nil,
                subject: String? = nil) {
        self.ruleID = ruleID; self.category = category; self.severity = severity; self.confidence = confidence
        self.title = title; self.detail = detail; self.userAdvice = userAdvice; self.technicianAdvice = technicianAdvice
        self.evidence = evidence; self.lastSeen = lastSeen; self.subject = subject
    }
}

/// The collector's answer to an uploaded bundle, which the agent prints.
public struct BundleReceipt: Sendable, Codable, Equatable {
    public var bundleID: String
    /// The ticket number shown to the user.
    public var ticketID: Int64
    /// Where a technician (or the user, when allowed) can see the ticket.
    public var ticketURL: String
    /// True when this bundle id was seen before and this is the first answer again.
    public var duplicate: Bool
    /// True when the bundle joined an existing open ticket.
    public var joinedExistingTicket: Bool
    /// Ranked findings, worst first.
    public var findings: [Finding]

    public init(bundleID: String, ticketID: Int64, ticketURL: String, duplicate: Bool = false,
                joinedExistingTicket: Bool = false, findings: [Finding] = []) {
        self.bundleID = bundleID; self.ticketID = ticketID; self.ticketURL = ticketURL; self.duplicate = duplicate
        self.joinedExistingTicket = joinedExistingTicket; self.findings = findings
    }
}

/// The JSON coders both sides use for manifests, records and API bodies:
/// ISO 8601 dates, sorted keys (stable output).
public enum BundleJSON {
    /// A fresh encoder (encoders are not Sendable, so each caller gets its own).
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// A fresh decoder matching `encoder()`.
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
