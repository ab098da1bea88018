import Foundation
import Hummingbird
import HTTPTypes

/// Lets only signed-in technicians and admins reach the pages, with their session cookie
/// (never a token: a host token opens no page).
///
/// Without a valid session, a page load is sent to the sign-in page and anything else is
/// refused. A user who must change their password sees only that page. Every request that
/// changes something must come from this collector's own pages (`Origin` or `Referer`);
/// forms also carry the session's CSRF token, which the handlers check as they read them.
public struct WebAuthMiddleware: RouterMiddleware {
    let store: any CollectorStore
    let publicURL: String?
    let tls: Bool

    /// Creates the middleware.
    public init(store: any CollectorStore, publicURL: String?, tls: Bool) {
        self.store = store
        self.publicURL = publicURL
        self.tls = tls
    }

    /// Paths a user who must change their password may still reach.
    static let passwordPaths: Set<String> = ["/account/password", "/logout"]

    /// Authenticates, then runs the chain with `identity` and `web` set.
    public func handle(_ request: Request, context: CollectorRequestContext,
                       next: (Request, CollectorRequestContext) async throws -> Response) async throws -> Response {
        let reading = request.method == .get || request.method == .head
        guard let cookie = request.cookies[TechnicianAuthMiddleware.sessionCookie]?.value, !cookie.isEmpty, cookie.utf8.count <= 256,
              let session = try await store.webSession(hash: Secrets.hash(cookie), now: Date()) else {
            if reading { return try Redirect(location: "/login?next=" + WebLinks.encode(request.uri.path.prefix(512) + (request.uri.query.map { "?" + $0 } ?? ""))).response(from: request, context: context) }
            throw APIError.unauthorized("session_expired", "you are not signed in (or the session ended); sign in again")
        }
        if !reading && !OriginCheck.isSameOrigin(request, publicURL: publicURL, tls: tls) {
            throw APIError.forbidden("cross_origin", "this change did not come from the help desk's own pages; reload the page and try again")
        }
        if session.mustChangePassword && !Self.passwordPaths.contains(request.uri.path) {
            if reading { return try Redirect(location: "/account/password").response(from: request, context: context) }
            throw APIError.forbidden("password_change_required", "change your password first")
        }
        var context = context
        context.identity = .user(Principal(name: session.user.name, role: session.user.role, credential: .session))
        context.web = WebSession(hash: Secrets.hash(cookie), csrf: WebSession.csrfToken(forCookie: cookie),
                                 mustChangePassword: session.mustChangePassword)
        context.logger[metadataKey: "user"] = .string(session.user.name)
        return try await next(request, context)
    }
}

/// Renders errors of the pages as HTML pages with the same status (JSON stays for the API).
public struct WebErrorMiddleware: RouterMiddleware {
    let templates: WebTemplates

    /// Creates the middleware.
    public init(templates: WebTemplates) { self.templates = templates }

    /// Runs the chain and renders its errors.
    public func handle(_ request: Request, context: CollectorRequestContext,
                       next: (Request, CollectorRequestContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let api: APIError
            if let e = error as? APIError { api = e }
            else if let e = error as? HTTPError { api = APIError(e.status, code: "http", e.body ?? e.status.reasonPhrase, headers: e.headers) }
            else if let known = APIError.known(error, retryAfter: 5) { api = known }
            else {
                context.logger.error("page failed", metadata: ["error": "\(error)"])
                api = APIError(.internalServerError, code: "internal", "the collector failed unexpectedly; the failure was logged")
            }
            let page = ErrorPage(chrome: PageChrome(context: context, title: "\(api.status.code) \(api.status.reasonPhrase)"),
                                 status: api.status.code, reason: api.status.reasonPhrase, message: api.message, code: api.code,
                                 signIn: api.status == .unauthorized)
            var response = try HTMLPage(html: try templates.render("error", page), status: api.status).response(from: request, context: context)
            for field in api.headers where field.name != .contentType { response.headers.append(field) }
            return response
        }
    }
}
