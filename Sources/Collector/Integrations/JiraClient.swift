import Foundation
import Shared

/// Jira Cloud REST v3: `POST /rest/api/3/issue`, `…/issue/{key}/comment`, `…/issue/{key}/transitions`,
/// and `GET /rest/api/3/search/jql` to find an issue already made for a ticket.
/// Text goes as Atlassian Document Format. Jira has no idempotency key: the issue carries the
/// event's mark as a label instead, looked for before every create.
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

    /// The link to issue `key`.
    func link(_ key: String, now: Date) -> TicketRemoteLink {
        TicketRemoteLink(backend: backend.name, remoteKey: key, remoteURL: endpoint("/browse/\(key)").absoluteString,
                         remoteStatus: nil, createdAt: now, updatedAt: now)
    }

    /// The key of the project's oldest issue labelled with the ticket's mark, if an earlier
    /// attempt made one. A failed look-up fails the attempt: creating without knowing could
    /// make a second issue.
    func existingIssue(_ context: IntegrationContext, http: IntegrationHTTP) async throws -> String? {
        let project = (backend.project ?? "").replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        let jql = "project = \"\(project)\" AND labels = \"\(context.issueMarker)\" ORDER BY created ASC"
        // Each issue comes with its key whatever the fields; ask for one every issue has.
        let url = endpoint("/rest/api/3/search/jql", query: [("jql", jql), ("fields", "summary"), ("maxResults", "1")])
        let answer: [String: Any]
        do {
            answer = try object(try await http.send(IntegrationRequest(method: "GET", url: url, headers: headers)))
        } catch var error as IntegrationError {
            error.message = "looking for an issue already made for this ticket (label \(context.issueMarker); the user needs Browse projects): " + error.message
            throw error
        }
        guard let issues = answer["issues"] as? [[String: Any]] else {
            throw IntegrationError(.badAnswer, "Jira's search answered without an issues list; is url the Jira Cloud site?")
        }
        return issues.first.flatMap { $0["key"] as? String }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Creates, comments or transitions.
    public func deliver(_ context: IntegrationContext, http: IntegrationHTTP, now: Date) async throws -> BackendResult {
        guard let detail = context.ticket else { return .skipped("Jira gets tickets, not incidents") }
        if context.event.kind == .ticketOpened {
            if let link = context.remoteLink {
                return .skipped("ticket \(detail.ticket.id) already has Jira issue \(link.remoteKey)")
            }
            if let key = try await existingIssue(context, http: http) {
                return .sent(link: link(key, now: now))
            }
            let fields: [String: Any] = [
                "project": ["key": backend.project ?? ""],
                "issuetype": ["name": backend.issueType],
                "summary": String(detail.ticket.title.replacingOccurrences(of: "\n", with: " ").prefix(250)),
                "priority": ["name": Self.priority(detail.ticket.priority)],
                "labels": context.labels(base: backend.labels) + [context.issueMarker],
                "description": Self.adf(context.description(), link: context.ticketURL),
            ]
            let key = try await creating(context) {
                let response = try await http.send(IntegrationRequest(method: "POST", url: endpoint("/rest/api/3/issue"), headers: headers,
                                                                      body: try json(["fields": fields])))
                guard let key = try object(response)["key"] as? String, !key.isEmpty else {
                    throw IntegrationError(.badAnswer, "Jira created an issue but its answer has no key", statusCode: response.status)
                }
                return key
            }
            return .sent(link: link(key, now: now))
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
