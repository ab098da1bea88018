import Foundation
import Shared

/// A technician's known fix for a rule: what to do and where it is written up. New findings
/// of the rule carry it (`TicketFinding.knownFix`, and in the agent's receipt appended to
/// `Finding.technicianAdvice`); findings stored before keep what they had.
public struct RuleFix: Sendable, Codable, Equatable {
    /// The rule (`disk.space_low`).
    public var ruleID: String
    /// What to do, plain text (at most `rule_fix_max_bytes`).
    public var text: String
    /// An `http`/`https` page with more (at most `rule_fix_link_max_bytes`), or nil.
    public var link: String?
    /// Who set it (user or API token name).
    public var updatedBy: String
    /// When.
    public var updatedAt: Date

    /// Creates a fix.
    public init(ruleID: String, text: String, link: String?, updatedBy: String, updatedAt: Date) {
        self.ruleID = ruleID; self.text = text; self.link = link; self.updatedBy = updatedBy; self.updatedAt = updatedAt
    }

    /// The words appended to a finding's technician advice in the agent's receipt and in
    /// ticket integrations (whose only shape for a finding is Shared's `Finding`).
    public var adviceText: String {
        "Known fix (help desk, \(updatedBy)): \(text)" + (link.map { " — \($0)" } ?? "")
    }

    /// The rule's own advice from advice `applied(to:)` made (the inverse of it).
    public func ruleAdvice(from advice: String) -> String {
        if advice == adviceText { return "" }
        let suffix = "\n\n" + adviceText
        return advice.hasSuffix(suffix) ? String(advice.dropLast(suffix.count)) : advice
    }

    /// `finding` with this fix appended to its technician advice (the user's advice is untouched).
    public func applied(to finding: Finding) -> Finding {
        var f = finding
        f.technicianAdvice = f.technicianAdvice.isEmpty ? adviceText : f.technicianAdvice + "\n\n" + adviceText
        return f
    }
}

/// How a rule fares: how often it fires and how often technicians disagreed with it.
public struct RuleStats: Sendable, Codable, Equatable {
    /// Findings of the rule ever stored.
    public var findings: Int64 = 0
    /// Tickets it was the top finding of (opened by it).
    public var topTickets: Int64 = 0
    /// Bundles split off tickets it topped (a repeat that was a different problem).
    public var splits: Int64 = 0
    /// Tickets it topped that a technician put in another category.
    public var reclassified: Int64 = 0
    /// When a bundle last had a finding of it.
    public var lastHitAt: Date?

    /// Creates figures (all zero by default).
    public init(findings: Int64 = 0, topTickets: Int64 = 0, splits: Int64 = 0, reclassified: Int64 = 0, lastHitAt: Date? = nil) {
        self.findings = findings; self.topTickets = topTickets; self.splits = splits; self.reclassified = reclassified; self.lastHitAt = lastHitAt
    }

    /// (splits + reclassified) / tickets topped, 0 without tickets: the share of its tickets
    /// technicians had to correct. The rules page orders by it.
    public var correctionRate: Double {
        topTickets > 0 ? Double(splits + reclassified) / Double(topTickets) : 0
    }
}

/// A technician's correction of a rule's ticket: a split or a reclassification.
public struct RuleEvent: Sendable, Codable, Equatable {
    /// `split` or `reclassified`.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// A bundle moved off the ticket to a ticket of its own.
        case split
        /// The ticket put in another category than its top finding's.
        case reclassified
    }
    /// Row id, increasing.
    public var id: Int64
    /// The rule that topped the corrected ticket.
    public var ruleID: String
    /// Split or reclassified.
    public var kind: Kind
    /// The ticket corrected (nil once it is gone).
    public var ticketID: Int64?
    /// Who.
    public var actor: String
    /// What changed (`bundle … → ticket #12`, `disk → network`).
    public var detail: String?
    /// When.
    public var createdAt: Date
}
