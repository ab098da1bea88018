import Foundation
import Shared

/// Jira Cloud REST v3: `POST /rest/api/3/issue`, `…/issue/{key}/comment`, `…/issue/{key}/transitions`.
/// Text goes as Atlassian Document Format. Jira has no idempotency key.
public struct JiraClient: TicketBackendClient {
    /// Configuration.
    public let backend: IntegrationBackend

    private var headers: [(String, String)] {
        [("Content-Type", "application/json"), ("Accept", "application/json"),
         ("Authorization", Self.basic(backend.user ?? "", backend.token?.value ?? ""))]
    }

    /// Jira's default priority scheme names.
    static func priority(_ p: TicketPriority) -> String {
        switch p {
        case .urgent: "Highest"
        case .high: "High"
        case .normal: "Medium"
        case .low: "Low"
        }
    }

    /// Plain text as an ADF document: one paragraph per block, and the link back as a link.
    static func adf(_ text: String, link: String?) -> [String: Any] {
        var content: [[String: Any]] = text.components(separatedBy: "\n\n").map { block in
            ["type": "paragraph", "content": block.isEmpty ? [] : [["type": "text", "text": block]]]
        }
        if let link {
            content.append(["type": "paragraph", "content": [
                ["type": "text", "text": "Open in Helpline", "marks": [["type": "link", "attrs": ["href": link]]]],
            ]])
        }
        return ["type": "doc", "version": 1, "content": content]
    }

    /// Creates, comments or transitions.
    public func deliver(_ context: IntegrationContext, http: IntegrationHTTP, now: Date) async throws -> BackendResult {
        guard let detail = context.ticket else { return .skipped("Jira gets tickets, not incidents") }
        if context.event.kind == .ticketOpened {
            let fields: [String: Any] = [
                "project": ["key": backend.project ?? ""],
                "issuetype": ["name": backend.issueType],
                "summary": String(detail.ticket.title.replacingOccurrences(of: "\n", with: " ").prefix(250)),
                "priority": ["name": Self.priority(detail.ticket.priority)],
                "labels": context.labels(base: backend.labels),
                "description": Self.adf(context.description(), link: context.ticketURL),
            ]
            let response = try await http.send(IntegrationRequest(method: "POST", url: endpoint("/rest/api/3/issue"), headers: headers,
                                                                  body: try json(["fields": fields])))
            guard let key = try object(response)["key"] as? String, !key.isEmpty else {
                throw IntegrationError(.badAnswer, "Jira created an issue but its answer has no key", statusCode: response.status)
            }
            return .sent(link: TicketRemoteLink(backend: backend.name, remoteKey: key, remoteURL: endpoint("/browse/\(key)").absoluteString,
                                                remoteStatus: nil, createdAt: now, updatedAt: now))
        }
        guard let key = context.remoteLink?.remoteKey, let escaped = key.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(["-"])) else {
            return .skipped("ticket \(detail.ticket.id) has no Jira issue (it was opened before this backend, or its filter did not match then)")
        }
        // One request per event, so a retry never repeats half of one: a resolved ticket
        // takes the configured transition, or else gets a comment.
        if context.event.kind == .ticketResolved, let transition = backend.resolveTransition {
            _ = try await http.send(IntegrationRequest(method: "POST", url: endpoint("/rest/api/3/issue/\(escaped)/transitions"), headers: headers,
                                                       body: try json(["transition": ["id": transition]])))
        } else if let text = context.commentText() {
            _ = try await http.send(IntegrationRequest(method: "POST", url: endpoint("/rest/api/3/issue/\(escaped)/comment"), headers: headers,
                                                       body: try json(["body": Self.adf(text, link: nil)])))
        } else {
            return .skipped("nothing to send to Jira for this change")
        }
        return .sent(link: nil)
    }
}
