import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// The web UI's templates and static files are compiled in from the folders beside them.
@Suite struct WebAssetsTests {
    static let webFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/Collector/Web").standardized.path

    @Test func generatedFileMatchesTheFolders() throws {
        func folder(_ name: String, suffix: String?) throws -> [String: String] {
            let path = Self.webFolder + "/" + name
            var out: [String: String] = [:]
            for file in try FileManager.default.contentsOfDirectory(atPath: path) where !file.hasPrefix(".") {
                guard suffix.map({ file.hasSuffix($0) }) ?? true else { continue }
                let key = suffix.map { String(file.dropLast($0.count)) } ?? file
                out[key] = try String(contentsOfFile: path + "/" + file, encoding: .utf8)
            }
            return out
        }
        let templates = try folder("Templates", suffix: ".mustache")
        let files = try folder("Static", suffix: nil)
        #expect(templates.count >= 10)
        #expect(Dictionary(uniqueKeysWithValues: WebAssets.templates.map { ($0.name, $0.text) }) == templates,
                "run scripts/embed-web.py after changing a template")
        #expect(Dictionary(uniqueKeysWithValues: WebAssets.files.map { ($0.name, $0.text) }) == files,
                "run scripts/embed-web.py after changing a static file")
    }

    @Test func everyTemplateParsesAndNoneRendersUnescaped() throws {
        _ = try WebTemplates()
        for (name, text) in WebAssets.templates {
            // Triple mustaches and `{{& …}}` render without escaping: none may exist.
            #expect(!text.contains("{{{") && !text.contains("{{&"), "\(name) renders a value unescaped")
            // No inline script or style: the Content-Security-Policy forbids them.
            #expect(!text.contains("<script>") && !text.contains("style=") && text.range(of: #"\son[a-z]+\s*="#, options: .regularExpression) == nil,
                    "\(name) has inline script, style or event handlers")
        }
    }
}

/// Who may open which page, and every sign-in, role, CSRF and Origin path.
@Suite struct WebAccessTests {
    enum Audience { case anyone, technician, admin }

    /// Every web route → who may use it. `AccessControlTests.everyRouteHasARow` checks the union.
    static let table: [String: Audience] = [
        "GET /": .anyone,
        "GET /login": .anyone,
        "POST /login": .anyone,
        "GET /static/{file}": .anyone,
        "POST /logout": .technician,
        "GET /account/password": .technician,
        "POST /account/password": .technician,
        "GET /tickets": .technician,
        "GET /tickets/{id}": .technician,
        "POST /tickets/{id}/comments": .technician,
        "POST /tickets/{id}/update": .technician,
        "POST /tickets/{id}/split": .technician,
        "GET /bundles/{bundleID}": .technician,
        "GET /bundles/{bundleID}/journal": .technician,
        "GET /bundles/{bundleID}/raw": .admin,
        "GET /bundles/{bundleID}/download/**": .technician,
        "GET /hosts": .technician,
        "GET /hosts/{hostID}": .technician,
        "GET /incidents": .technician,
        "GET /incidents/{incidentID}": .technician,
        "GET /admin/audit": .admin,
        "GET /admin/integrations": .admin,
        "POST /admin/integrations/deliveries/{deliveryID}/retry": .admin,
        "GET /fleet": .technician,
        "POST /tickets/{id}/request-bundle": .technician,
        "POST /hosts/{hostID}/request-bundle": .technician,
        "GET /query": .technician,
        "GET /query.csv": .technician,
        "POST /query/saved": .technician,
        "POST /query/saved/{queryID}/delete": .technician,
        "GET /rules": .technician,
        "GET /rules/{ruleID}": .technician,
        "POST /rules/{ruleID}/fix": .technician,
        "POST /rules/{ruleID}/fix/delete": .technician,
    ]

    static let origin = "https://helpline.test"

    /// A signed-in browser: its cookie and the CSRF token of its session.
    struct Browser {
        var cookie: String
        var csrf: String
        var headers: HTTPFields { [.cookie: "\(TechnicianAuthMiddleware.sessionCookie)=\(cookie)", .origin: WebAccessTests.origin] }
    }

    static func session(_ tc: TestCollector, user: String, role: UserRole, mustChange: Bool = false) async throws -> Browser {
        if try await tc.store.user(name: user) == nil {
            _ = try await tc.store.addUser(name: user, role: role, passwordHash: Secrets.hashPassword("correct horse battery", cost: 4), now: Date())
        }
        if mustChange { _ = try await tc.store.resetPassword(name: user, passwordHash: Secrets.hashPassword("correct horse battery", cost: 4), now: Date()) }
        let cookie = Secrets.generate(.session)
        try await tc.store.createSession(userName: user, hash: Secrets.hash(cookie), expiresAt: Date().addingTimeInterval(3600), now: Date())
        return Browser(cookie: cookie, csrf: WebSession.csrfToken(forCookie: cookie))
    }

    static func form(_ fields: [String: String]) -> ByteBuffer {
        ByteBuffer(string: fields.map { "\(WebLinks.encode($0.key))=\(WebLinks.encode($0.value))" }.joined(separator: "&"))
    }

    static let formType: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    static func merge(_ a: HTTPFields, _ b: HTTPFields) -> HTTPFields {
        var out = a
        for f in b { out[f.name] = f.value }
        return out
    }

    static func body(_ r: TestResponse) -> String { String(buffer: r.body) }

    /// A ticket with a joined repeat whose finding, note and journal carry markup.
    static func hostileTicket(_ tc: TestCollector, _ client: some TestClientProtocol) async throws -> (ticket: Int64, bundles: [String], host: String) {
        let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "web-host")
        var ids: [String] = []
        var ticket: Int64 = 0
        for i in 0..<2 {
            var m = sampleManifest(hostID: host.hostID, machineID: "web-host", note: "<script>window.pwned=1</script> \"quoted\" note \(i)")
            m.createdAt = Date().addingTimeInterval(Double(i))
            let r = try await upload(client, token: host.hostToken, try makeBundle(manifest: m, journalEntries: 50))
            #expect(r.status == .created)
            ticket = try decode(BundleReceipt.self, r).ticketID
            ids.append(m.bundleID)
        }
        return (ticket, ids, host.hostID)
    }

    static let hostileFinding = Finding(
        ruleID: "test.markup", category: .network, severity: .high, confidence: 0.9, title: "<script>alert('title')</script>",
        detail: "detail <img src=x onerror=alert(1)>", userAdvice: "advice \u{1b}[31mred", technicianAdvice: "tech </td></tr>",
        evidence: [Evidence(kind: "journal", label: "evil<b>.service", value: "<svg onload=alert(2)>", time: Date(timeIntervalSince1970: 1_790_000_000),
                            cursor: "b=x;t=1")], subject: "<img src=x>evil.service")

    @Test func pagesRedirectToSignInAndTokensOpenNoPage() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let api = try await tc.apiToken("script", role: .admin)
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            for headers: HTTPFields in [[:], [.authorization: "Bearer \(api)"], [.authorization: "Bearer \(host.hostToken)"],
                                        [.cookie: "\(TechnicianAuthMiddleware.sessionCookie)=\(Secrets.generate(.session))"]] {
                let r = try await client.execute(uri: "/tickets/7?x=1", method: .get, headers: headers)
                #expect(r.status == .seeOther)
                #expect(r.headers[.location] == "/login?next=%2Ftickets%2F7%3Fx%3D1")
                let post = try await client.execute(uri: "/tickets/7/comments", method: .post, headers: Self.merge(headers, Self.formType),
                                                    body: Self.form(["body": "hi"]))
                #expect(post.status == .unauthorized)
                #expect(post.headers[.contentType]?.hasPrefix("text/html") == true)
            }
        }
    }

    @Test func everyWebRouteAnswersEachRoleAsTheTableSays() async throws {
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.hostileFinding]))
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let (ticket, bundles, hostID) = try await Self.hostileTicket(tc, client)
            let tech = try await Self.session(tc, user: "alice", role: .technician)
            let admin = try await Self.session(tc, user: "bob", role: .admin)
            func concrete(_ path: String) -> String {
                path.replacingOccurrences(of: "{id}", with: String(ticket)).replacingOccurrences(of: "{bundleID}", with: bundles[1])
                    .replacingOccurrences(of: "{hostID}", with: hostID).replacingOccurrences(of: "{incidentID}", with: "1")
                    .replacingOccurrences(of: "{file}", with: "style.css").replacingOccurrences(of: "**", with: BundleMember.system)
                    .replacingOccurrences(of: "{queryID}", with: "1").replacingOccurrences(of: "{deliveryID}", with: "1").replacingOccurrences(of: "{ruleID}", with: "test.markup").replacingOccurrences(of: "query.csv", with: "query.csv?sql=SELECT%201")
            }
            for (route, audience) in Self.table.sorted(by: { $0.key < $1.key }) where route != "POST /logout" && route != "POST /login" {
                let parts = route.split(separator: " ", maxSplits: 1)
                let method = HTTPRequest.Method(rawValue: String(parts[0]))!
                let uri = concrete(String(parts[1]))
                for (who, browser, role) in [("technician", tech, Audience.technician), ("admin", admin, Audience.admin)] {
                    let fields = ["csrf": browser.csrf, "body": "a reply", "status": "in_progress", "bundle": bundles[1],
                                  "current": "wrong", "new": "x", "repeat": "y", "name": "q-\(who)", "sql": "SELECT 1",
                                  "text": "Restart <b>cups</b>", "link": "https://wiki.example.com/cups"]
                    let r = try await client.execute(uri: uri, method: method, headers: Self.merge(browser.headers, Self.formType),
                                                     body: method == .post ? Self.form(fields) : nil)
                    let allowed = audience != .admin || role == .admin
                    if allowed {
                        #expect(![401, 403].contains(r.status.code) && r.headers[.location]?.hasPrefix("/login") != true,
                                "\(route) as \(who): \(r.status.code)")
                        #expect(r.status.code < 500, "\(route) as \(who): \(r.status.code) \(Self.body(r).prefix(300))")
                    } else {
                        #expect(r.status == .forbidden, "\(route) as \(who): \(r.status.code), expected 403")
                    }
                    #expect(r.headers[.xContentTypeOptions] == "nosniff")
                    if r.headers[.contentType]?.hasPrefix("text/html") == true {
                        #expect(r.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
                        #expect(r.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                    }
                }
            }
        }
    }

    @Test func changesNeedTheFormTokenAndOurOrigin() async throws {
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.hostileFinding]))
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let (ticket, _, _) = try await Self.hostileTicket(tc, client)
            let alice = try await Self.session(tc, user: "alice", role: .technician)
            let other = try await Self.session(tc, user: "carol", role: .technician)
            let uri = "/tickets/\(ticket)/comments"
            let cookieOnly: HTTPFields = [.cookie: "\(TechnicianAuthMiddleware.sessionCookie)=\(alice.cookie)", .contentType: "application/x-www-form-urlencoded"]
            let cases: [(String, HTTPFields, [String: String], String)] = [
                ("no token", Self.merge(alice.headers, Self.formType), ["body": "x"], "csrf"),
                ("wrong token", Self.merge(alice.headers, Self.formType), ["body": "x", "csrf": String(repeating: "0", count: 64)], "csrf"),
                ("another session's token", Self.merge(alice.headers, Self.formType), ["body": "x", "csrf": other.csrf], "csrf"),
                ("no Origin or Referer", cookieOnly, ["body": "x", "csrf": alice.csrf], "cross_origin"),
                ("another site's Origin", Self.merge(cookieOnly, [.origin: "https://evil.example"]), ["body": "x", "csrf": alice.csrf], "cross_origin"),
                ("Origin null", Self.merge(cookieOnly, [.origin: "null"]), ["body": "x", "csrf": alice.csrf], "cross_origin"),
                ("another site's Referer", Self.merge(cookieOnly, [.referer: "https://evil.example/tickets/1"]), ["body": "x", "csrf": alice.csrf], "cross_origin"),
            ]
            for (name, headers, fields, code) in cases {
                let r = try await client.execute(uri: uri, method: .post, headers: headers, body: Self.form(fields))
                #expect(r.status == .forbidden, "\(name): \(r.status.code)")
                #expect(Self.body(r).contains(code), "\(name): \(Self.body(r).prefix(200))")
            }
            #expect(try await tc.store.ticket(id: ticket)!.comments.allSatisfy { $0.author == "helpline" }, "a refused form changed nothing")
            // A JSON body on a page route is refused too (no form, no token).
            let json = try await client.execute(uri: uri, method: .post, headers: Self.merge(alice.headers, [.contentType: "application/json"]),
                                                body: ByteBuffer(string: #"{"body":"x","csrf":"\#(alice.csrf)"}"#))
            #expect(json.status == .unsupportedMediaType)
            // The right token from our own page (Referer alone is enough when Origin is absent).
            let ok = try await client.execute(uri: uri, method: .post, headers: Self.merge(cookieOnly, [.referer: "https://helpline.test/tickets/\(ticket)"]),
                                              body: Self.form(["body": "Please restart.", "csrf": alice.csrf, "visibility": "user"]))
            #expect(ok.status == .seeOther)
            let internalNote = try await client.execute(uri: uri, method: .post, headers: Self.merge(alice.headers, Self.formType),
                                                        body: Self.form(["body": "looks like the driver", "csrf": alice.csrf, "visibility": "internal"]))
            #expect(internalNote.status == .seeOther)
            let comments = try await tc.store.ticket(id: ticket)!.comments.filter { $0.author == "alice" }
            #expect(comments.map(\.body) == ["Please restart.", "looks like the driver"])
            #expect(comments.map(\.visibleToUser) == [true, false])
            // Only the visible reply reaches the workstation.
            let replies = try await tc.store.hostTickets(hostID: try await tc.store.ticket(id: ticket)!.ticket.hostID, requestedBy: nil, limit: 10)
                .first { $0.id == ticket }!.replies.filter { $0.author == "alice" }
            #expect(replies.map(\.body) == ["Please restart."])
            // The API with a session cookie: same Origin rule.
            let api = try await client.execute(uri: "/api/v1/tickets/\(ticket)", method: .patch, headers: Self.merge(cookieOnly, [.contentType: "application/json"]),
                                               body: ByteBuffer(string: #"{"status":"resolved"}"#))
            #expect(api.status == .forbidden)
            #expect(errorCode(api) == "cross_origin")
        }
    }

    @Test func signInThrottlesAndChangesTheGeneratedPassword() async throws {
        let tc = try await TestCollector(limits: ["sign_in_failures_before_delay": 3])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            // The first-start admin (created by TestCollector) must change its password.
            _ = try await tc.store.resetPassword(name: "admin", passwordHash: Secrets.hashPassword("first start pw", cost: 4), now: Date())
            func signIn(_ name: String, _ password: String, next: String = "/tickets/1", origin: String? = WebAccessTests.origin) async throws -> TestResponse {
                var headers = Self.formType
                if let origin { headers[.origin] = origin }
                return try await client.execute(uri: "/login", method: .post, headers: headers,
                                                body: Self.form(["name": name, "password": password, "next": next]))
            }
            #expect(try await signIn("admin", "first start pw", origin: nil).status == .forbidden, "sign-in from elsewhere")
            let wrong = try await signIn("admin", "nope")
            #expect(wrong.status == .unauthorized)
            #expect(Self.body(wrong).contains("do not match"))
            let unknown = try await signIn("nobody", "nope")
            #expect(unknown.status == .unauthorized)
            #expect(Self.body(unknown).contains("do not match"), "an unknown name reads the same as a wrong password")
            _ = try await signIn("admin", "nope")
            _ = try await signIn("admin", "nope")
            // Past the limit even the right password waits.
            let throttled = try await signIn("admin", "first start pw")
            #expect(throttled.status == .tooManyRequests)
            #expect(Int(throttled.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(Self.body(throttled).contains("Too many failed sign-ins"))
            let failures = try await tc.store.auditLog(limit: 50, offset: 0).filter { $0.action == "sign_in_failed" }
            #expect(failures.count == 4)
        }
        // A new throttle (a fresh router) lets the right password in; it must be changed first.
        try await tc.app().test(.router) { client in
            let r = try await client.execute(uri: "/login", method: .post, headers: Self.merge(Self.formType, [.origin: Self.origin]),
                                             body: Self.form(["name": "admin", "password": "first start pw", "next": "//evil.example/x"]))
            #expect(r.status == .seeOther)
            #expect(r.headers[.location] == "/account/password")
            let setCookie = try #require(r.headers[.setCookie])
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/"))
            #expect(setCookie.contains("; Secure"), "the public URL is https: a proxy ends TLS, the cookie is still Secure")
            let cookie = String(setCookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1)[1])
            let browser = Browser(cookie: cookie, csrf: WebSession.csrfToken(forCookie: cookie))
            let queue = try await client.execute(uri: "/tickets", method: .get, headers: browser.headers)
            #expect(queue.status == .seeOther && queue.headers[.location] == "/account/password")
            let blocked = try await client.execute(uri: "/tickets/1/comments", method: .post, headers: Self.merge(browser.headers, Self.formType),
                                                   body: Self.form(["csrf": browser.csrf, "body": "x"]))
            #expect(blocked.status == .forbidden)
            // The API takes the same cookie, and refuses it the same way until the password is changed.
            let api = try await client.execute(uri: "/api/v1/tickets", method: .get, headers: browser.headers)
            #expect(api.status == .forbidden && String(buffer: api.body).contains("password_change_required"))
            let revoke = try await client.execute(uri: "/api/v1/hosts/no-such-host/revoke", method: .post,
                                                  headers: Self.merge(browser.headers, [.origin: Self.origin]))
            #expect(revoke.status == .forbidden && String(buffer: revoke.body).contains("password_change_required"))
            func change(_ fields: [String: String]) async throws -> TestResponse {
                try await client.execute(uri: "/account/password", method: .post, headers: Self.merge(browser.headers, Self.formType),
                                         body: Self.form(fields.merging(["csrf": browser.csrf]) { a, _ in a }))
            }
            #expect(try await change(["current": "bad", "new": "a long new password", "repeat": "a long new password"]).status == .badRequest)
            #expect(try await change(["current": "first start pw", "new": "short", "repeat": "short"]).status == .badRequest)
            #expect(try await change(["current": "first start pw", "new": "a long new password", "repeat": "another one!!"]).status == .badRequest)
            let tooLong = String(repeating: "é", count: 40)
            #expect(try await change(["current": "first start pw", "new": tooLong, "repeat": tooLong]).status == .badRequest, "over bcrypt's 72 bytes")
            let done = try await change(["current": "first start pw", "new": "a long new password", "repeat": "a long new password"])
            #expect(done.status == .seeOther && done.headers[.location] == "/tickets")
            #expect(try await client.execute(uri: "/tickets", method: .get, headers: browser.headers).status == .ok)
            #expect(try await client.execute(uri: "/api/v1/tickets", method: .get, headers: browser.headers).status == .ok)
            // Signing out ends the session.
            let out = try await client.execute(uri: "/logout", method: .post, headers: Self.merge(browser.headers, Self.formType),
                                               body: Self.form(["csrf": browser.csrf]))
            #expect(out.status == .seeOther && out.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await client.execute(uri: "/tickets", method: .get, headers: browser.headers).status == .seeOther)
            let actions = try await tc.store.auditLog(limit: 50, offset: 0).map(\.action)
            #expect(actions.contains("sign_in") && actions.contains("password_changed") && actions.contains("sign_out"))
        }
    }

    @Test func retentionPrunesTheAuditLogAndEndedSessionsAtTheEdge() async throws {
        let tc = try await TestCollector(limits: ["audit_retention_days": 10])
        defer { Task { await tc.close() } }
        let now = Date()
        let edge = now.addingTimeInterval(-10 * 86_400)
        for (i, at) in [edge.addingTimeInterval(-1), edge, edge.addingTimeInterval(1)].enumerated() {
            try await tc.store.recordAudit(AuditEntry(at: at, actor: "x", action: "test", target: "row \(i)"))
        }
        let alive = try await Self.session(tc, user: "alice", role: .technician)
        try await tc.store.createSession(userName: "alice", hash: Secrets.hash("ended"), expiresAt: now.addingTimeInterval(-1), now: now)
        let retention = RetentionService(store: tc.store, blobs: try BlobStore(dataDirectory: tc.configuration.dataDirectory),
                                         limits: tc.configuration.limits, metrics: tc.metrics, logger: .init(label: "test"))
        try await retention.runOnce(now: now)
        #expect(try await tc.store.auditLog(limit: 10, offset: 0).map(\.target) == ["row 2", "row 1"], "a row exactly at the edge stays")
        #expect(try await tc.store.webSession(hash: Secrets.hash(alive.cookie), now: now) != nil)
        #expect(try await tc.store.deleteExpiredSessions(now: now) == 0, "the ended session was already removed")
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(limits: ["audit_retention_days": 0])) }
    }

    @Test func queryPageRunsSavesAndRefuses() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let alice = try await Self.session(tc, user: "alice", role: .technician)
            let bob = try await Self.session(tc, user: "bob", role: .technician)
            let ok = try await client.execute(uri: "/query?sql=" + WebLinks.encode("SELECT 40 + 2 AS answer, '<b>x</b>' AS markup"),
                                              method: .get, headers: alice.headers)
            #expect(ok.status == .ok)
            let html = Self.body(ok)
            #expect(html.contains("<td>42</td>") && html.contains("&lt;b&gt;x&lt;/b&gt;") && html.contains("download-csv"))
            let refused = try await client.execute(uri: "/query?sql=" + WebLinks.encode("SELECT * FROM main.users"), method: .get, headers: alice.headers)
            #expect(refused.status == .badRequest && Self.body(refused).contains("query_refused"))
            let csv = try await client.execute(uri: "/query.csv?sql=" + WebLinks.encode("SELECT 1 AS a"), method: .get, headers: alice.headers)
            #expect(String(buffer: csv.body) == "a\r\n1\r\n" && csv.headers[.contentDisposition]?.hasPrefix("attachment") == true)
            func save(_ who: Browser, _ name: String, shared: Bool) async throws -> TestResponse {
                try await client.execute(uri: "/query/saved", method: .post, headers: Self.merge(who.headers, Self.formType),
                                         body: Self.form(["csrf": who.csrf, "name": name, "sql": "SELECT count(*) FROM hosts", "shared": shared ? "1" : "0"]))
            }
            #expect(try await save(alice, "mine", shared: false).status == .seeOther)
            #expect(try await save(alice, "ours", shared: true).status == .seeOther)
            #expect(try await save(alice, "mine", shared: false).status == .conflict)
            #expect(try await save(alice, "", shared: false).status == .badRequest)
            let bobSees = try await tc.store.savedQueries(visibleTo: "bob").map(\.name)
            #expect(bobSees == ["ours"], "a private query is its owner's only")
            let ours = try #require(try await tc.store.savedQueries(visibleTo: "alice").first { $0.name == "ours" })
            let notHis = try await client.execute(uri: "/query/saved/\(ours.id)/delete", method: .post, headers: Self.merge(bob.headers, Self.formType),
                                                  body: Self.form(["csrf": bob.csrf]))
            #expect(notHis.status == .notFound)
            let hers = try await client.execute(uri: "/query/saved/\(ours.id)/delete", method: .post, headers: Self.merge(alice.headers, Self.formType),
                                                body: Self.form(["csrf": alice.csrf]))
            #expect(hers.status == .seeOther)
            let fleet = try await client.execute(uri: "/fleet", method: .get, headers: alice.headers)
            #expect(fleet.status == .ok && Self.body(fleet).contains("Disks over 90 %") && !Self.body(fleet).contains("class=\"alert\""))
        }
    }

    @Test func whatChangedListsNewErrorMessagesOnceIndexed() async throws {
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.hostileFinding]))
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "chg")
            func entries(_ extra: String?) -> [JournalEntry] {
                var out = (0..<20).map { JournalEntry(realtime: 1_790_000_000_000_000 + Int64($0) * 1000, priority: 3, unit: "cups.service",
                                                      message: "cups: backend failed, port \($0)") }
                if let extra { out.append(JournalEntry(realtime: 1_790_000_100_000_000, priority: 2, identifier: "kernel", message: extra)) }
                return out
            }
            var ids: [String] = []
            var ticket: Int64 = 0
            for extra in [nil, "nvme0: controller is down; will reset <b>now</b>"] {
                let m = sampleManifest(hostID: host.hostID, machineID: "chg")
                let r = try await upload(client, token: host.hostToken, try JournalIndexTests.bundle(manifest: m, entries: entries(extra)))
                ticket = try decode(BundleReceipt.self, r).ticketID
                ids.append(m.bundleID)
            }
            let admin = try await Self.session(tc, user: "bob", role: .admin)
            let first = Self.body(try await client.execute(uri: "/tickets/\(ticket)", method: .get, headers: admin.headers))
            #expect(first.contains("shown once both journals are indexed"))
            for id in ids {
                let record = try #require(try await tc.store.bundle(id: id))
                try await JournalIndexTests.index(tc, id, try BlobStore(dataDirectory: tc.configuration.dataDirectory).path(for: record.sha256))
            }
            let page = Self.body(try await client.execute(uri: "/tickets/\(ticket)", method: .get, headers: admin.headers))
            #expect(page.contains("New error: kernel: nvme0: controller is down; will reset &lt;b&gt;now&lt;/b&gt;"))
            #expect(!page.contains("New error: cups.service"), "the same message with other numbers is not new")
        }
    }

    @Test func everythingFromABundleRendersAsText() async throws {
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.hostileFinding]))
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let (ticket, bundles, hostID) = try await Self.hostileTicket(tc, client)
            let admin = try await Self.session(tc, user: "bob", role: .admin)
            for uri in ["/tickets", "/tickets/\(ticket)", "/bundles/\(bundles[0])", "/bundles/\(bundles[0])/journal", "/hosts/\(hostID)",
                        "/tickets?q=%3Cscript%3E&host=%22%3E%3Cb%3E"] {
                let r = try await client.execute(uri: uri, method: .get, headers: admin.headers)
                #expect(r.status == .ok, "\(uri): \(r.status.code)")
                let html = Self.body(r)
                for raw in ["<script>window", "<script>alert", "<img src=x", "<svg onload", "evil<b>", "\u{1b}", "\"><b>"] {
                    #expect(!html.contains(raw), "\(uri) renders \(raw) as markup")
                }
            }
            let page = Self.body(try await client.execute(uri: "/tickets/\(ticket)", method: .get, headers: admin.headers))
            #expect(page.contains("&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;"))
            #expect(page.contains("&lt;svg onload=alert(2)&gt;"))
            #expect(page.contains("· &lt;img src=x&gt;evil.service ·"), "the finding's subject is shown, as text")
            #expect(page.contains("\\u{1b}[31mred"), "control characters are shown, not obeyed")
            #expect(page.contains("Joined:"), "the repeat says why it joined")
            // A member downloads as an attachment of an inert type, never rendered.
            let member = try await client.execute(uri: "/bundles/\(bundles[0])/download/\(BundleMember.note)", method: .get, headers: admin.headers)
            #expect(member.status == .ok)
            #expect(member.headers[.contentType] == "application/octet-stream")
            #expect(member.headers[.contentDisposition] == "attachment; filename=\"note.txt\"")
            let audit = try await tc.store.auditLog(limit: 50, offset: 0)
            #expect(audit.contains { $0.actor == "bob" && $0.action == "bundle_viewed" && $0.target == "bundle \(bundles[0])" })
            #expect(audit.contains { $0.actor == "bob" && $0.action == "member_downloaded" && $0.detail.hasPrefix("note.txt") })
        }
    }

    @Test func queueFiltersSortsAndSplitsRepeats() async throws {
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.hostileFinding]))
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let (ticket, bundles, _) = try await Self.hostileTicket(tc, client)
            let alice = try await Self.session(tc, user: "alice", role: .technician)
            func queue(_ query: String) async throws -> String {
                let r = try await client.execute(uri: "/tickets" + query, method: .get, headers: alice.headers)
                #expect(r.status == .ok, "\(query): \(r.status.code)")
                return Self.body(r)
            }
            #expect(try await queue("").contains("1 tickets match"))
            #expect(try await queue("?category=network").contains("1 tickets match"))
            #expect(try await queue("?category=disk").contains("0 tickets match"))
            #expect(try await queue("?assignee=me").contains("0 tickets match"))
            #expect(try await queue("?q=quoted").contains("1 tickets match"), "the user's note is searched")
            #expect(try await queue("?q=%22quoted%22+note").contains("1 tickets match"), "a form's + is a space")
            #expect(try await queue("?q=quoted+nothing").contains("0 tickets match"))
            #expect(try await queue("?priority=low").contains("0 tickets match"))
            for bad in ["?status=bogus", "?sort=x", "?page=0", "?page=-1", "?page=99999999999999999999", "?category=%00",
                        "?q=" + String(repeating: "a", count: 2000)] {
                let r = try await client.execute(uri: "/tickets" + bad, method: .get, headers: alice.headers)
                #expect(r.status == .badRequest, "\(bad): \(r.status.code)")
            }
            // Assign to me, then split the repeat off.
            let update = try await client.execute(uri: "/tickets/\(ticket)/update", method: .post, headers: Self.merge(alice.headers, Self.formType),
                                                  body: Self.form(["csrf": alice.csrf, "status": "in_progress", "priority": "urgent", "assignee": "alice"]))
            #expect(update.status == .seeOther)
            #expect(try await queue("?assignee=me").contains("1 tickets match"))
            let unknownAssignee = try await client.execute(uri: "/tickets/\(ticket)/update", method: .post, headers: Self.merge(alice.headers, Self.formType),
                                                           body: Self.form(["csrf": alice.csrf, "assignee": "mallory"]))
            #expect(unknownAssignee.status == .badRequest)
            let split = try await client.execute(uri: "/tickets/\(ticket)/split", method: .post, headers: Self.merge(alice.headers, Self.formType),
                                                 body: Self.form(["csrf": alice.csrf, "bundle": bundles[1]]))
            #expect(split.status == .seeOther)
            let newID = try #require(split.headers[.location].flatMap { Int64($0.replacingOccurrences(of: "/tickets/", with: "")) })
            #expect(newID != ticket)
            #expect(try await tc.store.bundles(ticketID: newID).map(\.bundleID) == [bundles[1]])
            #expect(try await queue("?status=all").contains("2 tickets match"))
            let only = try await client.execute(uri: "/tickets/\(ticket)/split", method: .post, headers: Self.merge(alice.headers, Self.formType),
                                                body: Self.form(["csrf": alice.csrf, "bundle": bundles[0]]))
            #expect(only.status == .conflict)
        }
    }
}
