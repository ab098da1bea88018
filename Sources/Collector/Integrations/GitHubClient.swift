import Foundation
import Shared

/// GitHub issues: `POST /repos/{owner}/{repo}/issues`, `…/issues/{n}/comments`, `PATCH …/issues/{n}`,
/// and `GET /repos/{owner}/{repo}/issues` to find an issue already made for a ticket.
/// Priority becomes a label. GitHub has no idempotency key: the issue's body ends with the
/// event's mark instead (an HTML comment, not shown), looked for before every create.
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

    /// What the client keeps of an issue.
    struct Issue: Sendable {
        var number: Int
        var url: String?
        var state: String?

        init(_ json: [String: Any]) {
            number = json["number"] as? Int ?? 0
            url = json["html_url"] as? String
            state = json["state"] as? String
        }
    }

    /// The body's last line: the ticket's mark, as an HTML comment GitHub does not show.
    static func mark(_ context: IntegrationContext) -> String { "<!-- \(context.issueMarker) -->" }

    func link(_ issue: Issue, now: Date) -> TicketRemoteLink {
        TicketRemoteLink(backend: backend.name, remoteKey: String(issue.number), remoteURL: issue.url, remoteStatus: issue.state,
                         createdAt: now, updatedAt: now)
    }

    /// Issues a look-up page holds.
    static let lookupPageSize = 30
    /// The largest answer a look-up page may be: GitHub caps an issue's body at 65,536
    /// characters (up to 4 bytes each, and JSON escapes), and its other fields take a few KiB.
    /// Any page of real issues fits, whatever `integration_max_response_bytes` says.
    static let lookupPageBytes = lookupPageSize * (65_536 * 5 + (16 << 10))

    /// The issue an earlier attempt made for this ticket: the repository's issues updated since
    /// an hour before the event, newest first, up to `integration_lookup_max_pages` pages of
    /// `lookupPageSize`, stopping at the first one created over an hour before the event (the hour covers
    /// clocks that disagree). Only a body that *ends* with the mark counts, so a note quoting
    /// another ticket's mark cannot claim its issue. The list endpoint is read, not search,
    /// which lags. A failed look-up fails the attempt.
    func existingIssue(_ context: IntegrationContext, repo: String, http: IntegrationHTTP) async throws -> Issue? {
        let mark = Self.mark(context)
        let oldest = context.event.createdAt.addingTimeInterval(-3600)
        let iso = ISO8601DateFormatter()
        for page in 1...max(1, context.lookupMaxPages) {
            let url = endpoint("/repos/\(repo)/issues", query: [("state", "all"), ("sort", "created"), ("direction", "desc"),
                                                               ("since", iso.string(from: oldest)), ("per_page", String(Self.lookupPageSize)),
                                                               ("page", String(page))])
            let response: IntegrationResponse
            do {
                var request = IntegrationRequest(method: "GET", url: url, headers: headers)
                request.maxResponseBytes = Self.lookupPageBytes
                response = try await http.send(request)
            } catch var error as IntegrationError {
                error.message = "looking for an issue already made for this ticket (\(mark) in its body): " + error.message
                throw error
            }
            guard let issues = (try? JSONSerialization.jsonObject(with: response.body)) as? [[String: Any]] else {
                throw IntegrationError(.badAnswer, "GitHub's issue list answered \(response.status) without a list; is url the API's base?",
                                       statusCode: response.status)
            }
            for issue in issues where issue["pull_request"] == nil {
                if let body = issue["body"] as? String, body.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix(mark), issue["number"] is Int {
                    return Issue(issue)
                }
                if let created = (issue["created_at"] as? String).flatMap(iso.date(from:)), created < oldest { return nil }
            }
            if issues.count < Self.lookupPageSize { return nil }
        }
        return nil
    }

    /// Creates, comments or closes.
    public func deliver(_ context: IntegrationContext, http: IntegrationHTTP, now: Date) async throws -> BackendResult {
        guard let detail = context.ticket else { return .skipped("GitHub gets tickets, not incidents") }
        let repo = backend.project ?? ""
        if context.event.kind == .ticketOpened {
            if let link = context.remoteLink {
                return .skipped("ticket \(detail.ticket.id) already has GitHub issue #\(link.remoteKey)")
            }
            if let found = try await existingIssue(context, repo: repo, http: http) {
                return .sent(link: link(found, now: now))
            }
            let body = "Helpline ticket #\(detail.ticket.id) · [Open in Helpline](\(context.ticketURL ?? context.publicURL))\n\n"
                + Self.fenced(context.description()) + "\n\n" + Self.mark(context)
            let answer = try await creating(context) {
                let response = try await http.send(IntegrationRequest(method: "POST", url: endpoint("/repos/\(repo)/issues"), headers: headers, body: try json([
                    "title": String(detail.ticket.title.prefix(250)),
                    "body": body,
                    "labels": context.labels(base: backend.labels) + ["priority-\(detail.ticket.priority.rawValue)"],
                ])))
                let answer = try object(response)
                guard answer["number"] is Int else {
                    throw IntegrationError(.badAnswer, "GitHub created an issue but its answer has no number", statusCode: response.status)
                }
                return Issue(answer)
            }
            return .sent(link: link(answer, now: now))
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
