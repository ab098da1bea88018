import Foundation
import Shared

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
