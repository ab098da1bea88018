import Foundation
import Shared

/// What one delivery did on the remote.
public enum BackendResult: Sendable, Equatable {
    /// Sent; `link` is the remote issue a `ticket.opened` created.
    case sent(link: TicketRemoteLink?)
    /// Nothing to send for this event on this backend.
    case skipped(String)
}

/// Turns one event into the requests one remote API expects. One conformance per
/// backend kind; `clientFor` picks it from the configuration.
public protocol TicketBackendClient: Sendable {
    /// The backend's configuration.
    var backend: IntegrationBackend { get }
    /// Delivers one event.
    /// - Throws: `IntegrationError`.
    func deliver(_ context: IntegrationContext, http: IntegrationHTTP, now: Date) async throws -> BackendResult
}

/// The client for a configured backend.
public func clientFor(_ backend: IntegrationBackend) -> any TicketBackendClient {
    switch backend.kind {
    case .webhook: WebhookClient(backend: backend)
    case .jira: JiraClient(backend: backend)
    case .zendesk: ZendeskClient(backend: backend)
    case .github: GitHubClient(backend: backend)
    }
}

extension TicketBackendClient {
    /// `base` + `path` (path starts with `/`).
    func endpoint(_ path: String) -> URL {
        URL(string: backend.url.absoluteString + path) ?? backend.url
    }

    /// JSON object body.
    func json(_ object: [String: Any]) throws -> Data {
        do { return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) } catch {
            throw IntegrationError(.refused, "could not encode the request for \(backend.name): \(error)")
        }
    }

    /// A JSON object from a remote answer.
    func object(_ response: IntegrationResponse) throws -> [String: Any] {
        guard let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] else {
            throw IntegrationError(.badAnswer, "\(backend.name) answered \(response.status) without a JSON object; is url the API's base?",
                                   statusCode: response.status)
        }
        return object
    }

    /// `Basic base64(user:secret)`.
    static func basic(_ user: String, _ secret: String) -> String {
        "Basic " + Data("\(user):\(secret)".utf8).base64EncodedString()
    }
}

/// The signed webhook: every event as JSON, `Helpline-*` headers, HMAC-SHA256 signature.
public struct WebhookClient: TicketBackendClient {
    /// Configuration.
    public let backend: IntegrationBackend

    /// Posts the event.
    public func deliver(_ context: IntegrationContext, http: IntegrationHTTP, now: Date) async throws -> BackendResult {
        let body = try context.webhookBody()
        let timestamp = Int(now.timeIntervalSince1970)
        let signature = WebhookSignature.header(key: backend.secret?.value ?? "", timestamp: timestamp, body: body)
        _ = try await http.send(IntegrationRequest(method: "POST", url: backend.url, headers: [
            ("Content-Type", "application/json"), ("User-Agent", "helpline-collector"),
            (WebhookSignature.eventHeader, context.event.kind.rawValue), (WebhookSignature.deliveryHeader, context.event.uuid),
            (WebhookSignature.timestampHeader, String(timestamp)), (WebhookSignature.signatureHeader, signature),
        ], body: body))
        return .sent(link: nil)
    }
}

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

/// GitHub issues: `POST /repos/{owner}/{repo}/issues`, `…/issues/{n}/comments`, `PATCH …/issues/{n}`.
/// Priority becomes a label. GitHub has no idempotency key.
public struct GitHubClient: TicketBackendClient {
    /// Configuration.
    public let backend: IntegrationBackend

    private var headers: [(String, String)] {
        [("Content-Type", "application/json"), ("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28"),
         ("User-Agent", "helpline-collector"), ("Authorization", "Bearer \(backend.token?.value ?? "")")]
    }

    /// Untrusted text (notes, evidence) inside a fence longer than any backtick run in it,
    /// so it cannot close the fence or turn into links and mentions.
    static func fenced(_ text: String) -> String {
        var longest = 0, run = 0
        for ch in text { if ch == "`" { run += 1; longest = max(longest, run) } else { run = 0 } }
        let fence = String(repeating: "`", count: max(3, longest + 1))
        return "\(fence)text\n\(text)\n\(fence)"
    }

    /// Creates, comments or closes.
    public func deliver(_ context: IntegrationContext, http: IntegrationHTTP, now: Date) async throws -> BackendResult {
        guard let detail = context.ticket else { return .skipped("GitHub gets tickets, not incidents") }
        let repo = backend.project ?? ""
        if context.event.kind == .ticketOpened {
            let body = "Helpline ticket #\(detail.ticket.id) · [Open in Helpline](\(context.ticketURL ?? context.publicURL))\n\n" + Self.fenced(context.description())
            let response = try await http.send(IntegrationRequest(method: "POST", url: endpoint("/repos/\(repo)/issues"), headers: headers, body: try json([
                "title": String(detail.ticket.title.prefix(250)),
                "body": body,
                "labels": context.labels(base: backend.labels) + ["priority-\(detail.ticket.priority.rawValue)"],
            ])))
            let answer = try object(response)
            guard let number = answer["number"] as? Int else {
                throw IntegrationError(.badAnswer, "GitHub created an issue but its answer has no number", statusCode: response.status)
            }
            return .sent(link: TicketRemoteLink(backend: backend.name, remoteKey: String(number), remoteURL: answer["html_url"] as? String,
                                                remoteStatus: answer["state"] as? String, createdAt: now, updatedAt: now))
        }
        guard let key = context.remoteLink?.remoteKey, Int(key) != nil else {
            return .skipped("ticket \(detail.ticket.id) has no GitHub issue (it was opened before this backend, or its filter did not match then)")
        }
        // Closing first: it is idempotent, so if the comment after it fails, the retry
        // closes again harmlessly and the comment is still posted once.
        if context.event.kind == .ticketResolved {
            _ = try await http.send(IntegrationRequest(method: "PATCH", url: endpoint("/repos/\(repo)/issues/\(key)"), headers: headers,
                                                       body: try json(["state": "closed", "state_reason": "completed"])))
        }
        if let text = context.commentText() {
            _ = try await http.send(IntegrationRequest(method: "POST", url: endpoint("/repos/\(repo)/issues/\(key)/comments"), headers: headers,
                                                       body: try json(["body": Self.fenced(text)])))
        }
        return .sent(link: nil)
    }
}
