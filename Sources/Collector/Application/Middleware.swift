import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Shared

/// Turns every error into the API's JSON error shape, so unknown routes, Hummingbird's own
/// errors and unexpected failures all answer `{"error":{"code","message"}}`. Unexpected
/// errors are logged with the request's metadata and answered 500 without internals.
public struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// `Retry-After` for answers that ask to retry (`retry_after_seconds`).
    let retryAfter: Int

    /// Creates the middleware.
    public init(retryAfter: Int = CollectorLimits().retryAfterSeconds) { self.retryAfter = retryAfter }

    /// Runs the rest of the chain and converts its errors.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let code: String
            switch error.status.code {
            case 404: code = "not_found"
            case 405: code = "method_not_allowed"
            case 413: code = "body_too_large"
            default: code = error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
            }
            let message = error.status == .notFound
                ? "no route \(request.method) \(request.uri.path); see docs/openapi.yaml for the API"
                : (error.body ?? error.status.reasonPhrase)
            throw APIError(error.status, code: code, message, headers: error.headers)
        } catch is CancellationError {
            throw APIError(.serviceUnavailable, code: "shutting_down", "the collector is stopping; try again shortly", headers: [.retryAfter: "5"])
        } catch {
            if let known = APIError.known(error, retryAfter: retryAfter) {
                if error is StoreError || error is BlobStoreError {
                    context.logger.error("storage failure", metadata: ["error": "\(error)"])
                }
                throw known
            }
            if let other = error as? any HTTPResponseError {
                throw APIError(other.status, code: other.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"),
                               other.status.reasonPhrase)
            }
            context.logger.error("unexpected failure", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, code: "internal", "the collector failed unexpectedly; the failure was logged")
        }
    }
}

/// Checks a host token (`Authorization: Bearer hlh_…`) and puts the host in the context.
public struct HostAuthMiddleware: RouterMiddleware {
    /// The store that knows the token hashes.
    let store: any CollectorStore

    /// Creates the middleware.
    public init(store: any CollectorStore) { self.store = store }

    /// Authenticates, then runs the rest of the chain with `identity = .host`.
    public func handle(_ request: Request, context: CollectorRequestContext,
                       next: (Request, CollectorRequestContext) async throws -> Response) async throws -> Response {
        guard let token = request.bearerToken else {
            throw APIError.unauthorized("missing_token", "send the host token from enrollment: Authorization: Bearer hlh_…")
        }
        guard let host = try await store.host(tokenHash: Secrets.hash(token)) else {
            throw APIError.unauthorized("invalid_token", "the host token is not known (replaced by a re-enrollment, or mistyped); enroll again with `helpline enroll`")
        }
        if host.revokedAt != nil {
            throw APIError.unauthorized("host_revoked", "an admin revoked this host; ask the help desk, then enroll again with `helpline enroll` once an admin approves it")
        }
        var context = context
        context.identity = .host(host)
        context.logger[metadataKey: "host.id"] = .string(host.id)
        return try await next(request, context)
    }
}

/// Checks an API token (`Authorization: Bearer hlt_…`) or a web session cookie and puts the
/// technician in the context; rejects roles below `minimumRole`.
public struct TechnicianAuthMiddleware: RouterMiddleware {
    /// The session cookie's name.
    public static let sessionCookie = "helpline_session"
    let store: any CollectorStore
    let minimumRole: UserRole
    /// The collector's public URL: the origin that session-cookie changes must come from
    /// (besides the origin the request was addressed to).
    let publicURL: String?

    /// Creates the middleware.
    public init(store: any CollectorStore, minimumRole: UserRole = .technician, publicURL: String? = nil) {
        self.store = store
        self.minimumRole = minimumRole
        self.publicURL = publicURL
    }

    /// Authenticates, then runs the rest of the chain with `identity = .user`.
    public func handle(_ request: Request, context: CollectorRequestContext,
                       next: (Request, CollectorRequestContext) async throws -> Response) async throws -> Response {
        let now = Date()
        let principal: Principal
        if let token = request.bearerToken {
            guard let record = try await store.apiToken(hash: Secrets.hash(token)) else {
                throw APIError.unauthorized("invalid_token", "the API token is not known; create one with `helpline-collector admin token create NAME`")
            }
            if record.revokedAt != nil {
                throw APIError.unauthorized("token_revoked", "API token \(record.name) was revoked; ask an admin for a new one")
            }
            if let expires = record.expiresAt, expires <= now {
                throw APIError.unauthorized("token_expired", "API token \(record.name) expired; ask an admin for a new one")
            }
            principal = Principal(name: record.name, role: record.role, credential: .apiToken)
        } else if let cookie = request.cookies[Self.sessionCookie]?.value {
            guard let session = try await store.webSession(hash: Secrets.hash(cookie), now: now) else {
                throw APIError.unauthorized("session_expired", "the session expired or was ended; log in again")
            }
            // The pages let a user with a temporary password do nothing but change it; the API
            // with the same cookie does not let them either.
            if session.mustChangePassword {
                throw APIError.forbidden("password_change_required", "\(session.user.name) signed in with a temporary password; change it at /account/password first")
            }
            let user = session.user
            // A browser sends the cookie by itself: a change made with it must come from this
            // collector's own pages, never from another site's script or form.
            if request.method != .get && request.method != .head && !OriginCheck.isSameOrigin(request, publicURL: publicURL, tls: false)
                && !OriginCheck.isSameOrigin(request, publicURL: publicURL, tls: true) {
                throw APIError.forbidden("cross_origin", "a change with a session cookie must come from the help desk's own pages")
            }
            principal = Principal(name: user.name, role: user.role, credential: .session)
        } else {
            throw APIError.unauthorized("missing_token", "send an API token (Authorization: Bearer hlt_…) or log in")
        }
        if minimumRole == .admin && principal.role != .admin {
            throw APIError.forbidden("admin_only", "\(principal.name) is a technician; this needs an admin")
        }
        var context = context
        context.identity = .user(principal)
        context.logger[metadataKey: "user"] = .string(principal.name)
        return try await next(request, context)
    }
}
