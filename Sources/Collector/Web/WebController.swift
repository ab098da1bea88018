import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import Shared

/// The technician web UI: server-rendered pages over the same store as the API.
///
/// Sign-in and the static files are public; every other page needs a web session
/// (`WebAuthMiddleware`). Forms post back here with the session's CSRF token. Everything
/// shown from a bundle is untrusted and reaches the page only through escaping templates.
public struct WebController: Sendable {
    let store: any CollectorStore
    let blobs: BlobStore
    let limits: CollectorLimits
    let reads: BlobReadPool
    let templates: WebTemplates
    let fleet: FleetQueries
    let indexer: JournalIndexer
    let throttle: SignInThrottle
    let publicURL: String?
    let tls: Bool
    /// Configured ticket backends (names and kinds for the integrations page; no secret is shown).
    let integrations: [IntegrationBackend]
    /// Whether the session cookie carries `Secure`.
    let secureCookies: Bool
    /// Rules, their known fixes and figures.
    let knowledge: RuleKnowledge

    /// Shortest password a user may choose.
    static let minPasswordLength = 12
    /// bcrypt reads at most 72 bytes of a password.
    static let maxPasswordBytes = 72
    /// Largest form accepted (comments are at most 64 KiB).
    static let maxFormBytes = 256 << 10
    /// A bcrypt hash no password matches, checked when the name is unknown so that an
    /// unknown name takes as long as a wrong password.
    static let decoyHash = Secrets.hashPassword(Secrets.generatePassword())

    /// Creates the controller.
    public init(store: any CollectorStore, blobs: BlobStore, limits: CollectorLimits, reads: BlobReadPool,
                templates: WebTemplates, fleet: FleetQueries, indexer: JournalIndexer, publicURL: String?, tls: Bool,
                integrations: [IntegrationBackend] = [], knowledge: RuleKnowledge? = nil) {
        self.integrations = integrations
        self.knowledge = knowledge ?? RuleKnowledge(store: store, limits: limits, rules: [])
        self.fleet = fleet
        self.indexer = indexer
        self.store = store
        self.blobs = blobs
        self.limits = limits
        self.reads = reads
        self.templates = templates
        self.throttle = SignInThrottle(limits: limits)
        self.publicURL = publicURL
        self.tls = tls
        // Behind a proxy that ends TLS the collector speaks plain HTTP, but browsers reach it
        // over https: the cookie must be Secure then too.
        secureCookies = tls || (publicURL?.lowercased().hasPrefix("https://") ?? false)
    }

    /// Sign-in and static files: no session needed.
    public var publicRoutes: RouteCollection<CollectorRequestContext> {
        let routes = RouteCollection(context: CollectorRequestContext.self)
        routes.add(middleware: WebErrorMiddleware(templates: templates))
        routes.get("/") { request, context in try Redirect(location: "/tickets").response(from: request, context: context) }
        routes.get("login", use: loginPage)
        routes.post("login", use: login)
        routes.get("static/{file}", use: staticFile)
        return routes
    }

    /// Every page behind sign-in.
    public var routes: RouteCollection<CollectorRequestContext> {
        let routes = RouteCollection(context: CollectorRequestContext.self)
        // Outside: errors of signing in render without a user; inside: the handlers' errors
        // render with the signed-in user's navigation.
        routes.add(middleware: WebErrorMiddleware(templates: templates))
        routes.add(middleware: WebAuthMiddleware(store: store, publicURL: publicURL, tls: tls))
        routes.add(middleware: WebErrorMiddleware(templates: templates))
        routes.post("logout", use: logout)
        routes.get("account/password", use: passwordPage)
        routes.post("account/password", use: changePassword)
        routes.get("tickets", use: queue)
        routes.get("tickets/{id}", use: ticket)
        routes.post("tickets/{id}/comments", use: comment)
        routes.post("tickets/{id}/update", use: update)
        routes.post("tickets/{id}/split", use: split)
        routes.get("bundles/{bundleID}", use: bundlePage)
        routes.get("bundles/{bundleID}/journal", use: journalPage)
        routes.get("bundles/{bundleID}/raw", use: rawBundle)
        routes.get("bundles/{bundleID}/download/**", use: memberDownload)
        routes.get("hosts", use: hostsPage)
        routes.get("hosts/{hostID}", use: hostPage)
        routes.post("tickets/{id}/request-bundle", use: requestBundle)
        routes.post("hosts/{hostID}/request-bundle", use: requestBundle)
        routes.get("incidents", use: incidentsPage)
        routes.get("incidents/{incidentID}", use: incidentPage)
        routes.get("admin/audit", use: auditPage)
        routes.get("admin/integrations", use: integrationsPage)
        routes.post("admin/integrations/deliveries/{deliveryID}/retry", use: retryDeliveryFromPage)
        routes.get("rules", use: rulesPage)
        routes.get("rules/{ruleID}", use: rulePage)
        routes.post("rules/{ruleID}/fix", use: saveRuleFix)
        routes.post("rules/{ruleID}/fix/delete", use: deleteRuleFix)
        routes.get("fleet", use: fleetPage)
        routes.get("query", use: queryPage)
        routes.get("query.csv", use: queryCSV)
        routes.post("query/saved", use: saveQuery)
        routes.post("query/saved/{queryID}/delete", use: deleteSavedQuery)
        return routes
    }

    // MARK: Helpers

    func page(_ template: String, _ model: Any, status: HTTPResponse.Status = .ok) throws -> HTMLPage {
        HTMLPage(html: try templates.render(template, model), status: status)
    }

    /// Reads a posted form and checks its CSRF token against the session's.
    func form(_ request: Request, _ context: CollectorRequestContext) async throws -> WebForm {
        let form = try await WebForm.read(request, limit: Self.maxFormBytes)
        guard let expected = context.web?.csrf, let sent = form["csrf"], Self.constantTimeEqual(sent, expected) else {
            throw APIError.forbidden("csrf", "the form's security token is missing or stale; reload the page and try again")
        }
        return form
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }

    func user(_ context: CollectorRequestContext) throws -> Principal { try context.requireUser() }

    func requireAdmin(_ context: CollectorRequestContext) throws -> Principal {
        let user = try context.requireUser()
        guard user.role == .admin else { throw APIError.forbidden("admin_only", "\(user.name) is a technician; this needs an admin") }
        return user
    }

    func audit(_ context: CollectorRequestContext, _ action: String, _ target: String, _ detail: String = "") async {
        await store.audit(context, action, target, detail)
    }

    static func sessionCookie(_ value: String, maxAge: Int, secure: Bool) -> String {
        "\(TechnicianAuthMiddleware.sessionCookie)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict\(secure ? "; Secure" : "")"
    }

    // MARK: Static

    @Sendable func staticFile(request: Request, context: CollectorRequestContext) async throws -> Response {
        let name = context.parameters.get("file") ?? ""
        guard let file = templates.files[name] else { throw APIError.notFound("static file \(name.prefix(64))") }
        if request.headers[.ifNoneMatch] == file.etag {
            return Response(status: .notModified, headers: [.eTag: file.etag])
        }
        return Response(status: .ok, headers: [.contentType: file.type, .eTag: file.etag, .cacheControl: "public, max-age=300"],
                        body: .init(byteBuffer: file.bytes))
    }

    // MARK: Sign in and out

    @Sendable func loginPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        let next = WebLinks.localPath(try Self.parameter(request, "next", max: 1024)) ?? "/tickets"
        return try page("login", LoginPage(chrome: PageChrome(context: context, title: "Sign in"), next: next, name: "", error: nil))
    }

    @Sendable func login(request: Request, context: CollectorRequestContext) async throws -> Response {
        guard OriginCheck.isSameOrigin(request, publicURL: publicURL, tls: tls) else {
            throw APIError.forbidden("cross_origin", "sign in from the help desk's own sign-in page")
        }
        let form = try await WebForm.read(request, limit: Self.maxFormBytes)
        let name = String((form["name"] ?? "").trimmingCharacters(in: .whitespaces).prefix(64))
        let password = form["password"] ?? ""
        let next = WebLinks.localPath(form["next"]) ?? "/tickets"
        let keys = ["name:" + name.lowercased()] + (context.clientAddress.map { ["addr:" + $0] } ?? [])
        func again(_ message: String, _ status: HTTPResponse.Status) throws -> Response {
            try page("login", LoginPage(chrome: PageChrome(context: context, title: "Sign in"), next: next, name: name, error: message),
                     status: status).response(from: request, context: context)
        }
        if let wait = await throttle.wait(for: keys) {
            var response = try again("Too many failed sign-ins. Wait \(wait) seconds, then try again.", .tooManyRequests)
            response.headers[.retryAfter] = String(wait)
            return response
        }
        guard !name.isEmpty, !password.isEmpty, password.utf8.count <= 1024 else {
            return try again("Enter your name and password.", .badRequest)
        }
        let found = try await store.user(name: name)
        let valid = await IngestExecutor.run { Secrets.verifyPassword(password, hash: found?.passwordHash ?? Self.decoyHash) } && found != nil
        guard valid, let user = found?.user else {
            await throttle.failed(keys)
            try? await store.recordAudit(AuditEntry(at: Date(), actor: name.isEmpty ? "?" : name, action: "sign_in_failed", target: "web",
                                                    detail: context.clientAddress.map { "from \($0)" } ?? ""))
            return try again("That name and password do not match an account.", .unauthorized)
        }
        await throttle.succeeded(["name:" + name.lowercased()])
        let token = Secrets.generate(.session)
        let now = Date()
        let lifetime = limits.sessionHours * 3600
        _ = try? await store.deleteExpiredSessions(now: now)
        try await store.createSession(userName: user.name, hash: Secrets.hash(token), expiresAt: now.addingTimeInterval(Double(lifetime)), now: now)
        try? await store.recordAudit(AuditEntry(at: now, actor: user.name, action: "sign_in", target: "web",
                                                detail: context.clientAddress.map { "from \($0)" } ?? ""))
        let mustChange = try await store.webSession(hash: Secrets.hash(token), now: now)?.mustChangePassword ?? false
        return try Redirect(location: mustChange ? "/account/password" : next,
                            cookies: [Self.sessionCookie(token, maxAge: lifetime, secure: secureCookies)]).response(from: request, context: context)
    }

    @Sendable func logout(request: Request, context: CollectorRequestContext) async throws -> Response {
        _ = try await form(request, context)
        if let hash = context.web?.hash { try await store.deleteSession(hash: hash) }
        await audit(context, "sign_out", "web")
        return try Redirect(location: "/login", cookies: [Self.sessionCookie("", maxAge: 0, secure: secureCookies)]).response(from: request, context: context)
    }

    @Sendable func passwordPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        try page("password", PasswordPage(chrome: PageChrome(context: context, title: "Change password"),
                                          required: context.web?.mustChangePassword ?? false, error: nil, minLength: Self.minPasswordLength))
    }

    @Sendable func changePassword(request: Request, context: CollectorRequestContext) async throws -> Response {
        let user = try self.user(context)
        let form = try await form(request, context)
        let current = form["current"] ?? "", new = form["new"] ?? "", repeated = form["repeat"] ?? ""
        func again(_ message: String) throws -> Response {
            try page("password", PasswordPage(chrome: PageChrome(context: context, title: "Change password"),
                                              required: context.web?.mustChangePassword ?? false, error: message, minLength: Self.minPasswordLength),
                     status: .badRequest).response(from: request, context: context)
        }
        guard let stored = try await store.user(name: user.name), current.utf8.count <= 1024,
              await IngestExecutor.run({ Secrets.verifyPassword(current, hash: stored.passwordHash) }) else {
            return try again("The current password is not right.")
        }
        guard new == repeated else { return try again("The two new passwords differ.") }
        guard new.count >= Self.minPasswordLength else { return try again("Choose a password of at least \(Self.minPasswordLength) characters.") }
        guard new.utf8.count <= Self.maxPasswordBytes else { return try again("Choose a password of at most \(Self.maxPasswordBytes) bytes.") }
        guard new != current else { return try again("Choose a new password, not the current one.") }
        let hash = await IngestExecutor.run { Secrets.hashPassword(new) }
        guard try await store.changePassword(name: user.name, passwordHash: hash,
                                             keepingSession: context.web?.hash, now: Date()) else {
            throw APIError.notFound("user \(user.name)")
        }
        await audit(context, "password_changed", "user \(user.name)")
        return try Redirect(location: "/tickets").response(from: request, context: context)
    }
}
