import Diagnosis
import Foundation
import Shared
import Synchronization

/// Where tickets are opened: the one place that decides a bundle's ticket, its title and
/// priority, and the receipt the agent gets.
///
/// Repeats: a bundle whose top finding is the same rule as the top finding of one of the
/// host's open tickets, updated within `repeatWindow`, joins that ticket instead of opening
/// another, with the reason kept on the ticket (a technician can split it off again).
/// `decide` runs inside the transaction that stores the bundle, with the host's open
/// tickets, so its choice cannot race another upload. Incidents (the same rule on several
/// hosts) are found by the store in the same transaction, with `incidentThreshold`.
public struct TicketService: TicketPolicy {
    /// Base URL of ticket links (settable once the real port is known, for `--listen …:0`).
    public let base: PublicURL
    /// Base URL of ticket links now.
    public var publicURL: String { base.value }
    /// How recent an open ticket must be for a repeat to join it.
    public let repeatWindow: TimeInterval
    /// Hosts and window that make an incident.
    public let incidentThreshold: (hosts: Int, window: TimeInterval)

    /// Creates the service.
    public init(publicURL: String, repeatWindow: TimeInterval = 72 * 3600, incidentHosts: Int = 5, incidentWindow: TimeInterval = 3600) {
        self.base = PublicURL(publicURL)
        self.repeatWindow = repeatWindow
        self.incidentThreshold = (incidentHosts, incidentWindow)
    }

    /// The service for a collector's limits.
    public init(publicURL: String, limits: CollectorLimits) {
        self.init(publicURL: publicURL, repeatWindow: TimeInterval(limits.repeatWindowHours) * 3600,
                  incidentHosts: limits.incidentHosts, incidentWindow: TimeInterval(limits.incidentWindowMinutes) * 60)
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

    /// The most a ticket's title holds, in Unicode code points: what the databases' `length`
    /// counts in the column's CHECK. Counted as Swift counts characters, a note of letters
    /// carrying many combining marks passed and the CHECK refused the whole upload.
    public static let titleLimit = 300

    /// `title` cut to `titleLimit` code points (a mark may lose its letter's other marks).
    public static func clippedTitle(_ title: String) -> String {
        clippedScalars(title, titleLimit)
    }

    /// The first line of the user's note, at most 120 characters; nil when there is none.
    static func noteLine(_ note: String?) -> String? {
        guard let n = note?.trimmingCharacters(in: .whitespacesAndNewlines), !n.isEmpty else { return nil }
        return String((n.split(whereSeparator: \.isNewline).first.map(String.init) ?? n).prefix(120))
    }

    /// A ticket's title: its top finding's, then the first line of the user's note in quotes.
    static func title(_ findingTitle: String, note: String?) -> String {
        findingTitle + (noteLine(note).map { " — “\($0)”" } ?? "")
    }

    /// The user's note in a stored bundle's manifest JSON, trimmed as a new ticket keeps it
    /// (nil when the manifest has none or does not decode).
    static func note(inManifest json: String) -> String? {
        struct Note: Decodable { var note: String? }
        return (try? JSONDecoder().decode(Note.self, from: Data(json.utf8)))?.note?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A ticket split off with a bundle: its title and note come from that bundle's top finding
    /// and its user's note, as if the bundle had opened a ticket instead of joining one.
    static func splitTicket(findingTitle: String?, manifest: String, from ticketID: Int64) -> (title: String, note: String?) {
        let note = Self.note(inManifest: manifest)
        let title = findingTitle.map { Self.title($0, note: note) } ?? noteLine(note) ?? "Split from ticket #\(ticketID)"
        return (clippedTitle(title), note)
    }

    /// Joins a repeat to the host's matching open ticket, else opens a ticket titled by the top
    /// finding and the user's note, with the priority of the worst severity. The "unrecognised"
    /// clusters never count as the top finding: a ticket with nothing recognised keeps the
    /// user's note as title and normal priority.
    public func decide(bundle: NewBundle, findings: [Finding], openTickets: [TicketSummary]) -> TicketDecision {
        let ranked = Self.rank(findings)
        let top = ranked.first { $0.ruleID != DiagnosisEngine.unrecognisedRuleID }
        if let top, top.severity >= .medium,
           // A repeat joins only a ticket the same local user opened: on a shared workstation
           // one user's request never lands on (or shows) another's ticket.
           let match = openTickets
            .filter({ $0.topRuleID == top.ruleID && $0.status.isActive && $0.requestedBy == bundle.requestedBy
                      && bundle.receivedAt.timeIntervalSince($0.updatedAt) <= repeatWindow })
            .max(by: { $0.updatedAt < $1.updatedAt }) {
            let hours = max(0, bundle.receivedAt.timeIntervalSince(match.updatedAt)) / 3600
            return .join(ticketID: match.id, reason: String(format: "Bundle %@ joined this ticket: its top finding (%@, \"%@\") is this ticket's top finding, and the ticket was updated %.1f h earlier (repeat window %.0f h). Split it off if it is a different problem.", bundle.bundleID, top.ruleID, top.title, hours, repeatWindow / 3600))
        }
        let note = bundle.manifest.note?.trimmingCharacters(in: .whitespacesAndNewlines)
        let noteLine = Self.noteLine(note)
        let title: String
        if let top {
            title = Self.title(top.title, note: note)
        } else if let noteLine {
            title = noteLine
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

/// The collector's public base URL, which may only be known once the server listens
/// (`--listen 127.0.0.1:0` without `--public-url`).
public final class PublicURL: Sendable {
    private let storage: Mutex<String>

    /// Starts with `url`.
    public init(_ url: String) { storage = Mutex(url) }

    /// The URL now.
    public var value: String { storage.withLock { $0 } }

    /// Puts the real port into a URL that was derived from port 0.
    public func bound(port: Int) {
        storage.withLock { url in
            if url.hasSuffix(":0") { url = String(url.dropLast(2)) + ":\(port)" }
        }
    }
}
