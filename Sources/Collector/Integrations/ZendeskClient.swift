import Foundation
import Shared

/// Zendesk Support: `POST /api/v2/tickets.json` (with `Idempotency-Key`), then
/// `PUT /api/v2/tickets/{id}.json` for comments and status.
public struct ZendeskClient: TicketBackendClient {
    /// Configuration.
    public let backend: IntegrationBackend

    private var headers: [(String, String)] {
        [("Content-Type", "application/json"), ("Accept", "application/json"),
         ("Authorization", Self.basic("\(backend.user ?? "")/token", backend.token?.value ?? ""))]
    }

    /// Zendesk's priorities have the same names as Helpline's.
    static func priority(_ p: TicketPriority) -> String { p.rawValue }

    /// Creates or updates.
    public func deliver(_ context: IntegrationContext, http: IntegrationHTTP, now: Date) async throws -> BackendResult {
        guard let detail = context.ticket else { return .skipped("Zendesk gets tickets, not incidents") }
        if context.event.kind == .ticketOpened {
            let ticket: [String: Any] = [
                "subject": String(detail.ticket.title.prefix(250)),
                "comment": ["body": context.description(), "public": false],
                "priority": Self.priority(detail.ticket.priority),
                "tags": context.labels(base: backend.labels),
                "external_id": "helpline-\(detail.ticket.id)",
            ]
            var headers = self.headers
            headers.append(("Idempotency-Key", "helpline-\(context.event.uuid)"))
            let response = try await http.send(IntegrationRequest(method: "POST", url: endpoint("/api/v2/tickets.json"), headers: headers,
                                                                  body: try json(["ticket": ticket])))
            guard let created = try object(response)["ticket"] as? [String: Any], let id = created["id"] as? Int else {
                throw IntegrationError(.badAnswer, "Zendesk created a ticket but its answer has no ticket.id", statusCode: response.status)
            }
            return .sent(link: TicketRemoteLink(backend: backend.name, remoteKey: String(id), remoteURL: endpoint("/agent/tickets/\(id)").absoluteString,
                                                remoteStatus: created["status"] as? String, createdAt: now, updatedAt: now))
        }
        guard let key = context.remoteLink?.remoteKey, Int(key) != nil else {
            return .skipped("ticket \(detail.ticket.id) has no Zendesk ticket (it was opened before this backend, or its filter did not match then)")
        }
        var update: [String: Any] = [:]
        if let text = context.commentText() {
            // A reply the Helpline user saw is public in Zendesk too; notes about repeats are internal.
            update["comment"] = ["body": text, "public": context.comment != nil]
        }
        if context.event.kind == .ticketResolved { update["status"] = "solved" }
        if context.event.kind == .ticketUpdated, context.comment == nil { update["priority"] = Self.priority(detail.ticket.priority) }
        guard !update.isEmpty else { return .skipped("nothing to change in Zendesk") }
        _ = try await http.send(IntegrationRequest(method: "PUT", url: endpoint("/api/v2/tickets/\(key).json"), headers: headers,
                                                   body: try json(["ticket": update])))
        return .sent(link: nil)
    }
}
