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

    /// Runs a request that creates a remote issue. A failure that leaves it unknown whether the
    /// issue was made (no answer, a 5xx, 408 or 429, an answer without the new issue) makes the
    /// next attempt wait at least `integration_create_settle_seconds`, long enough for the
    /// look-up it starts with to find the issue if it was.
    func creating<T: Sendable>(_ context: IntegrationContext, _ send: () async throws -> T) async throws -> T {
        do {
            return try await send()
        } catch var error as IntegrationError where error.kind != .refused {
            error.retryAfter = max(error.retryAfter ?? 0, context.createSettleSeconds)
            throw error
        }
    }

    /// `path` with `query`, every value percent-encoded (JQL holds `=`, `&` and quotes).
    func endpoint(_ path: String, query: [(String, String)]) -> URL {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let q = query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
        return URL(string: backend.url.absoluteString + path + "?" + q) ?? backend.url
    }

    /// `Basic base64(user:secret)`.
    static func basic(_ user: String, _ secret: String) -> String {
        "Basic " + Data("\(user):\(secret)".utf8).base64EncodedString()
    }
}
