import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// Knowledge from technicians (#13): known fixes per rule reach new findings (receipt, ticket,
/// integrations) and only new ones; splits and reclassifications are counted per rule; the
/// API refuses bad input and changes nothing then.
@Suite struct RuleKnowledgeTests {
    static let disk = Finding(ruleID: "disk.space_low", category: .disk, severity: .high, confidence: 0.9, title: "The disk / is nearly full",
                              detail: "97 % used", userAdvice: "Empty the trash.", technicianAdvice: "Find what grew: du -xh / | sort -h.")
    static let minor = Finding(ruleID: "audio.devices", category: .audio, severity: .low, confidence: 0.5, title: "No sound card",
                               detail: "none", userAdvice: "Plug in headphones.", technicianAdvice: "")

    static func collector(limits: [String: Int] = [:]) async throws -> TestCollector {
        try await TestCollector(limits: limits, diagnoser: FixedDiagnoser(findings: [disk, minor]))
    }

    static func json(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }

    static func put(_ client: some TestClientProtocol, _ token: String, rule: String, _ body: String) async throws -> TestResponse {
        try await client.execute(uri: "/api/v1/rules/\(rule)/fix", method: .put, headers: json(token), body: ByteBuffer(string: body))
    }

    static func send(_ client: some TestClientProtocol, _ host: EnrollResponse, machineID: String, requestedBy: String? = nil) async throws -> BundleReceipt {
        var m = sampleManifest(hostID: host.hostID, machineID: machineID)
        m.requestedBy = requestedBy
        let r = try await upload(client, token: host.hostToken, try makeBundle(manifest: m))
        #expect(r.status == .created)
        return try decode(BundleReceipt.self, r)
    }

    @Test func aKnownFixReachesNewFindingsOnlyAndIsAudited() async throws {
        let tc = try await Self.collector()
        defer { Task { await tc.close() } }
        let api = try await tc.apiToken("alice", role: .technician)
        try await tc.app(integrationWorker: false).test(.router) { client in
            let a = try await enroll(client, secret: tc.enrollmentSecret, machineID: "kf-a")
            let before = try await Self.send(client, a, machineID: "kf-a")
            #expect(before.findings.first { $0.ruleID == "disk.space_low" }?.technicianAdvice == Self.disk.technicianAdvice)

            let set = try await Self.put(client, api, rule: "disk.space_low",
                                         #"{"text":"  Clear /var/cache/apt with apt-get clean.\r\nThen reboot.  ","link":"HTTPS://wiki.example.com/disk?x=1#y"}"#)
            #expect(set.status == .ok, "\(String(buffer: set.body))")
            let fix = try decode(RuleFix.self, set)
            #expect(fix.text == "Clear /var/cache/apt with apt-get clean.\nThen reboot.")
            #expect(fix.link == "https://wiki.example.com/disk?x=1#y")
            #expect(fix.updatedBy == "alice")

            // A new bundle (another host, so another ticket): the receipt's technician advice
            // carries the fix, the user's advice does not; the ticket keeps them apart.
            let b = try await enroll(client, secret: tc.enrollmentSecret, machineID: "kf-b")
            let after = try await Self.send(client, b, machineID: "kf-b")
            let receiptDisk = try #require(after.findings.first { $0.ruleID == "disk.space_low" })
            #expect(receiptDisk.technicianAdvice.hasPrefix(Self.disk.technicianAdvice + "\n\nKnown fix (help desk, alice): Clear /var/cache"))
            #expect(receiptDisk.technicianAdvice.hasSuffix(" — https://wiki.example.com/disk?x=1#y"))
            #expect(receiptDisk.userAdvice == Self.disk.userAdvice)
            #expect(after.findings.first { $0.ruleID == "audio.devices" }?.technicianAdvice == "", "another rule's finding is untouched")

            let ticket = try await client.execute(uri: "/api/v1/tickets/\(after.ticketID)", method: .get, headers: Self.json(api))
            let detail = try decode(TicketDetail.self, ticket)
            let stored = try #require(detail.findings.first { $0.finding.ruleID == "disk.space_low" })
            #expect(stored.finding.technicianAdvice == Self.disk.technicianAdvice)
            #expect(stored.knownFix?.text == fix.text && stored.knownFix?.link == fix.link && stored.knownFix?.updatedBy == "alice")
            #expect(stored.adviceFinding == receiptDisk, "the ticket composes exactly what the receipt said")
            #expect(detail.findings.first { $0.finding.ruleID == "audio.devices" }?.knownFix == nil)
            // Findings stored before the fix keep what they had.
            let old = try #require(try await tc.store.ticket(id: before.ticketID))
            #expect(old.findings.allSatisfy { $0.knownFix == nil })
            #expect(old.findings.first { $0.finding.ruleID == "disk.space_low" }?.adviceFinding.technicianAdvice == Self.disk.technicianAdvice)
            // Ticket integrations describe the finding as the receipt did.
            let event = IntegrationEventRecord(id: 1, uuid: UUID().uuidString.lowercased(), kind: .ticketOpened, createdAt: Date())
            let payload = IntegrationContext(event: event, ticket: detail, remoteLinks: [], publicURL: "https://helpline.test", maxTextBytes: 1 << 20)
            #expect(payload.description().contains("Known fix (help desk, alice): Clear /var/cache"))

            // Removing it: audited; new findings carry nothing again; removing twice is 404.
            let removed = try await client.execute(uri: "/api/v1/rules/disk.space_low/fix", method: .delete, headers: Self.json(api))
            #expect(removed.status == .noContent)
            let again = try await client.execute(uri: "/api/v1/rules/disk.space_low/fix", method: .delete, headers: Self.json(api))
            #expect(again.status == .notFound && errorCode(again) == "no_fix")
            let c = try await enroll(client, secret: tc.enrollmentSecret, machineID: "kf-c")
            let later = try await Self.send(client, c, machineID: "kf-c")
            #expect(later.findings.first { $0.ruleID == "disk.space_low" }?.technicianAdvice == Self.disk.technicianAdvice)

            let audit = try await tc.store.auditLog(limit: 50, offset: 0).filter { $0.target == "rule disk.space_low" }
            #expect(audit.map(\.action) == ["rule_fix_removed", "rule_fix_set"])
            #expect(audit.allSatisfy { $0.actor == "alice" && $0.detail.hasPrefix("API") })
        }
    }

    @Test func splitsAndReclassificationsCountAgainstTheTopRule() async throws {
        let tc = try await Self.collector()
        defer { Task { await tc.close() } }
        let api = try await tc.apiToken("bob", role: .admin)
        try await tc.app(integrationWorker: false).test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "st-a")
            let first = try await Self.send(client, host, machineID: "st-a", requestedBy: "carol")
            let repeated = try await Self.send(client, host, machineID: "st-a", requestedBy: "carol")
            #expect(repeated.ticketID == first.ticketID)

            func stats() async throws -> RuleSummary {
                let r = try await client.execute(uri: "/api/v1/rules", method: .get, headers: Self.json(api))
                #expect(r.status == .ok)
                return try #require(try decode(RuleList.self, r).rules.first { $0.id == "disk.space_low" })
            }
            var s = try await stats()
            #expect(s.stats.findings == 2 && s.stats.topTickets == 1 && s.stats.splits == 0 && s.stats.reclassified == 0)
            #expect(s.stats.lastHitAt != nil)

            let split = try await client.execute(uri: "/api/v1/tickets/\(first.ticketID)/split", method: .post, headers: Self.json(api),
                                                 body: ByteBuffer(string: #"{"bundleID":"\#(repeated.bundleID)"}"#))
            #expect(split.status == .created)
            let newID = try decode(SplitResult.self, split).ticketID
            // The split-off ticket keeps the local user who asked (it lost them before).
            #expect(try await tc.store.ticket(id: newID)?.ticket.requestedBy == "carol")
            s = try await stats()
            #expect(s.stats.splits == 1 && s.stats.topTickets == 2)

            // Reclassify through PATCH: the category sticks, the rule counts it once, the
            // outbox reports it, the audit log has it; the same category again changes nothing.
            let events = try await tc.store.unroutedEvents(limit: 1000).count
            for _ in 0..<2 {
                let patch = try await client.execute(uri: "/api/v1/tickets/\(first.ticketID)", method: .patch, headers: Self.json(api),
                                                     body: ByteBuffer(string: #"{"category":"network"}"#))
                #expect(patch.status == .ok)
                #expect(try decode(TicketSummary.self, patch).category == .network)
            }
            s = try await stats()
            #expect(s.stats.reclassified == 1)
            #expect(s.correctionRate == 1.0, "2 corrections over 2 tickets")
            let outbox = try await tc.store.unroutedEvents(limit: 1000)
            #expect(outbox.count == events + 1)
            #expect(outbox.last?.kind == .ticketUpdated && outbox.last?.detail?.contains("category: network (was disk") == true)
            let detail = try #require(try await tc.store.ticket(id: first.ticketID))
            #expect(detail.comments.contains { !$0.visibleToUser && $0.body.contains("Reclassified from disk to network") })
            #expect(try await tc.store.auditLog(limit: 20, offset: 0).filter { $0.action == "ticket_reclassified" }.count == 1)
            // The queue's category filter follows the technician.
            var query = TicketQuery()
            query.statuses = []
            query.category = .network
            #expect(try await tc.store.ticketQueue(query).rows.map(\.ticket.id) == [first.ticketID])
            query.category = .disk
            #expect(try await tc.store.ticketQueue(query).rows.map(\.ticket.id) == [newID])

            // An unknown category is refused and changes nothing.
            let bad = try await client.execute(uri: "/api/v1/tickets/\(first.ticketID)", method: .patch, headers: Self.json(api),
                                               body: ByteBuffer(string: #"{"category":"weather"}"#))
            #expect(bad.status == .badRequest)
            #expect(try await tc.store.ticket(id: first.ticketID)?.ticket.category == .network)

            let rule = try await client.execute(uri: "/api/v1/rules/disk.space_low", method: .get, headers: Self.json(api))
            let one = try decode(RuleDetail.self, rule)
            #expect(one.events.map(\.kind) == [.reclassified, .split])
            #expect(one.events.allSatisfy { $0.ticketID == first.ticketID && $0.actor == "bob" })
            // The most corrected rule comes first.
            let list = try decode(RuleList.self, try await client.execute(uri: "/api/v1/rules", method: .get, headers: Self.json(api)))
            #expect(list.rules.map(\.id) == ["disk.space_low", "audio.devices"])
        }
    }

    @Test func badInputIsRefusedAndChangesNothing() async throws {
        let tc = try await Self.collector(limits: ["rule_fix_max_bytes": 64, "rule_fix_link_max_bytes": 40])
        defer { Task { await tc.close() } }
        let api = try await tc.apiToken("alice", role: .technician)
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "bad-a")
            // Unknown rule ids, however spelt: 404 with a clear message.
            for id in ["no.such_rule", "..%2F..%2Fetc%2Fpasswd", "disk.space_low%00", "d%C3%AFsk.space_low", String(repeating: "a", count: 5000)] {
                let r = try await Self.put(client, api, rule: id, #"{"text":"x"}"#)
                #expect(r.status == .notFound && errorCode(r) == "unknown_rule", "\(id.prefix(40)): \(r.status)")
                let g = try await client.execute(uri: "/api/v1/rules/\(id)", method: .get, headers: Self.json(api))
                #expect(g.status == .notFound && String(buffer: g.body).contains("GET /api/v1/rules lists them"))
            }
            let text64 = String(repeating: "é", count: 32)  // 64 bytes: at the edge
            let cases: [(String, Int, String)] = [
                (#"{"text":"   "}"#, 400, "invalid_fix"),
                (#"{"text":"\#(text64)x"}"#, 400, "invalid_fix"),
                (#"{"text":"a\u0000b"}"#, 400, "invalid_fix"),
                (#"{"text":"a\u001bb"}"#, 400, "invalid_fix"),
                (#"{"text":"a\u202eb"}"#, 400, "invalid_fix"),
                (#"{"text":"ok","link":"javascript:alert(1)"}"#, 400, "invalid_fix_link"),
                (#"{"text":"ok","link":"JaVaScRiPt://x.example/%0aalert(1)"}"#, 400, "invalid_fix_link"),
                (#"{"text":"ok","link":"/wiki/fix"}"#, 400, "invalid_fix_link"),
                (#"{"text":"ok","link":"//evil.example/x"}"#, 400, "invalid_fix_link"),
                (#"{"text":"ok","link":"data:text/html,hi"}"#, 400, "invalid_fix_link"),
                (#"{"text":"ok","link":"https://user:pw@wiki.example/x"}"#, 400, "invalid_fix_link"),
                (#"{"text":"ok","link":"https://wiki.example/a b"}"#, 400, "invalid_fix_link"),
                (#"{"text":"ok","link":"https://wiki.example/\#(String(repeating: "x", count: 20))"}"#, 400, "invalid_fix_link"),
                (#"{"text":"ok","link":"http:wiki.example"}"#, 400, "invalid_fix_link"),
                (#"{"text":"ok","link":"https://wiki.example/\"><script>"}"#, 400, "invalid_fix_link"),
                (#"{"text":"ok","link":"https://wiki.example/día"}"#, 400, "invalid_fix_link"),
                (#"{"text":5}"#, 400, "invalid_json"),
                (#"{"link":"https://x.example"}"#, 400, "invalid_json"),
            ]
            for (body, status, code) in cases {
                let r = try await Self.put(client, api, rule: "disk.space_low", body)
                #expect(Int(r.status.code) == status && errorCode(r) == code, "\(body.prefix(60)): \(r.status.code) \(errorCode(r) ?? "")")
            }
            // A 10 MB body: 413 before it is read whole.
            let huge = try await Self.put(client, api, rule: "disk.space_low", #"{"text":""# + String(repeating: "a", count: 10 << 20) + #""}"#)
            #expect(huge.status == .contentTooLarge && errorCode(huge) == "body_too_large")
            // Host tokens open nothing here.
            let asHost = try await client.execute(uri: "/api/v1/rules", method: .get, headers: Self.json(host.hostToken))
            #expect(asHost.status == .unauthorized)
            #expect(try await tc.store.ruleFixes().isEmpty, "nothing refused was stored")
            #expect(try await tc.store.auditLog(limit: 50, offset: 0).allSatisfy { !$0.action.hasPrefix("rule_fix") })

            // At the edges: exactly 64 bytes of text and a 40-byte link are taken.
            let link40 = "https://wiki.example/" + String(repeating: "x", count: 19)
            #expect(link40.utf8.count == 40)
            let ok = try await Self.put(client, api, rule: "disk.space_low", #"{"text":"\#(text64)","link":"\#(link40)"}"#)
            #expect(ok.status == .ok)
            #expect(try await tc.store.ruleFixes()["disk.space_low"]?.text == text64)
            // An empty link means none.
            let noLink = try await Self.put(client, api, rule: "disk.space_low", #"{"text":"tabs\tand\nlines","link":""}"#)
            #expect(noLink.status == .ok)
            #expect(try await tc.store.ruleFixes()["disk.space_low"] .map { $0.link == nil && $0.text == "tabs\tand\nlines" } == true)
        }
    }

    /// The schema holds its bounds whatever the code does: a fix with a `javascript:` link or
    /// an empty text cannot be stored.
    @Test func theSchemaRefusesWhatTheAPIRefuses() async throws {
        let tc = try await Self.collector()
        defer { Task { await tc.close() } }
        let audit = AuditEntry(at: Date(), actor: "t", action: "rule_fix_set", target: "rule x")
        for fix in [RuleFix(ruleID: "x", text: "t", link: "javascript:alert(1)", updatedBy: "t", updatedAt: Date()),
                    RuleFix(ruleID: "x", text: "", link: nil, updatedBy: "t", updatedAt: Date()),
                    RuleFix(ruleID: "", text: "t", link: nil, updatedBy: "t", updatedAt: Date())] {
            await #expect(throws: (any Error).self) { try await tc.store.setRuleFix(fix, audit: audit) }
        }
        #expect(try await tc.store.ruleFixes().isEmpty)
        #expect(try await tc.store.auditLog(limit: 10, offset: 0).allSatisfy { $0.action != "rule_fix_set" }, "the audit row rolled back with it")
    }

    /// The real rules engine's catalogue: every built-in rule is listed, with zero figures.
    @Test func theRulesEngineCatalogueIsListed() async throws {
        let tc = try await TestCollector(diagnoser: try RuleDiagnoser(extraRulesDirectory: nil))
        defer { Task { await tc.close() } }
        let api = try await tc.apiToken("alice", role: .technician)
        try await tc.app().test(.router) { client in
            let list = try decode(RuleList.self, try await client.execute(uri: "/api/v1/rules", method: .get, headers: Self.json(api)))
            #expect(list.rules.count >= 20)
            #expect(list.rules.contains { $0.id == "disk.space_low" && $0.kind == .metric })
            #expect(list.rules.allSatisfy { $0.stats == RuleStats() && $0.knownFix == nil })
            #expect(list.rules.map(\.id) == list.rules.map(\.id).sorted(), "with no figures, by id")
        }
    }
}

/// The rules pages: the fix form needs the session's form token, what a technician writes and
/// what a rule file says render as text, and a refused fix shows the form again unchanged.
@Suite struct RulePagesTests {
    @Test func theFixFormIsCheckedAndEverythingRendersAsText() async throws {
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [WebAccessTests.hostileFinding]))
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let tina = try await WebAccessTests.session(tc, user: "tina", role: .technician)
            let headers = WebAccessTests.merge(tina.headers, WebAccessTests.formType)
            let text = "<img src=x onerror=alert(1)> restart \"cups\""
            let link = "https://wiki.example/kb?a=1&b=<2>"
            // Without the form token: 403, nothing stored.
            let forged = try await client.execute(uri: "/rules/test.markup/fix", method: .post, headers: headers,
                                                  body: WebAccessTests.form(["text": text]))
            #expect(forged.status == .forbidden)
            #expect(try await tc.store.ruleFixes().isEmpty)
            // A link the browser would not even send as typed: refused, the form comes back with it, escaped.
            let refused = try await client.execute(uri: "/rules/test.markup/fix", method: .post, headers: headers,
                                                   body: WebAccessTests.form(["csrf": tina.csrf, "text": text, "link": link]))
            #expect(refused.status == .badRequest)
            let again = WebAccessTests.body(refused)
            #expect(again.contains("id=\"fix-error\"") && !again.contains("<img src=x") && again.contains("&lt;img src=x"))
            #expect(try await tc.store.ruleFixes().isEmpty)
            let saved = try await client.execute(uri: "/rules/test.markup/fix", method: .post, headers: headers,
                                                 body: WebAccessTests.form(["csrf": tina.csrf, "text": text, "link": "https://wiki.example/kb?a=1&b=2"]))
            #expect(saved.status == .seeOther && saved.headers[.location] == "/rules/test.markup")
            let page = WebAccessTests.body(try await client.execute(uri: "/rules/test.markup", method: .get, headers: tina.headers))
            #expect(!page.contains("<img src=x") && !page.contains("<script>alert"), "the fix and the rule's summary are escaped")
            #expect(page.contains("href=\"https://wiki.example/kb?a=1&amp;b=2\""))
            let list = WebAccessTests.body(try await client.execute(uri: "/rules", method: .get, headers: tina.headers))
            #expect(list.contains("href=\"/rules/test.markup\"") && !list.contains("<script>alert"))
            let audit = try await tc.store.auditLog(limit: 10, offset: 0).first { $0.action == "rule_fix_set" }
            #expect(audit?.actor == "tina" && audit?.detail.hasPrefix("web") == true)
            // Removing needs the token too.
            let unsigned = try await client.execute(uri: "/rules/test.markup/fix/delete", method: .post, headers: headers, body: WebAccessTests.form([:]))
            #expect(unsigned.status == .forbidden)
            #expect(try await tc.store.ruleFixes().count == 1)
            // An unknown rule is a 404 page.
            let unknown = try await client.execute(uri: "/rules/..%2F..%2Fetc", method: .get, headers: tina.headers)
            #expect(unknown.status == .notFound)
        }
    }
}
