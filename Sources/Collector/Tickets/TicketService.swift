import Foundation
import Shared

/// Where tickets are opened: the one place that decides a bundle's ticket, its title and
/// priority, and the receipt the agent gets.
///
/// Today every bundle opens a ticket. Ticket de-duplication and incidents extend
/// `decide(bundle:findings:openTickets:)` (it runs inside the transaction that stores the
/// bundle, with the host's open tickets, so its choice cannot race another upload).
public struct TicketService: TicketPolicy {
    /// Base URL of ticket links.
    public let publicURL: String

    /// Creates the service.
    public init(publicURL: String) {
        self.publicURL = publicURL
    }

    /// The link to a ticket.
    public func ticketURL(_ id: Int64) -> String {
        "\(publicURL)/tickets/\(id)"
    }

    /// Findings worst first: severity, then confidence, then rule id for a stable order.
    public static func rank(_ findings: [Finding]) -> [Finding] {
        findings.sorted {
            if $0.severity != $1.severity { return $0.severity > $1.severity }
            if $0.confidence != $1.confidence { return $0.confidence > $1.confidence }
            return $0.ruleID < $1.ruleID
        }
    }

    /// Opens a new ticket for every bundle.
    public func decide(bundle: NewBundle, findings: [Finding], openTickets: [TicketSummary]) -> TicketDecision {
        let ranked = Self.rank(findings)
        let top = ranked.first
        let note = bundle.manifest.note?.trimmingCharacters(in: .whitespacesAndNewlines)
        let title: String
        if let top {
            title = top.title
        } else if let note, !note.isEmpty {
            let firstLine = note.split(whereSeparator: \.isNewline).first.map(String.init) ?? note
            title = String(firstLine.prefix(120))
        } else {
            switch bundle.manifest.reason {
            case .userRequest: title = "Help requested on \(bundle.hostname)"
            case .scheduled: title = "Scheduled bundle from \(bundle.hostname)"
            case .technicianRequest: title = "Bundle requested from \(bundle.hostname)"
            }
        }
        let priority: TicketPriority
        switch top?.severity {
        case .critical: priority = .urgent
        case .high: priority = .high
        case .low, .info: priority = .low
        case .medium, nil: priority = .normal
        }
        return .open(NewTicket(title: title, priority: priority, note: note, topRuleID: top?.ruleID))
    }

    /// The receipt: ticket, link and ranked findings.
    public func receipt(bundle: NewBundle, ticketID: Int64, joined: Bool, findings: [Finding]) -> BundleReceipt {
        BundleReceipt(bundleID: bundle.bundleID, ticketID: ticketID, ticketURL: ticketURL(ticketID), duplicate: false,
                      joinedExistingTicket: joined, findings: Self.rank(findings))
    }
}
