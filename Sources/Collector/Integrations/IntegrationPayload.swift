import Foundation
import Shared

/// What a backend is told about one event: the event, and the ticket (or incident) as it is
/// when the delivery is made, with its findings, evidence and links back.
public struct IntegrationContext: Sendable {
    /// The event.
    public var event: IntegrationEventRecord
    /// The ticket, for ticket events.
    public var ticket: TicketDetail?
    /// The incident, for incident events.
    public var incident: IncidentRecord?
    /// The ticket's issue on the backend being delivered to, if one was made.
    public var remoteLink: TicketRemoteLink?
    /// Every remote issue of the ticket.
    public var remoteLinks: [TicketRemoteLink]
    /// The collector's base URL.
    public var publicURL: String
    /// Longest description or comment text (`integration_max_description_bytes`).
    public var maxTextBytes: Int
    /// Least wait after a create whose outcome is unknown (`integration_create_settle_seconds`).
    public var createSettleSeconds: Int = CollectorLimits().integrationCreateSettleSeconds
    /// Most pages a look-up for an existing issue reads (`integration_lookup_max_pages`).
    public var lookupMaxPages: Int = CollectorLimits().integrationLookupMaxPages

    /// The mark of the tracker issue made for this ticket (a Jira label; a hidden last line of
    /// a GitHub issue's body): `helpline-` and the `ticket.opened` event's id, the same at every
    /// attempt and in every collector sharing the database, and unique across installations.
    /// Before creating, a client looks for an issue with it, so an attempt whose answer was
    /// lost (a timeout, a proxy's 502, a collector killed mid-request) is adopted, not repeated.
    public var issueMarker: String { "helpline-" + event.uuid.lowercased() }

    /// The reply a `ticket.updated` carries.
    public var comment: TicketComment? {
        guard let id = event.commentID else { return nil }
        return ticket?.comments.first { $0.id == id && $0.visibleToUser }
    }

    /// Link to the ticket's page.
    public var ticketURL: String? { ticket.map { "\(publicURL)/tickets/\($0.ticket.id)" } }

    /// Link to the incident's page.
    public var incidentURL: String? { incident.map { "\(publicURL)/incidents/\($0.id)" } }

    /// The newest finding of each rule, worst first.
    public var findings: [Finding] {
        var latest: [String: Finding] = [:]
        for f in ticket?.findings ?? [] { latest[f.finding.ruleID] = f.adviceFinding }  // with the known fix it was stored with
        return TicketService.rank(Array(latest.values))
    }

    /// Labels for remote trackers: the backend's own, the top finding's category, severity
    /// and rule (characters trackers refuse replaced).
    public func labels(base: [String]) -> [String] {
        var out = base
        if let top = findings.first {
            out += ["category-\(top.category.rawValue)", "severity-\(top.severity.rawValue)", "rule-\(top.ruleID)"]
        }
        return out.map { label in
            String(label.map { $0.isLetter || $0.isNumber || "-_.:".contains($0) ? $0 : "-" }.prefix(100))
        }
    }

    /// The ticket as plain text: header, the user's note, findings with evidence, link back.
    /// Cut to `maxTextBytes` with a note pointing to Helpline.
    public func description() -> String {
        guard let detail = ticket else { return incidentText() }
        let t = detail.ticket
        var lines: [String] = []
        lines.append("Helpline ticket #\(t.id) on \(t.hostname): \(t.title)")
        lines.append("Priority: \(t.priority.rawValue) · Status: \(t.status.rawValue) · Opened: \(Self.time(t.createdAt))")
        if let note = detail.note, !note.isEmpty { lines.append(""); lines.append("The user wrote: \(note)") }
        let findings = self.findings
        lines.append("")
        if findings.isEmpty {
            lines.append("No findings: the diagnosis rules saw nothing wrong in the bundle.")
        } else {
            lines.append("Findings, worst first:")
            for (i, f) in findings.enumerated() {
                lines.append("")
                lines.append("\(i + 1). [\(f.severity.rawValue.uppercased())] \(f.title) (\(f.ruleID), \(f.category.rawValue), confidence \(Int((f.confidence * 100).rounded()))%)")
                if !f.detail.isEmpty { lines.append("   \(f.detail)") }
                if !f.technicianAdvice.isEmpty { lines.append("   Advice: \(f.technicianAdvice)") }
                if !f.evidence.isEmpty {
                    lines.append("   Evidence:")
                    for e in f.evidence.prefix(20) {
                        lines.append("   - \(e.kind) · \(e.label): \(e.value)" + (e.time.map { " (\(Self.time($0)))" } ?? ""))
                    }
                }
            }
        }
        lines.append("")
        lines.append("Open in Helpline: \(ticketURL ?? publicURL)")
        return clip(lines.joined(separator: "\n"))
    }

    /// What a comment to the remote says for this event; nil when there is nothing to add.
    public func commentText() -> String? {
        switch event.kind {
        case .ticketJoined:
            return clip("Another bundle (\(event.bundleID ?? "?")) joined this ticket in Helpline.\n\n" + (event.detail ?? "") +
                        "\n\nOpen in Helpline: \(ticketURL ?? publicURL)")
        case .ticketUpdated:
            if let c = comment {
                return clip("\(c.author) replied in Helpline:\n\n\(c.body)")
            }
            return event.detail.map { clip("Changed in Helpline: \($0)") }
        case .ticketResolved:
            return clip("Resolved in Helpline" + (event.detail.map { " (\($0))" } ?? "") + ".")
        case .ticketOpened, .incidentOpened:
            return nil
        }
    }

    private func incidentText() -> String {
        guard let i = incident else { return "" }
        return clip("Helpline incident #\(i.id): \(i.title)\nRule \(i.ruleID) on \(i.hostCount) hosts; tickets \(i.ticketIDs.map { "#\($0)" }.joined(separator: ", "))\nOpen in Helpline: \(incidentURL ?? publicURL)")
    }

    /// Cuts text at a character boundary within the byte budget.
    func clip(_ text: String) -> String {
        guard text.utf8.count > maxTextBytes else { return text }
        let note = "\n… (cut: the whole ticket is in Helpline: \(ticketURL ?? publicURL))"
        var out = ""
        var used = 0
        let budget = max(0, maxTextBytes - note.utf8.count)
        for ch in text {
            let n = ch.utf8.count
            if used + n > budget { break }
            out.append(ch); used += n
        }
        return out + note
    }

    static func time(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    /// The webhook body: every field, snake_case, stable key order.
    public func webhookBody() throws -> Data {
        let body = WebhookBody(
            id: event.uuid, event: event.kind.rawValue, occurredAt: event.createdAt, detail: event.detail,
            ticket: ticket.map { d in
                WebhookBody.Ticket(id: d.ticket.id, url: ticketURL ?? "", title: d.ticket.title, status: d.ticket.status.rawValue,
                                   priority: d.ticket.priority.rawValue, assignee: d.ticket.assignee, note: d.note,
                                   createdAt: d.ticket.createdAt, updatedAt: d.ticket.updatedAt, bundleCount: d.ticket.bundleCount,
                                   host: .init(id: d.ticket.hostID, hostname: d.ticket.hostname), findings: findings,
                                   remoteLinks: remoteLinks.map { .init(backend: $0.backend, key: $0.remoteKey, url: $0.remoteURL) })
            },
            comment: comment.map { .init(id: $0.id, author: $0.author, body: $0.body, createdAt: $0.createdAt) },
            bundle: event.bundleID.map { .init(id: $0, url: "\(publicURL)/bundles/\($0)") },
            incident: incident.map { .init(id: $0.id, url: incidentURL ?? "", ruleID: $0.ruleID, title: $0.title, hostCount: $0.hostCount,
                                           ticketIDs: $0.ticketIDs) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(body)
    }
}

/// The signed webhook's JSON (docs/integrations.md shows an example).
struct WebhookBody: Encodable {
    struct Host: Encodable { var id: String; var hostname: String }
    struct Link: Encodable { var backend: String; var key: String; var url: String? }
    struct Ticket: Encodable {
        var id: Int64
        var url: String
        var title: String
        var status: String
        var priority: String
        var assignee: String?
        var note: String?
        var createdAt: Date
        var updatedAt: Date
        var bundleCount: Int
        var host: Host
        var findings: [Finding]
        var remoteLinks: [Link]
    }
    struct Comment: Encodable { var id: Int64; var author: String; var body: String; var createdAt: Date }
    struct Bundle: Encodable { var id: String; var url: String }
    struct Incident: Encodable {
        var id: Int64
        var url: String
        var ruleID: String
        var title: String
        var hostCount: Int
        var ticketIDs: [Int64]

        // Spelled out: the snake_case strategy would make `ticketIDs` "ticket_i_ds".
        enum CodingKeys: String, CodingKey {
            case id, url, title
            case ruleID = "rule_id", hostCount = "host_count", ticketIDs = "ticket_ids"
        }
    }
    var id: String
    var event: String
    var occurredAt: Date
    var detail: String?
    var ticket: Ticket?
    var comment: Comment?
    var bundle: Bundle?
    var incident: Incident?
}
