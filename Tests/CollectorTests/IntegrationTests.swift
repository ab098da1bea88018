import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOSSL
import Synchronization
import Testing
@testable import Collector
@testable import Shared

/// Ticket integrations against real HTTP servers on 127.0.0.1 (`RemoteRecorder`) that
/// answer in each remote API's shapes and record what they get.
@Suite(.serialized) struct IntegrationTests {
    static let secret = "whsec-0123456789abcdef"
    static let finding = Finding(
        ruleID: "disk.root_full", category: .disk, severity: .high, confidence: 0.9, title: "The root file system is almost full",
        detail: "/ is 97% full", userAdvice: "Delete large files", technicianAdvice: "Grow the volume or clean /var/log",
        evidence: [Evidence(kind: "df", label: "/", value: "97% used, 310 MiB free")])

    static var quiet: Logger {
        var l = Logger(label: "test-integrations")
        l.logLevel = .critical
        return l
    }

    static func webhook(_ url: String, name: String = "hooks") -> IntegrationSettings {
        var s = IntegrationSettings(name: name, kind: "webhook", url: url)
        s.secret = secret
        return s
    }

    /// Runs `body` with a worker for `tc`'s backends; the worker's HTTP client is shut down after.
    static func withWorker<T: Sendable>(_ tc: TestCollector, _ body: (Driver) async throws -> T) async throws -> T {
        let http = IntegrationHTTP(limits: tc.configuration.limits)
        let worker = IntegrationWorker(outbox: tc.store, store: tc.store, backends: tc.configuration.integrations,
                                       limits: tc.configuration.limits, publicURL: { "https://helpline.test" }, logger: quiet,
                                       metrics: tc.metrics)
        do {
            let value = try await body(Driver(worker: worker, http: http))
            await http.shutdown()
            return value
        } catch {
            await http.shutdown()
            throw error
        }
    }

    /// A worker and the HTTP client it delivers with.
    struct Driver {
        let worker: IntegrationWorker
        let http: IntegrationHTTP
        func runOnce(now: Date) async throws -> Int { try await worker.runOnce(now: now, http: http) }
        func routeNewEvents(now: Date) async throws { try await worker.routeNewEvents(now: now) }
    }

    /// Runs the worker until `done` holds; fails after `seconds`.
    static func drive(_ worker: Driver, seconds: TimeInterval = 20, until done: () async throws -> Bool) async throws {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while Date() < deadline {
            _ = try await worker.runOnce(now: Date())
            if try await done() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the integration worker did not finish within \(seconds) s")
    }

    /// Enrolls a host and uploads `count` bundles (the second and later join the first's ticket).
    static func ticket(_ tc: TestCollector, bundles count: Int = 1, hostname: String = "laptop-42") async throws -> (ticket: Int64, bundles: [String]) {
        try await tc.app(integrationWorker: false).test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "m-\(hostname)", hostname: hostname)
            var ticket: Int64 = 0
            var ids: [String] = []
            for i in 0..<count {
                var m = sampleManifest(hostID: host.hostID, machineID: "m-\(hostname)", note: "The disk is full again \(i)")
                m.createdAt = Date().addingTimeInterval(Double(i))
                let r = try await upload(client, token: host.hostToken, try makeBundle(manifest: m))
                #expect(r.status == .created)
                ticket = try decode(BundleReceipt.self, r).ticketID
                ids.append(m.bundleID)
            }
            return (ticket, ids)
        }
    }

    /// HMAC-SHA256(secret, timestamp "." body), computed here independently of the collector.
    static func expectedSignature(_ r: Recorded, secret: String = secret) -> String {
        var message = Data("\(r.headers["helpline-timestamp"] ?? "").".utf8)
        message.append(r.body)
        return "v1=" + HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
            .map { String(format: "%02x", $0) }.joined()
    }

    // MARK: Webhook

    @Test func webhookGetsEverySignedEventOnceInOrder() async throws {
        let remote = RemoteRecorder()
        try await remote.serve { base in
            let tc = try await TestCollector(limits: ["incident_hosts": 1], diagnoser: FixedDiagnoser(findings: [Self.finding]),
                                             integrations: [Self.webhook(base + "/hook")])
            defer { Task { await tc.close() } }
            let (ticket, bundles) = try await Self.ticket(tc, bundles: 2)
            _ = try await tc.store.addComment(ticketID: ticket, author: "alice", body: "Internal: check the quota", visibleToUser: false, now: Date())
            _ = try await tc.store.addComment(ticketID: ticket, author: "alice", body: "Please empty the trash", visibleToUser: true, now: Date())
            _ = try await tc.store.updateTicket(id: ticket, status: .resolved, priority: nil, assignee: nil, now: Date())
            try await Self.withWorker(tc) { worker in
                try await Self.drive(worker) { remote.requests.count >= 5 }
                // Nothing more, however often it runs: every event went once.
                for _ in 0..<3 { _ = try await worker.runOnce(now: Date()) }
            }
            var got = remote.requests
            // A ticket's events arrive in order; the incident's (no ticket) may overtake when two workers run.
            #expect(got.map { $0.headers["helpline-event"] ?? "" }.filter { $0 != "incident.opened" } == ["ticket.opened", "ticket.joined", "ticket.updated", "ticket.resolved"])
            #expect(got.filter { $0.headers["helpline-event"] == "incident.opened" }.count == 1)
            let incident = try #require(got.first { $0.headers["helpline-event"] == "incident.opened" })
            got.removeAll { $0.headers["helpline-event"] == "incident.opened" }
            got.insert(incident, at: 1)
            #expect(Set(got.map { $0.headers["helpline-event-id"] ?? "" }).count == 5)
            for r in got {
                #expect(r.method == "POST" && r.path == "/hook")
                #expect(r.headers["content-type"] == "application/json")
                #expect(r.headers["helpline-signature"] == Self.expectedSignature(r), "signature of \(r.headers["helpline-event"] ?? "")")
                let ts = Int(r.headers["helpline-timestamp"] ?? "") ?? 0
                #expect(abs(Date().timeIntervalSince1970 - Double(ts)) < 60)
                #expect(!r.text.contains(Self.secret))
            }
            let opened = got[0].json
            #expect(opened["event"] as? String == "ticket.opened")
            #expect(opened["id"] as? String == got[0].headers["helpline-event-id"])
            let t = opened["ticket"] as? [String: Any] ?? [:]
            #expect(t["id"] as? Int == Int(ticket))
            #expect(t["url"] as? String == "https://helpline.test/tickets/\(ticket)")
            #expect((t["host"] as? [String: Any])?["hostname"] as? String == "laptop-42")
            let findings = t["findings"] as? [[String: Any]] ?? []
            #expect(findings.first?["rule_id"] as? String == "disk.root_full")
            #expect(((findings.first?["evidence"] as? [[String: Any]])?.first?["value"] as? String) == "97% used, 310 MiB free")
            #expect((opened["bundle"] as? [String: Any])?["id"] as? String == bundles[0])
            #expect((got[1].json["incident"] as? [String: Any])?["rule_id"] as? String == "disk.root_full")
            #expect((got[2].json["bundle"] as? [String: Any])?["id"] as? String == bundles[1])
            let reply = got[3].json["comment"] as? [String: Any]
            #expect(reply?["body"] as? String == "Please empty the trash")
            #expect(!got.contains { $0.text.contains("Internal: check the quota") })
            #expect((got[4].json["ticket"] as? [String: Any])?["status"] as? String == "resolved")
            let deliveries = try await tc.store.deliveries(status: nil, limit: 50, offset: 0)
            #expect(deliveries.count == 5 && deliveries.allSatisfy { $0.status == .delivered && $0.attempts == 1 })
        }
    }

    @Test func filtersChooseTheBackendsAndLinkedTicketsKeepSyncing() async throws {
        let remote = RemoteRecorder()
        try await remote.serve { base in
            var critical = Self.webhook(base + "/critical", name: "critical-only")
            critical.filter = IntegrationFilterSettings(minSeverity: "critical")
            var network = Self.webhook(base + "/network", name: "network-only")
            network.filter = IntegrationFilterSettings(categories: ["network"])
            var lab = Self.webhook(base + "/lab", name: "lab-hosts")
            lab.filter = IntegrationFilterSettings(categories: ["disk"], minSeverity: "medium", hostnames: ["LAB-*", "kiosk-??"])
            let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [critical, network, lab])
            defer { Task { await tc.close() } }
            _ = try await Self.ticket(tc, hostname: "lab-07")
            _ = try await Self.ticket(tc, hostname: "office-1")
            _ = try await Self.ticket(tc, hostname: "kiosk-12")
            try await Self.withWorker(tc) { worker in
                try await Self.drive(worker) { try await tc.store.unroutedEvents(limit: 1).isEmpty && remote.requests.count >= 2 }
                for _ in 0..<3 { _ = try await worker.runOnce(now: Date()) }
            }
            #expect(remote.requests.map(\.path) == ["/lab", "/lab"])
            let hosts = remote.requests.compactMap { (($0.json["ticket"] as? [String: Any])?["host"] as? [String: Any])?["hostname"] as? String }
            #expect(hosts == ["lab-07", "kiosk-12"])
        }
    }

    // MARK: Jira, Zendesk, GitHub

    @Test func jiraZendeskAndGitHubGetTheirRequestShapes() async throws {
        let remote = RemoteRecorder()
        remote.respond { r, _ in
            switch (r.method, r.path) {
            case ("POST", "/jira/rest/api/3/issue"): Reply(status: 201, body: #"{"id":"10001","key":"OPS-7","self":"x"}"#)
            case ("POST", "/zendesk/api/v2/tickets.json"): Reply(status: 201, body: #"{"ticket":{"id":4242,"status":"new"}}"#)
            case ("POST", "/github/repos/acme/desk/issues"):
                Reply(status: 201, body: #"{"number":17,"html_url":"https://github.example/acme/desk/issues/17","state":"open"}"#)
            case ("POST", "/jira/rest/api/3/issue/OPS-7/transitions"): Reply(status: 204, body: "")
            case ("GET", let path) where path.hasPrefix("/jira/rest/api/3/search/jql?"): Reply(body: #"{"issues":[],"isLast":true}"#)
            case ("GET", let path) where path.hasPrefix("/github/repos/acme/desk/issues?"): Reply(body: "[]")
            default: Reply(status: r.method == "POST" ? 201 : 200, body: "{}")
            }
        }
        try await remote.serve { base in
            var jira = IntegrationSettings(name: "jira", kind: "jira", url: base + "/jira")
            jira.user = "ops@example.com"; jira.token = "jira-token-123"; jira.project = "OPS"; jira.resolveTransition = "31"
            var zendesk = IntegrationSettings(name: "zendesk", kind: "zendesk", url: base + "/zendesk")
            zendesk.user = "agent@example.com"; zendesk.token = "zd-token-456"
            var github = IntegrationSettings(name: "github", kind: "github", url: base + "/github")
            github.token = "ghp-token-789"; github.project = "acme/desk"; github.labels = ["helpline", "desk"]
            let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [jira, zendesk, github])
            defer { Task { await tc.close() } }
            let (ticket, _) = try await Self.ticket(tc)
            _ = try await tc.store.addComment(ticketID: ticket, author: "alice", body: "An internal note", visibleToUser: false, now: Date())
            _ = try await tc.store.addComment(ticketID: ticket, author: "alice", body: "Please empty the trash", visibleToUser: true, now: Date())
            _ = try await tc.store.updateTicket(id: ticket, status: .resolved, priority: nil, assignee: nil, now: Date())
            try await Self.withWorker(tc) { worker in
                try await Self.drive(worker) { try await tc.store.deliveries(status: .delivered, limit: 50, offset: 0).count == 9 }
            }
            let got = remote.requests
            #expect(!got.contains { $0.text.contains("An internal note") })
            let opened = try #require(try await tc.store.deliveries(status: .delivered, limit: 50, offset: 0).first { $0.event.kind == .ticketOpened })
            let mark = "helpline-" + opened.event.uuid.lowercased()
            func route(_ r: Recorded) -> String { "\(r.method) \(r.path.split(separator: "?")[0])" }
            func query(_ r: Recorded) -> [String: String] {
                var out: [String: String] = [:]
                for item in URLComponents(string: "http://x" + r.path)?.queryItems ?? [] { out[item.name] = item.value }
                return out
            }

            // Jira: look for an issue with the ticket's mark (none), create, comment, transition.
            let jiraRequests = got.filter { $0.path.hasPrefix("/jira") }
            #expect(jiraRequests.map(route) == ["GET /jira/rest/api/3/search/jql", "POST /jira/rest/api/3/issue", "POST /jira/rest/api/3/issue/OPS-7/comment",
                                     "POST /jira/rest/api/3/issue/OPS-7/transitions"])
            #expect(jiraRequests.first.map(query)?["jql"] == "project = \"OPS\" AND labels = \"\(mark)\" ORDER BY created ASC")
            let j = Array(jiraRequests.dropFirst())
            #expect(j.allSatisfy { $0.headers["authorization"] == "Basic " + Data("ops@example.com:jira-token-123".utf8).base64EncodedString() })
            let fields = j.first?.json["fields"] as? [String: Any] ?? [:]
            #expect((fields["project"] as? [String: Any])?["key"] as? String == "OPS")
            #expect((fields["issuetype"] as? [String: Any])?["name"] as? String == "Task")
            #expect((fields["priority"] as? [String: Any])?["name"] as? String == "High")
            #expect((fields["summary"] as? String)?.hasPrefix("The root file system is almost full") == true)
            #expect((fields["labels"] as? [String]) == ["helpline", "category-disk", "severity-high", "rule-disk.root_full", mark])
            let description = fields["description"] as? [String: Any] ?? [:]
            #expect(description["type"] as? String == "doc" && description["version"] as? Int == 1)
            let adf = String(decoding: try JSONSerialization.data(withJSONObject: description), as: UTF8.self)
            #expect(adf.contains("97% used, 310 MiB free") && adf.contains("Grow the volume"))
            #expect(adf.contains("https:\\/\\/helpline.test\\/tickets\\/\(ticket)") || adf.contains("https://helpline.test/tickets/\(ticket)"))
            #expect(j.count == 3 && j[1].text.contains("Please empty the trash") && (j[1].json["body"] as? [String: Any])?["type"] as? String == "doc")
            #expect(j.count == 3 && ((j[2].json["transition"] as? [String: Any])?["id"] as? String) == "31")

            // Zendesk: create with an idempotency key, then updates.
            let z = got.filter { $0.path.hasPrefix("/zendesk") }
            #expect(z.map { "\($0.method) \($0.path)" } == ["POST /zendesk/api/v2/tickets.json", "PUT /zendesk/api/v2/tickets/4242.json",
                                                            "PUT /zendesk/api/v2/tickets/4242.json"])
            #expect(z.allSatisfy { $0.headers["authorization"] == "Basic " + Data("agent@example.com/token:zd-token-456".utf8).base64EncodedString() })
            let zt = z.first?.json["ticket"] as? [String: Any] ?? [:]
            #expect(zt["priority"] as? String == "high" && zt["external_id"] as? String == "helpline-\(ticket)")
            #expect(((zt["comment"] as? [String: Any])?["body"] as? String)?.contains("97% used, 310 MiB free") == true)
            #expect(z.first?.headers["idempotency-key"]?.hasPrefix("helpline-") == true)
            if z.count == 3 {
                let reply = (z[1].json["ticket"] as? [String: Any])?["comment"] as? [String: Any]
                #expect(reply?["public"] as? Bool == true && (reply?["body"] as? String)?.contains("Please empty the trash") == true)
                #expect((z[2].json["ticket"] as? [String: Any])?["status"] as? String == "solved")
            }

            // GitHub: look for an issue with the mark (none), issue, comment, close.
            let githubRequests = got.filter { $0.path.hasPrefix("/github") }
            #expect(githubRequests.map(route) == ["GET /github/repos/acme/desk/issues", "POST /github/repos/acme/desk/issues",
                                     "POST /github/repos/acme/desk/issues/17/comments", "PATCH /github/repos/acme/desk/issues/17",
                                     "POST /github/repos/acme/desk/issues/17/comments"])
            let list = githubRequests.first.map(query) ?? [:]
            #expect(list["state"] == "all" && list["sort"] == "created" && list["direction"] == "desc" && list["page"] == "1" && list["since"] != nil)
            #expect((githubRequests.dropFirst().first?.json["body"] as? String)?.hasSuffix("\n\n<!-- \(mark) -->") == true)
            let g = Array(githubRequests.dropFirst())
            #expect(g.allSatisfy { $0.headers["authorization"] == "Bearer ghp-token-789" && $0.headers["accept"] == "application/vnd.github+json" })
            let issue = g.first?.json ?? [:]
            #expect((issue["labels"] as? [String])?.contains("priority-high") == true && (issue["labels"] as? [String])?.contains("desk") == true)
            #expect((issue["body"] as? String)?.contains("[Open in Helpline](https://helpline.test/tickets/\(ticket))") == true)
            #expect(g.contains { $0.method == "PATCH" && $0.json["state"] as? String == "closed" })

            // The remote keys are on the ticket: store, API and page.
            let links = try await tc.store.remoteLinks(ticketID: ticket)
            #expect(links.map { "\($0.backend)=\($0.remoteKey)" } == ["github=17", "jira=OPS-7", "zendesk=4242"])
            #expect(links.first { $0.backend == "jira" }?.remoteURL == base + "/jira/browse/OPS-7")
            let admin = try await tc.apiToken("root", role: .admin)
            let browser = try await WebAccessTests.session(tc, user: "bob", role: .admin)
            try await tc.app(integrationWorker: false).test(.router) { client in
                let api = try await client.execute(uri: "/api/v1/tickets/\(ticket)", method: .get, headers: [.authorization: "Bearer \(admin)"])
                #expect(try decode(TicketDetail.self, api).remoteLinks.map(\.remoteKey) == ["17", "OPS-7", "4242"])
                let page = try await client.execute(uri: "/tickets/\(ticket)", method: .get, headers: browser.headers)
                let html = String(buffer: page.body)
                #expect(html.contains("OPS-7") && html.contains("https://github.example/acme/desk/issues/17") && html.contains("In zendesk"))
            }
            // No secret in any delivery row an admin can read.
            let rows = String(decoding: try BundleJSON.encoder().encode(try await tc.store.deliveries(status: nil, limit: 50, offset: 0)), as: UTF8.self)
            #expect(!rows.contains("jira-token-123") && !rows.contains("zd-token-456") && !rows.contains("ghp-token-789"))
        }
    }

    /// A tracker that makes the issue but whose answer is lost — Jira behind a proxy answering
    /// 502, GitHub answering after the request timeout — gets one issue, not two: the retry,
    /// no sooner than integration_create_settle_seconds, finds it by its mark and adopts it.
    @Test func aCreateWhoseAnswerWasLostIsAdoptedNotMadeTwice() async throws {
        struct Tracker { var jira: [(key: String, labels: [String])] = []; var github: [String] = []; var at: [(String, Date)] = [] }
        let tracker = Mutex(Tracker())
        let remote = RemoteRecorder()
        remote.respond { r, _ in
            tracker.withLock { t in
                let route = "\(r.method) \(r.path.split(separator: "?")[0])"
                t.at.append((route, Date()))
                switch route {
                case "POST /jira/rest/api/3/issue":
                    t.jira.append((key: "OPS-\(t.jira.count + 1)", labels: (r.json["fields"] as? [String: Any])?["labels"] as? [String] ?? []))
                    return Reply(status: 502, body: "<html>Bad Gateway</html>")
                case "GET /jira/rest/api/3/search/jql":
                    let jql = URLComponents(string: "http://x" + r.path)?.queryItems?.first { $0.name == "jql" }?.value ?? ""
                    let found = t.jira.filter { issue in issue.labels.contains { jql.contains("labels = \"\($0)\"") && $0.hasPrefix("helpline-") } }
                    let issues = found.map { #"{"id":"1","key":"\#($0.key)"}"# }.joined(separator: ",")
                    return Reply(body: #"{"issues":[\#(issues)],"isLast":true}"#)
                case "POST /github/repos/acme/desk/issues":
                    t.github.append(r.json["body"] as? String ?? "")
                    return Reply(status: 201, body: #"{"number":\#(t.github.count),"state":"open"}"#, delayMS: 2500)
                case "GET /github/repos/acme/desk/issues":
                    let list = t.github.enumerated().reversed().map { i, body in
                        ["number": i + 1, "body": body, "state": "open", "html_url": "https://github.example/acme/desk/issues/\(i + 1)",
                         "created_at": ISO8601DateFormatter().string(from: Date())] as [String: Any]
                    }
                    return Reply(body: String(decoding: try! JSONSerialization.data(withJSONObject: list), as: UTF8.self))
                default:
                    return Reply(status: 201)
                }
            }
        }
        try await remote.serve { base in
            var jira = IntegrationSettings(name: "jira", kind: "jira", url: base + "/jira")
            jira.user = "ops@example.com"; jira.token = "jira-token-123"; jira.project = "OPS"
            var github = IntegrationSettings(name: "github", kind: "github", url: base + "/github")
            github.token = "ghp-token-789"; github.project = "acme/desk"
            let tc = try await TestCollector(limits: ["integration_backoff_base_ms": 50, "integration_request_timeout_seconds": 1,
                                                      "integration_create_settle_seconds": 2],
                                             diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [jira, github])
            defer { Task { await tc.close() } }
            let (ticket, _) = try await Self.ticket(tc)
            try await Self.withWorker(tc) { worker in
                try await Self.drive(worker, seconds: 30) { try await tc.store.deliveries(status: .delivered, limit: 50, offset: 0).count == 2 }
            }
            let t = tracker.withLock { $0 }
            #expect(t.jira.count == 1 && t.github.count == 1, "one issue on each tracker: \(t.jira.map(\.key)), \(t.github.count)")
            #expect(try await tc.store.remoteLinks(ticketID: ticket).map { "\($0.backend)=\($0.remoteKey)" } == ["github=1", "jira=OPS-1"])
            for d in try await tc.store.deliveries(status: .delivered, limit: 50, offset: 0) {
                #expect(d.attempts == 2, "\(d.backend): the lost create, then the look-up that adopted it")
            }
            // The retry waited out the settle time after the create whose answer was lost.
            for (tracker, route) in [("jira", "POST /jira/rest/api/3/issue"), ("github", "POST /github/repos/acme/desk/issues")] {
                let create = try #require(t.at.first { $0.0 == route })
                let lookups = t.at.filter { $0.0.hasPrefix("GET /\(tracker)/") }
                #expect(lookups.count == 2, "\(tracker): \(lookups.map(\.0))")
                if let retry = lookups.last {
                    #expect(retry.1.timeIntervalSince(create.1) >= 2, "\(tracker) retried \(retry.1.timeIntervalSince(create.1)) s after the create")
                }
            }
        }
    }

    /// GitHub's look-up reads the issue list newest first, 30 a page: the issue an earlier
    /// attempt made, behind 40 newer ones, is found on page 2 with integration_lookup_max_pages 2,
    /// and not with 1 (a second issue is then made: the limit's price); a page whose issues are
    /// older than the ticket (by over an hour) ends the look-up at once.
    @Test func gitHubsLookUpReadsUpToItsPageLimitAndStopsAtOlderIssues() async throws {
        for (pages, older, expectCreate, expectLists) in [(2, false, false, 2), (1, false, true, 1), (5, true, true, 1)] {
            let remote = RemoteRecorder()
            let mark = Mutex("")
            remote.respond { r, _ in
                guard r.method == "GET" else { return Reply(status: 201, body: #"{"number":999,"state":"open"}"#) }
                let query = URLComponents(string: "http://x" + r.path)?.queryItems ?? []
                let page = Int(query.first { $0.name == "page" }?.value ?? "") ?? 0
                let size = Int(query.first { $0.name == "per_page" }?.value ?? "") ?? 0
                let made = ISO8601DateFormatter().string(from: Date().addingTimeInterval(older ? -7300 : 0))
                // 40 unrelated issues (and a pull request), then the one an earlier attempt made.
                // Each body longer than integration_max_response_bytes (1024 here): a page is read
                // up to what GitHub's largest issues take, whatever that limit says.
                let long = "someone else's issue " + String(repeating: "x", count: 1500)
                var all: [[String: Any]] = (0..<40).map { ["number": 1000 - $0, "body": long, "created_at": made] }
                all.insert(["number": 5000, "pull_request": ["url": "x"], "body": "a PR", "created_at": made], at: 10)
                all.append(["number": 42, "body": "Helpline ticket\n\n" + mark.withLock { $0 }, "created_at": made, "state": "open"])
                let slice = size == 30 ? Array(all.dropFirst((page - 1) * size).prefix(size)) : []
                return Reply(body: String(decoding: try! JSONSerialization.data(withJSONObject: slice), as: UTF8.self))
            }
            try await remote.serve { base in
                var github = IntegrationSettings(name: "github", kind: "github", url: base + "/github")
                github.token = "ghp-token-789"; github.project = "acme/desk"
                let tc = try await TestCollector(limits: ["integration_lookup_max_pages": pages, "integration_max_response_bytes": 1024],
                                                 diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [github])
                defer { Task { await tc.close() } }
                let (ticket, _) = try await Self.ticket(tc)
                let event = try #require(try await tc.store.unroutedEvents(limit: 5).first { $0.kind == .ticketOpened })
                mark.withLock { $0 = "<!-- helpline-\(event.uuid.lowercased()) -->" }
                try await Self.withWorker(tc) { worker in
                    try await Self.drive(worker) { try await tc.store.deliveries(status: .delivered, limit: 5, offset: 0).count == 1 }
                }
                let lists = remote.requests.filter { $0.method == "GET" }.count
                let creates = remote.requests.filter { $0.method == "POST" }.count
                #expect(lists == expectLists && creates == (expectCreate ? 1 : 0), "pages \(pages), older \(older): \(lists) lists, \(creates) creates")
                let link = try await tc.store.remoteLinks(ticketID: ticket).first?.remoteKey
                #expect(link == (expectCreate ? "999" : "42"), "pages \(pages), older \(older)")
            }
        }
    }

    // MARK: Durable delivery
    // MARK: Durable delivery

    @Test func aRemoteFailingThreeTimesThenSucceedingGetsTheEventOnce() async throws {
        let remote = RemoteRecorder()
        remote.respond { _, n in n <= 3 ? Reply(status: 503, body: #"{"error":"busy"}"#) : Reply() }
        try await remote.serve { base in
            let tc = try await TestCollector(limits: ["integration_backoff_base_ms": 50, "integration_max_attempts": 5],
                                             diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [Self.webhook(base + "/hook")])
            defer { Task { await tc.close() } }
            _ = try await Self.ticket(tc)
            try await Self.withWorker(tc) { worker in
                try await Self.drive(worker) { try await tc.store.deliveries(status: .delivered, limit: 5, offset: 0).count == 1 }
                for _ in 0..<3 { _ = try await worker.runOnce(now: Date().addingTimeInterval(3600)) }
            }
            let got = remote.requests
            #expect(got.count == 4)
            #expect(Set(got.map { $0.headers["helpline-event-id"] ?? "" }).count == 1, "every attempt carries the same idempotency key")
            let d = try #require(try await tc.store.deliveries(status: nil, limit: 5, offset: 0).first)
            #expect(d.status == .delivered && d.attempts == 4)
            let metrics = tc.metrics.render().split(separator: "\n").filter { $0.hasPrefix("helpline_integration_deliveries_total{") }
            #expect(metrics.contains { $0.contains("outcome=\"retry\"") && $0.contains("backend=\"hooks\"") && $0.hasSuffix(" 3") })
            #expect(metrics.contains { $0.contains("outcome=\"delivered\"") && $0.hasSuffix(" 1") })
        }
    }

    @Test func deadLetteredAtTheLimitAndAnAdminRetryDeliversIt() async throws {
        let remote = RemoteRecorder()
        remote.respond { _, _ in Reply(status: 500) }
        try await remote.serve { base in
            let tc = try await TestCollector(limits: ["integration_backoff_base_ms": 1, "integration_max_attempts": 3],
                                             diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [Self.webhook(base + "/hook")])
            defer { Task { await tc.close() } }
            _ = try await Self.ticket(tc)
            try await Self.withWorker(tc) { worker in
                try await Self.drive(worker) { try await tc.store.deliveries(status: .dead, limit: 5, offset: 0).count == 1 }
                for _ in 0..<5 { _ = try await worker.runOnce(now: Date()); try await Task.sleep(for: .milliseconds(10)) }
                #expect(remote.requests.count == 3, "exactly integration_max_attempts attempts, then nothing")
                let dead = try #require(try await tc.store.deliveries(status: .dead, limit: 5, offset: 0).first)
                #expect(dead.attempts == 3 && dead.lastStatusCode == 500 && dead.lastError?.contains("gave up after 3 attempts") == true)

                remote.respond { _, _ in Reply() }
                let admin = try await tc.apiToken("root", role: .admin)
                let tech = try await tc.apiToken("tech", role: .technician)
                try await tc.app(integrationWorker: false).test(.router) { client in
                    let denied = try await client.execute(uri: "/api/v1/integrations/deliveries/\(dead.id)/retry", method: .post,
                                                          headers: [.authorization: "Bearer \(tech)"])
                    #expect(denied.status == .forbidden)
                    let list = try await client.execute(uri: "/api/v1/integrations/deliveries?status=dead", method: .get,
                                                        headers: [.authorization: "Bearer \(admin)"])
                    #expect(list.status == .ok && String(buffer: list.body).contains("\"hooks\"") && !String(buffer: list.body).contains(Self.secret))
                    let backends = try JSONSerialization.jsonObject(with: Data(buffer: list.body)) as? [String: Any]
                    let hooks = (backends?["backends"] as? [[String: Any]])?.first { $0["name"] as? String == "hooks" }
                    #expect(hooks?["trust"] as? String == "none" && hooks?["caCertificates"] == nil, "an http:// backend verifies nothing")
                    let r = try await client.execute(uri: "/api/v1/integrations/deliveries/\(dead.id)/retry", method: .post,
                                                     headers: [.authorization: "Bearer \(admin)"])
                    #expect(r.status == .ok)
                    let missing = try await client.execute(uri: "/api/v1/integrations/deliveries/999999/retry", method: .post,
                                                           headers: [.authorization: "Bearer \(admin)"])
                    #expect(missing.status == .notFound)
                }
                try await Self.drive(worker) { try await tc.store.deliveries(status: .delivered, limit: 5, offset: 0).count == 1 }
                #expect(remote.requests.count == 4)
                let done = try #require(try await tc.store.delivery(id: dead.id))
                #expect(done.status == .delivered)
                try await tc.app(integrationWorker: false).test(.router) { client in
                    let r = try await client.execute(uri: "/api/v1/integrations/deliveries/\(dead.id)/retry", method: .post,
                                                     headers: [.authorization: "Bearer \(admin)"])
                    #expect(r.status == .conflict, "a delivered event is never sent again")
                }
            }
        }
    }

    @Test func theAdminPageListsDeliveriesAndItsRetryPutsOneBackInLine() async throws {
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [Self.webhook("http://127.0.0.1:9/hook")])
        defer { Task { await tc.close() } }
        _ = try await Self.ticket(tc)
        let event = try #require(try await tc.store.unroutedEvents(limit: 5).first)
        try await tc.store.route(eventID: event.id, to: ["hooks"], now: Date())
        let claim = try #require(try await tc.store.claimDelivery(backends: ["hooks"], now: Date(), lease: 60))
        #expect(try await tc.store.completeDelivery(id: claim.delivery.id, claimToken: claim.claimToken,
                                                    outcome: .failed(error: "POST http://127.0.0.1:9/hook answered 401: <b>no</b>", statusCode: 401, retryAt: nil), now: Date()))
        let admin = try await WebAccessTests.session(tc, user: "bob", role: .admin)
        let tech = try await WebAccessTests.session(tc, user: "alice", role: .technician)
        try await tc.app(integrationWorker: false).test(.router) { client in
            let page = try await client.execute(uri: "/admin/integrations?status=dead", method: .get, headers: admin.headers)
            let html = String(buffer: page.body)
            #expect(page.status == .ok)
            #expect(html.contains("hooks") && html.contains("ticket.opened") && html.contains(">dead<"))
            #expect(html.contains("action=\"/admin/integrations/deliveries/\(claim.delivery.id)/retry\"") && html.contains(admin.csrf))
            #expect(html.contains("&lt;b&gt;no&lt;/b&gt;") && !html.contains("<b>no</b>"), "remote error text is escaped")
            #expect(!html.contains(Self.secret))
            let none = try await client.execute(uri: "/admin/integrations?status=delivered", method: .get, headers: admin.headers)
            #expect(String(buffer: none.body).contains("No deliveries."))
            let denied = try await client.execute(uri: "/admin/integrations", method: .get, headers: tech.headers)
            #expect(denied.status == .forbidden)
            let noToken = try await client.execute(uri: "/admin/integrations/deliveries/\(claim.delivery.id)/retry", method: .post,
                                                   headers: WebAccessTests.merge(admin.headers, WebAccessTests.formType), body: WebAccessTests.form([:]))
            #expect(noToken.status == .forbidden, "the form token is required")
            let retry = try await client.execute(uri: "/admin/integrations/deliveries/\(claim.delivery.id)/retry", method: .post,
                                                 headers: WebAccessTests.merge(admin.headers, WebAccessTests.formType),
                                                 body: WebAccessTests.form(["csrf": admin.csrf]))
            #expect(retry.status == .seeOther && retry.headers[.location] == "/admin/integrations")
        }
        let row = try #require(try await tc.store.delivery(id: claim.delivery.id))
        #expect(row.status == .pending && row.attempts == 0)
        #expect(try await tc.store.auditLog(limit: 10, offset: 0).contains { $0.action == "integration_retry" && $0.actor == "bob" })
    }

    @Test func aClaimIsHeldByOneWorkerAndAnExpiredLeaseIsClaimedAgain() async throws {
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [Self.webhook("http://127.0.0.1:9/hook")])
        defer { Task { await tc.close() } }
        _ = try await Self.ticket(tc)
        let event = try #require(try await tc.store.unroutedEvents(limit: 5).first)
        try await tc.store.route(eventID: event.id, to: ["hooks"], now: Date())
        let now = Date()
        // Two workers claim at once: exactly one gets it.
        async let a = tc.store.claimDelivery(backends: ["hooks"], now: now, lease: 60)
        async let b = tc.store.claimDelivery(backends: ["hooks"], now: now, lease: 60)
        let claims = [try await a, try await b].compactMap { $0 }
        #expect(claims.count == 1)
        let first = try #require(claims.first)
        // Still held just before the lease ends; free again after it.
        #expect(try await tc.store.claimDelivery(backends: ["hooks"], now: now.addingTimeInterval(59), lease: 60) == nil)
        let second = try #require(try await tc.store.claimDelivery(backends: ["hooks"], now: now.addingTimeInterval(61), lease: 60))
        #expect(second.delivery.id == first.delivery.id && second.claimToken != first.claimToken)
        // The first worker's late answer is refused; the holder's is recorded.
        #expect(try await !tc.store.completeDelivery(id: first.delivery.id, claimToken: first.claimToken, outcome: .delivered(link: nil), now: Date()))
        #expect(try await tc.store.completeDelivery(id: second.delivery.id, claimToken: second.claimToken, outcome: .delivered(link: nil), now: Date()))
        #expect(try await tc.store.claimDelivery(backends: ["hooks"], now: now.addingTimeInterval(7200), lease: 60) == nil)
    }

    @Test func aRemoteKeyAnotherTicketHoldsIsNotLinkedTwice() async throws {
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [Self.webhook("http://127.0.0.1:9/hook")])
        defer { Task { await tc.close() } }
        let (first, _) = try await Self.ticket(tc)
        let (second, _) = try await Self.ticket(tc, hostname: "other")
        let events = try await tc.store.unroutedEvents(limit: 5)
        #expect(events.count == 2)
        for e in events { try await tc.store.route(eventID: e.id, to: ["hooks"], now: Date()) }
        let link = TicketRemoteLink(backend: "hooks", remoteKey: "OPS-1", remoteURL: nil, remoteStatus: nil, createdAt: Date(), updatedAt: Date())
        for _ in 0..<2 {
            let claim = try #require(try await tc.store.claimDelivery(backends: ["hooks"], now: Date(), lease: 60))
            #expect(try await tc.store.completeDelivery(id: claim.delivery.id, claimToken: claim.claimToken, outcome: .delivered(link: link), now: Date()))
        }
        #expect(try await tc.store.remoteLinks(ticketID: first).map(\.remoteKey) == ["OPS-1"])
        #expect(try await tc.store.remoteLinks(ticketID: second).isEmpty)
        let rows = try await tc.store.deliveries(status: .delivered, limit: 5, offset: 0)
        #expect(rows.count == 2 && rows.contains { $0.lastError?.contains("already ticket #\(first)") == true })
    }

    @Test func retentionRemovesFinishedDeliveriesAfterTheirDaysAndKeepsWaitingOnes() async throws {
        // The filter matches no host: the app's own worker (running while `ticket` uploads)
        // routes the events to nobody and sends nothing; the test routes them itself.
        var hook = Self.webhook("http://127.0.0.1:9/hook")
        hook.filter = IntegrationFilterSettings(hostnames: ["no-such-host"])
        let tc = try await TestCollector(limits: ["integration_retention_days": 2], diagnoser: FixedDiagnoser(findings: [Self.finding]),
                                         integrations: [hook])
        defer { Task { await tc.close() } }
        _ = try await Self.ticket(tc)
        _ = try await Self.ticket(tc, hostname: "second")
        let events = try await DatabaseQueue(path: tc.configuration.databasePath).read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM integration_events ORDER BY id")
        }
        #expect(events.count == 2)
        let now = Date()
        for e in events { try await tc.store.route(eventID: e, to: ["hooks"], now: now) }
        // The first is delivered; the second's ticket waits behind nothing, but stays pending.
        let claim = try #require(try await tc.store.claimDelivery(backends: ["hooks"], now: now, lease: 60))
        #expect(try await tc.store.completeDelivery(id: claim.delivery.id, claimToken: claim.claimToken, outcome: .delivered(link: nil), now: now))
        let twoDays: TimeInterval = 2 * 86_400
        #expect(try await tc.store.pruneIntegrationHistory(before: now.addingTimeInterval(-1)) == 0, "younger than the cutoff: kept")
        let retention = RetentionService(store: tc.store, blobs: try BlobStore(dataDirectory: tc.configuration.dataDirectory),
                                         limits: tc.configuration.limits, metrics: tc.metrics, logger: Self.quiet)
        _ = try await retention.runOnce(now: now.addingTimeInterval(twoDays - 5))
        #expect(try await tc.store.deliveries(status: nil, limit: 10, offset: 0).count == 2)
        _ = try await retention.runOnce(now: now.addingTimeInterval(twoDays + 5))
        let left = try await tc.store.deliveries(status: nil, limit: 10, offset: 0)
        #expect(left.map(\.status) == [.pending], "the delivered one and its event went; the waiting one stays")
    }

    @Test func backoffDoublesUpToItsCapAndHonoursRetryAfter() throws {
        #expect(IntegrationWorker.backoff(attempts: 1, baseMS: 5000, maxSeconds: 3600, retryAfter: nil) == 5)
        #expect(IntegrationWorker.backoff(attempts: 2, baseMS: 5000, maxSeconds: 3600, retryAfter: nil) == 10)
        #expect(IntegrationWorker.backoff(attempts: 4, baseMS: 5000, maxSeconds: 3600, retryAfter: nil) == 40)
        #expect(IntegrationWorker.backoff(attempts: 11, baseMS: 5000, maxSeconds: 3600, retryAfter: nil) == 3600)
        #expect(IntegrationWorker.backoff(attempts: 1000, baseMS: 86_400_000, maxSeconds: 604_800, retryAfter: nil) == 604_800)
        #expect(IntegrationWorker.backoff(attempts: 1, baseMS: 1000, maxSeconds: 3600, retryAfter: 120) == 120)
        #expect(IntegrationWorker.backoff(attempts: 1, baseMS: 1000, maxSeconds: 60, retryAfter: 999_999) == 60)
    }

    @Test func aCollectorRestartedWithUndeliveredEventsDeliversThem() async throws {
        let remote = RemoteRecorder()
        remote.respond { _, _ in Reply(status: 503) }
        try await remote.serve { base in
            let dir = try TempDir()
            defer { dir.cleanup() }
            try Data((Self.secret + "\n").utf8).write(to: URL(fileURLWithPath: dir.file("secret")))
            let flags = ["--webhook-url", base + "/hook", "--webhook-secret-file", dir.file("secret"),
                         "--limit", "integration_backoff_base_ms=100", "--limit", "integration_backoff_max_seconds=1",
                         "--limit", "integration_poll_interval_ms=50", "--limit", "integration_lease_seconds=5"]
            var server = try LiveServer.start(dataDir: dir.file("data"), extra: flags)
            defer { server.kill() }
            let host = try server.enroll(secret: server.firstStart.secret, machineID: "restart-1")
            let manifest = sampleManifest(hostID: host.hostID, machineID: "restart-1")
            try Data(try makeBundle(manifest: manifest)).write(to: URL(fileURLWithPath: dir.file("b.tar.gz")))
            let up = try server.curl(["-X", "POST", "-H", "Authorization: Bearer \(host.hostToken)", "-H", "Content-Type: application/gzip",
                                      "--data-binary", "@" + dir.file("b.tar.gz"), "/api/v1/bundles"])
            #expect(up.status == 201)
            // The remote is down: the collector tries, fails, and is stopped with the event undelivered.
            var deadline = Date(timeIntervalSinceNow: 30)
            while remote.requests.isEmpty && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!remote.requests.isEmpty)
            #expect(server.terminate() == 0)
            let failedAttempts = remote.requests.count

            remote.respond { _, _ in Reply() }
            server = try LiveServer.start(dataDir: dir.file("data"), extra: flags)
            deadline = Date(timeIntervalSinceNow: 30)
            while remote.requests.count <= failedAttempts, Date() < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(500))
            #expect(server.terminate() == 0)
            let got = remote.requests
            #expect(got.count == failedAttempts + 1, "one successful delivery after the restart, then nothing")
            let last = try #require(got.last)
            #expect(last.headers["helpline-event"] == "ticket.opened")
            #expect(last.headers["helpline-signature"] == Self.expectedSignature(last), "signed with the key from --webhook-secret-file, newline dropped")
            #expect(Set(got.map { $0.headers["helpline-event-id"] ?? "" }).count == 1)
            let store = try SQLiteStore(path: dir.file("data") + "/collector.sqlite")
            let rows = try await store.deliveries(status: nil, limit: 5, offset: 0)
            try await store.close()
            #expect(rows.count == 1 && rows.first?.status == .delivered && rows.first?.attempts == failedAttempts + 1)
        }
    }

    // MARK: Outbound limits

    @Test func outboundRequestsHaveATimeoutABoundedAnswerAndNoRedirects() async throws {
        let remote = RemoteRecorder()
        remote.respond { r, _ in
            switch r.path {
            case "/slow": Reply(delayMS: 2500)
            case "/big": Reply(body: "\"" + String(repeating: "x", count: 1100) + "\"")
            case "/fits": Reply(body: "\"" + String(repeating: "x", count: 1022) + "\"")
            case "/moved": Reply(status: 302, headers: ["Location": "http://127.0.0.2:9/steal"])
            case "/refused": Reply(status: 401, body: #"{"message":"bad credentials"}"#)
            default: Reply()
            }
        }
        try await remote.serve { base in
            let names = ["slow", "big", "fits", "moved", "refused"]
            // Nothing listens on port 9 (discard): the connection is refused.
            let tc = try await TestCollector(limits: ["integration_request_timeout_seconds": 1, "integration_max_response_bytes": 1024,
                                                      "integration_max_attempts": 1],
                                             diagnoser: FixedDiagnoser(findings: [Self.finding]),
                                             integrations: names.map { Self.webhook(base + "/" + $0, name: $0) }
                                                 + [Self.webhook("http://127.0.0.1:9/down", name: "down")])
            defer { Task { await tc.close() } }
            _ = try await Self.ticket(tc)
            let started = Date()
            try await Self.withWorker(tc) { worker in
                try await Self.drive(worker) {
                    let all = try await tc.store.deliveries(status: nil, limit: 50, offset: 0)
                    return all.count == 6 && all.allSatisfy { $0.status == .delivered || $0.status == .dead }
                }
            }
            #expect(Date().timeIntervalSince(started) < 15)
            let rows = Dictionary(uniqueKeysWithValues: try await tc.store.deliveries(status: nil, limit: 50, offset: 0).map { ($0.backend, $0) })
            #expect(rows["fits"]?.status == .delivered, "an answer of exactly integration_max_response_bytes is read")
            #expect(rows["big"]?.status == .dead && rows["big"]?.lastError?.contains("integration_max_response_bytes") == true)
            #expect(rows["slow"]?.status == .dead && rows["slow"]?.lastError?.contains("integration_request_timeout_seconds") == true)
            #expect(rows["moved"]?.status == .dead && rows["moved"]?.lastError?.contains("redirect") == true)
            #expect(rows["refused"]?.status == .dead && rows["refused"]?.lastStatusCode == 401)
            // A refused connection fails the attempt with its own error, not the timeout's
            // (AsyncHTTPClient's connection retries are off).
            #expect(rows["down"]?.status == .dead && rows["down"]?.lastError?.contains("check the URL and that the collector can reach it") == true,
                    "\(rows["down"]?.lastError ?? "")")
            #expect(remote.requests.filter { $0.path == "/moved" }.count == 1 && !remote.requests.contains { $0.path == "/steal" })
        }
    }

    /// Makes a CA (`NAME-ca.pem`, `NAME-ca.key`) and, signed by it, a certificate for
    /// 127.0.0.1 (`NAME.pem`, `NAME.key`) with openssl, in `dir`.
    static func makeCA(_ dir: TempDir, _ name: String) throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "openssl is missing; scripts/setup.sh installs it")
        let ca = dir.file("\(name)-ca"), leaf = dir.file(name)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: dir.file("ext.cnf"), atomically: true, encoding: .utf8)
        for step in [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=\(name) internal CA", "-keyout", ca + ".key", "-out", ca + ".pem"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", leaf + ".key", "-out", leaf + ".csr"],
            ["x509", "-req", "-in", leaf + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial", "-days", "2",
             "-extfile", dir.file("ext.cnf"), "-out", leaf + ".pem"],
        ] {
            let r = try Process.run("/usr/bin/openssl", step)
            try #require(r.status == 0, "openssl \(step[0]): \(r.error)")
        }
    }

    /// A tracker on the company network behind an internal CA: `ca_file` makes the backend
    /// trust that CA (and only it); without it, or with another CA, the handshake fails and
    /// the delivery says what to set. Nothing reaches the remote from a backend that does not
    /// trust it, nor from one that offers less than TLS 1.2.
    @Test func aTrackerBehindAnInternalCAIsReachedWithItsCAFile() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try Self.makeCA(dir, "desk")
        try Self.makeCA(dir, "other")
        let chain = try NIOSSLCertificate.fromPEMFile(dir.file("desk.pem")).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: dir.file("desk.key"), format: .pem)
        let remote = RemoteRecorder()
        try await remote.serve(tls: serverTLSConfiguration(certificateChain: chain, privateKey: key)) { base in
            #expect(base.hasPrefix("https://"))
            var trusted = Self.webhook(base + "/trusted", name: "trusted")
            trusted.caFile = dir.file("desk-ca.pem")
            let system = Self.webhook(base + "/system", name: "system")
            var other = Self.webhook(base + "/other", name: "other")
            other.caFile = dir.file("other-ca.pem")
            // A failed handshake ends the attempt at once: with a 60 s request timeout, the two
            // distrusted backends are dead well within `drive`'s 20 s (AsyncHTTPClient, left to
            // itself, retried the connection until the timeout).
            let tc = try await TestCollector(limits: ["integration_max_attempts": 1, "integration_request_timeout_seconds": 60],
                                             diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [trusted, system, other])
            defer { Task { await tc.close() } }
            _ = try await Self.ticket(tc)
            let started = Date()
            try await Self.withWorker(tc) { worker in
                try await Self.drive(worker) {
                    let all = try await tc.store.deliveries(status: nil, limit: 50, offset: 0)
                    return all.count == 3 && all.allSatisfy { $0.status == .delivered || $0.status == .dead }
                }
            }
            #expect(Date().timeIntervalSince(started) < 30, "a failed handshake ends its attempt at once, not after the 60 s timeout")
            let rows = Dictionary(uniqueKeysWithValues: try await tc.store.deliveries(status: nil, limit: 50, offset: 0).map { ($0.backend, $0) })
            #expect(rows["trusted"]?.status == .delivered)
            #expect(rows["system"]?.status == .dead)
            #expect(rows["system"]?.lastError?.contains("TLS handshake failed") == true, "\(rows["system"]?.lastError ?? "")")
            #expect(rows["system"]?.lastError?.contains("set ca_file") == true)
            #expect(rows["other"]?.status == .dead)
            #expect(rows["other"]?.lastError?.contains("the CAs in this backend's ca_file") == true, "\(rows["other"]?.lastError ?? "")")
            #expect(remote.requests.map(\.path) == ["/trusted"])
            #expect(remote.requests.first?.headers["helpline-signature"] == Self.expectedSignature(remote.requests[0]))
            // The admin API says whose certificates each backend trusts.
            let admin = try await tc.apiToken("root", role: .admin)
            try await tc.app(integrationWorker: false).test(.router) { client in
                let list = try await client.execute(uri: "/api/v1/integrations/deliveries", method: .get, headers: [.authorization: "Bearer \(admin)"])
                #expect(list.status == .ok)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: list.body)) as? [String: Any]
                let shown = Dictionary(uniqueKeysWithValues: ((body?["backends"] as? [[String: Any]]) ?? []).map { ($0["name"] as? String ?? "", $0) })
                #expect(shown["trusted"]?["trust"] as? String == "ca_file" && shown["trusted"]?["caCertificates"] as? Int == 1)
                #expect(shown["system"]?["trust"] as? String == "system" && shown["system"]?["caCertificates"] == nil)
                #expect(shown["other"]?["trust"] as? String == "ca_file")
            }
        }
        // The trusted CA's remote at TLS 1.1 at most: refused, TLS 1.2 is the minimum.
        var legacyTLS = serverTLSConfiguration(certificateChain: chain, privateKey: key)
        legacyTLS.minimumTLSVersion = .tlsv1
        legacyTLS.maximumTLSVersion = .tlsv11
        let legacy = RemoteRecorder()
        try await legacy.serve(tls: legacyTLS) { base in
            var old = Self.webhook(base + "/legacy", name: "legacy")
            old.caFile = dir.file("desk-ca.pem")
            let tc = try await TestCollector(limits: ["integration_max_attempts": 1, "integration_request_timeout_seconds": 60],
                                             diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [old])
            defer { Task { await tc.close() } }
            _ = try await Self.ticket(tc)
            let started = Date()
            try await Self.withWorker(tc) { worker in
                try await Self.drive(worker) { try await tc.store.deliveries(status: .dead, limit: 50, offset: 0).count == 1 }
            }
            #expect(Date().timeIntervalSince(started) < 30)
            #expect(try await tc.store.deliveries(status: .dead, limit: 50, offset: 0).first?.lastError?.contains("TLS handshake failed") == true)
            #expect(legacy.requests.isEmpty)
        }
    }

    /// `ca_file` is checked when the configuration loads: https only, a readable file, PEM
    /// certificates, at most `integration_max_ca_file_bytes` (a file of exactly that size
    /// loads, by default and when set).
    @Test func aBadCAFileStopsTheConfigurationNamingIt() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try Self.makeCA(dir, "desk")
        let pem = try String(contentsOfFile: dir.file("desk-ca.pem"), encoding: .utf8)
        func load(_ url: String = "https://desk.example", caFile: String, limit: Int? = nil) throws -> CollectorConfiguration {
            var s = Self.webhook(url, name: "desk")
            s.caFile = caFile
            return try CollectorConfiguration(CollectorSettings(limits: limit.map { ["integration_max_ca_file_bytes": $0] }, integrations: [s]))
        }
        let good = try load(caFile: dir.file("desk-ca.pem"))
        #expect(good.integrations.first?.trustedCAs?.count == 1)
        // The admin page's words for it, and for the other two ways a backend is reached.
        #expect(good.integrations.first?.trustDescription == "ca_file (1 certificate)")
        let plain = try CollectorConfiguration(CollectorSettings(integrations: [Self.webhook("http://desk.example")]))
        let system = try CollectorConfiguration(CollectorSettings(integrations: [Self.webhook("https://desk.example")]))
        #expect(plain.integrations.first?.trustDescription == "plain HTTP (no TLS)")
        #expect(system.integrations.first?.trustDescription == "system CAs" && system.integrations.first?.trustedCAs == nil)
        // Text before the certificate is allowed (bundles carry comments); pad to the bound.
        let limit = CollectorLimits().integrationMaxCAFileBytes
        #expect(limit == 4 << 20)
        let filler = String(repeating: "# padding\n", count: (limit - pem.utf8.count) / 10)
        let exact = filler + String(repeating: "#", count: limit - pem.utf8.count - filler.utf8.count - 1) + "\n" + pem
        #expect(exact.utf8.count == limit)
        try exact.write(toFile: dir.file("exact.pem"), atomically: true, encoding: .utf8)
        #expect(try load(caFile: dir.file("exact.pem")).integrations.first?.trustedCAs?.count == 1)
        try ("#" + exact).write(toFile: dir.file("over.pem"), atomically: true, encoding: .utf8)
        try "not a certificate\n".write(toFile: dir.file("text.pem"), atomically: true, encoding: .utf8)
        try "".write(toFile: dir.file("empty.pem"), atomically: true, encoding: .utf8)
        let cases: [(String, String, String)] = [
            ("http://desk.example", dir.file("desk-ca.pem"), "ca_file is for https:// URLs"),
            ("https://desk.example", dir.file("missing.pem"), "could not read ca_file"),
            ("https://desk.example", dir.path, "could not read ca_file"),
            ("https://desk.example", dir.file("over.pem"), "larger than 4194304 bytes (integration_max_ca_file_bytes)"),
            ("https://desk.example", dir.file("text.pem"), "holds no certificate"),
            ("https://desk.example", dir.file("empty.pem"), "holds no certificate"),
            ("https://desk.example", dir.file("desk.key"), "holds no certificate"),
            ("https://desk.example", "/dev/zero", "larger than 4194304 bytes"),
        ]
        for (url, file, message) in cases {
            #expect { try load(url, caFile: file) } throws: { error in
                "\(error)".contains(message) && "\(error)".contains("integration desk")
            }
        }
        // Set lower, the limit holds at its edge: the CA's own file, exactly, and one byte less.
        let size = pem.utf8.count
        #expect(try load(caFile: dir.file("desk-ca.pem"), limit: size).integrations.first?.trustedCAs?.count == 1)
        #expect { try load(caFile: dir.file("desk-ca.pem"), limit: size - 1) } throws: { error in
            "\(error)".contains("larger than \(size - 1) bytes (integration_max_ca_file_bytes)")
        }
    }

    /// A slow remote holds back only its own deliveries: in one pass the other backend's request
    /// goes out while the slow one's is in flight (they went one after the other before). Two
    /// remotes on two ports, as two trackers are.
    @Test func aSlowRemoteHoldsBackOnlyItsOwnDeliveries() async throws {
        let arrivals = Mutex<[String: Date]>([:])
        let slowRemote = RemoteRecorder(), fastRemote = RemoteRecorder()
        for remote in [slowRemote, fastRemote] {
            remote.respond { r, _ in
                arrivals.withLock { if $0[r.path] == nil { $0[r.path] = Date() } }
                return r.path == "/slow" ? Reply(delayMS: 3000) : Reply()
            }
        }
        try await slowRemote.serve { slowBase in
            try await fastRemote.serve { fastBase in
                // Sorted by name, the slow backend comes first.
                let tc = try await TestCollector(limits: ["integration_request_timeout_seconds": 10], diagnoser: FixedDiagnoser(findings: [Self.finding]),
                                                 integrations: [Self.webhook(slowBase + "/slow", name: "a-slow"), Self.webhook(fastBase + "/fast", name: "b-fast")])
                defer { Task { await tc.close() } }
                _ = try await Self.ticket(tc)
                let attempted = try await Self.withWorker(tc) { worker in try await worker.runOnce(now: Date()) }
                let deliveries = try await tc.store.deliveries(status: nil, limit: 50, offset: 0)
                #expect(attempted == deliveries.count && deliveries.count >= 2)
                #expect(deliveries.allSatisfy { $0.status == .delivered }, "\(deliveries.map { ($0.backend, $0.status) })")
                let (slow, fast) = arrivals.withLock { ($0["/slow"], $0["/fast"]) }
                let gap = try #require(fast).timeIntervalSince(try #require(slow))
                #expect(abs(gap) < 2, "the fast remote's first request came \(gap) s after the slow one's")
            }
        }
    }

    @Test func longDescriptionsAreCutAtTheLimit() throws {
        var f = Self.finding
        f.detail = String(repeating: "é", count: 5000)
        let detail = TicketDetail(ticket: TicketSummary(id: 1, hostID: "h", hostname: "laptop", status: .open, priority: .high, title: "t",
                                                        assignee: nil, topRuleID: nil, createdAt: Date(), updatedAt: Date(), firstResponseAt: nil,
                                                        resolvedAt: nil, bundleCount: 1, requestedBy: nil),
                                  note: nil, findings: [TicketFinding(bundleID: "b", finding: f)], comments: [], bundles: [])
        let event = IntegrationEventRecord(id: 1, uuid: UUID().uuidString.lowercased(), kind: .ticketOpened, createdAt: Date())
        let context = IntegrationContext(event: event, ticket: detail, remoteLinks: [], publicURL: "https://helpline.test", maxTextBytes: 1000)
        let text = context.description()
        #expect(text.utf8.count <= 1000 && text.hasSuffix("(cut: the whole ticket is in Helpline: https://helpline.test/tickets/1)"))
        let roomy = IntegrationContext(event: event, ticket: detail, remoteLinks: [], publicURL: "https://helpline.test", maxTextBytes: 1 << 20)
        #expect(roomy.description().utf8.count > 10_000 && !roomy.description().contains("(cut:"))
        #expect(GitHubClient.fenced("a ```` b").hasPrefix("`````text\n"))
    }

    // MARK: Inbound status webhook

    @Test func inboundStatusIsSignedBoundedAndNotReplayable() async throws {
        var jira = IntegrationSettings(name: "jira", kind: "jira", url: "http://127.0.0.1:9/jira")
        jira.user = "ops@example.com"; jira.token = "jira-token-123"; jira.project = "OPS"
        jira.inboundSecret = "inbound-0123456789abcdef"
        jira.statusMap = ["Waiting for customer": "waiting_on_user"]
        var plain = Self.webhook("http://127.0.0.1:9/hook")
        plain.name = "webhook"
        let tc = try await TestCollector(limits: ["integration_inbound_max_body_bytes": 256, "integration_replay_window_seconds": 60],
                                         diagnoser: FixedDiagnoser(findings: [Self.finding]), integrations: [jira, plain])
        defer { Task { await tc.close() } }
        let (ticket, _) = try await Self.ticket(tc)
        // The Jira issue exists (as the worker would have recorded it).
        let opened = try #require(try await tc.store.unroutedEvents(limit: 5).first)
        try await tc.store.route(eventID: opened.id, to: ["jira"], now: Date())
        let claim = try #require(try await tc.store.claimDelivery(backends: ["jira"], now: Date(), lease: 60))
        let link = TicketRemoteLink(backend: "jira", remoteKey: "OPS-7", remoteURL: nil, remoteStatus: nil, createdAt: Date(), updatedAt: Date())
        #expect(try await tc.store.completeDelivery(id: claim.delivery.id, claimToken: claim.claimToken, outcome: .delivered(link: link), now: Date()))

        @Sendable func send(_ client: some TestClientProtocol, backend: String = "jira", body: String, key: String = "inbound-0123456789abcdef",
                  timestamp: Int = Int(Date().timeIntervalSince1970), signature: String? = nil) async throws -> TestResponse {
            let sig = signature ?? WebhookSignatureReference.sign(key: key, timestamp: timestamp, body: Data(body.utf8))
            return try await client.execute(uri: "/api/v1/integrations/\(backend)/inbound", method: .post, headers: [
                .contentType: "application/json", HTTPField.Name("Helpline-Timestamp")!: String(timestamp), HTTPField.Name("Helpline-Signature")!: sig,
            ], body: ByteBuffer(string: body))
        }
        try await tc.app(integrationWorker: false).test(.router) { client in
            let body = #"{"remote_key":"OPS-7","status":"In Progress"}"#
            // A timestamp `offset` seconds from the moment of the call, rounded away from now. The
            // collector compares with its own clock when the request arrives; one `now`, cut to the
            // second before the first request, let the clock cross into the next second by the
            // sixth, and "61 s ahead" arrived 59.x s ahead and was taken (failed once in CI).
            func at(_ offset: Int) -> Int {
                Int((Date().timeIntervalSince1970 + Double(offset)).rounded(offset > 0 ? .up : .down))
            }
            #expect(try await send(client, body: body, signature: "v1=" + String(repeating: "0", count: 64)).status == .unauthorized)
            #expect(try await send(client, body: body, key: "another-key-0123456789").status == .unauthorized)
            #expect(try await send(client, backend: "nosuch", body: body).status == .unauthorized)
            #expect(try await send(client, backend: "webhook", body: body).status == .unauthorized, "a backend without inbound_secret takes nothing")
            #expect(try await send(client, body: body, timestamp: at(-61)).status == .unauthorized, "older than the replay window")
            #expect(try await send(client, body: body, timestamp: at(61)).status == .unauthorized, "too far in the future")
            #expect(try await send(client, body: body, signature: "").status == .unauthorized)
            // Accepted inside the window's edge, once.
            let edge = at(-58)
            let ok = try await send(client, body: body, timestamp: edge)
            #expect(ok.status == .ok)
            #expect(try await tc.store.ticket(id: ticket)?.ticket.status == .inProgress)
            #expect(try await send(client, body: body, timestamp: edge).status == .conflict, "the same signed request again is a replay")
            // Size: at the limit it is read, one byte over answers 413.
            let padded = #"{"remote_key":"OPS-7","status":"Done"}"#
            let exact = padded + String(repeating: " ", count: 256 - padded.utf8.count)
            #expect(try await send(client, body: exact + " ").status == .contentTooLarge)
            let done = try await send(client, body: exact)
            #expect(done.status == .ok)
            #expect(try await tc.store.ticket(id: ticket)?.ticket.status == .resolved)
            #expect(try await tc.store.remoteLinks(ticketID: ticket).first?.remoteStatus == "Done")
            #expect(try await send(client, body: #"{"remote_key":"OPS-99","status":"Done"}"#).status == .notFound)
            #expect(try await send(client, body: #"{"remote_key":"OPS-7","status":"Teleported"}"#).status == .unprocessableContent)
            #expect(try await send(client, body: #"{"remote_key":"OPS-7","status":"Waiting for customer"}"#).status == .ok)
            #expect(try await send(client, body: "not json").status == .badRequest)
        }
        #expect(try await tc.store.ticket(id: ticket)?.ticket.status == .waitingOnUser)
        // The changes Jira reported go to the other backends, never back to Jira.
        try await Self.withWorker(tc) { worker in try await worker.routeNewEvents(now: Date()) }
        let rows = try await tc.store.deliveries(status: nil, limit: 50, offset: 0)
        let fromJira = rows.filter { $0.event.origin == "jira" }
        #expect(fromJira.count == 3 && fromJira.allSatisfy { $0.backend == "webhook" })
    }

    // MARK: Configuration

    @Test func theSimpleWebhookNeedsNoFileAndSecretsStayOutOfDescriptions() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let c = try CollectorConfiguration(CollectorSettings(webhookURL: "https://hooks.example/helpline", webhookSecret: Self.secret))
        #expect(c.integrations.map(\.name) == ["webhook"] && c.integrations.first?.kind == .webhook)
        #expect(!String(describing: c.integrations).contains(Self.secret) && !String(reflecting: c.integrations).contains(Self.secret))
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(webhookURL: "https://hooks.example/x")) }
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(webhookSecret: Self.secret)) }
        #expect(throws: ConfigurationError.self) {
            try CollectorConfiguration(CollectorSettings(webhookURL: "https://hooks.example/x", webhookSecret: "short"))
        }
        #expect(throws: ConfigurationError.self) {
            try CollectorConfiguration(CollectorSettings(webhookURL: "ftp://hooks.example/x", webhookSecret: Self.secret))
        }
        #expect(throws: ConfigurationError.self) {
            try CollectorConfiguration(CollectorSettings(webhookURL: "https://user:pw@hooks.example/x", webhookSecret: Self.secret))
        }
        // From the environment, as the service unit would pass it.
        let env = try CollectorSettings.fromEnvironment(["HELPLINE_COLLECTOR_WEBHOOK_URL": "https://hooks.example/h",
                                                         "HELPLINE_COLLECTOR_WEBHOOK_SECRET": Self.secret])
        #expect(try CollectorConfiguration(env).integrations.first?.secret?.value == Self.secret)
        // A config file with several backends, secrets by environment and file.
        try Data("zd-secret-token\n".utf8).write(to: URL(fileURLWithPath: dir.file("zd")))
        try """
            integrations:
              - name: jira
                kind: jira
                url: https://example.atlassian.net/
                user: ops@example.com
                token_env: JIRA_TOKEN
                project: OPS
                resolve_transition: "31"
                filter: {min_severity: high, categories: [disk, network], hostnames: ["lab-*"]}
              - name: zendesk
                kind: zendesk
                url: https://example.zendesk.com
                user: agent@example.com
                token_file: \(dir.file("zd"))
            """.write(toFile: dir.file("c.yaml"), atomically: true, encoding: .utf8)
        let file = try CollectorConfiguration(try CollectorSettings.load(file: dir.file("c.yaml")), environment: ["JIRA_TOKEN": "jira-env-token"])
        #expect(file.integrations.map(\.name) == ["jira", "zendesk"])
        #expect(file.integrations[0].token?.value == "jira-env-token" && file.integrations[1].token?.value == "zd-secret-token")
        #expect(file.integrations[0].url.absoluteString == "https://example.atlassian.net")
        #expect(file.integrations[0].filter == IntegrationFilter(categories: [.disk, .network], minSeverity: .high, hostnames: ["lab-*"]))
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(try CollectorSettings.load(file: dir.file("c.yaml")), environment: [:]) }
        // Two backends with one name, and the flag's webhook colliding with a file's.
        var one = IntegrationSettings(name: "webhook", kind: "webhook", url: "https://a.example")
        one.secret = Self.secret
        #expect(throws: ConfigurationError.self) {
            try CollectorConfiguration(CollectorSettings(integrations: [one], webhookURL: "https://b.example", webhookSecret: Self.secret))
        }
        var bad = one
        bad.kind = "servicenow"
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(integrations: [bad])) }
        var noToken = IntegrationSettings(name: "gh", kind: "github", url: "https://api.github.com")
        noToken.project = "acme/desk"
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(integrations: [noToken])) }
        var badFilter = one
        badFilter.filter = IntegrationFilterSettings(minSeverity: "apocalyptic")
        #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(integrations: [badFilter])) }
    }

    @Test func integrationLimitsAreCheckedAtTheirEdges() throws {
        let edges: [(String, Int, Int)] = [
            ("integration_max_attempts", 1, 1000), ("integration_backoff_base_ms", 1, 86_400_000),
            ("integration_backoff_max_seconds", 1, 604_800), ("integration_request_timeout_seconds", 1, 600),
            ("integration_max_response_bytes", 1024, 64 << 20), ("integration_max_description_bytes", 256, 1 << 20),
            ("integration_inbound_max_body_bytes", 256, 1 << 20), ("integration_replay_window_seconds", 1, 86_400),
            ("integration_poll_interval_ms", 10, 600_000), ("integration_lease_seconds", 5, 86_400),
            ("integration_max_ca_file_bytes", 1024, 64 << 20),
            ("integration_retention_days", 1, 3650),
            ("integration_create_settle_seconds", 0, 3600), ("integration_lookup_max_pages", 1, 100),
        ]
        for (name, low, high) in edges {
            #expect(throws: Never.self) { try CollectorConfiguration(CollectorSettings(limits: [name: low])) }
            #expect(throws: Never.self) { try CollectorConfiguration(CollectorSettings(limits: [name: high])) }
            #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(limits: [name: low - 1])) }
            #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(limits: [name: high + 1])) }
        }
    }

    /// A Jira or GitHub create must fit in its claim: the lease must be longer than the
    /// requests it can make (Jira 2, GitHub integration_lookup_max_pages + 1) at the timeout.
    @Test func theLeaseMustOutlastAJiraOrGitHubCreate() throws {
        var jira = IntegrationSettings(name: "jira", kind: "jira", url: "https://jira.example")
        jira.user = "ops@example.com"; jira.token = "t"; jira.project = "OPS"
        var github = IntegrationSettings(name: "github", kind: "github", url: "https://api.github.example")
        github.token = "t"; github.project = "acme/desk"
        func configure(_ backend: IntegrationSettings, _ limits: [String: Int]) throws {
            _ = try CollectorConfiguration(CollectorSettings(limits: limits, integrations: [backend]))
        }
        // Jira: 2 × 15 s.
        #expect(throws: Never.self) { try configure(jira, ["integration_lease_seconds": 31]) }
        let error = #expect(throws: ConfigurationError.self) { try configure(jira, ["integration_lease_seconds": 30]) }
        #expect(error.map { "\($0)" }?.contains("integration_lease_seconds is 30") == true)
        // GitHub: (5 + 1) × 15 s by default, (2 + 1) × 10 s here.
        #expect(throws: Never.self) { try configure(github, ["integration_lease_seconds": 91]) }
        #expect(throws: ConfigurationError.self) { try configure(github, ["integration_lease_seconds": 90]) }
        let small = ["integration_lookup_max_pages": 2, "integration_request_timeout_seconds": 10]
        #expect(throws: Never.self) { try configure(github, small.merging(["integration_lease_seconds": 31]) { a, _ in a }) }
        #expect(throws: ConfigurationError.self) { try configure(github, small.merging(["integration_lease_seconds": 30]) { a, _ in a }) }
        // The backoff's cap must leave room for the settle wait after an unknown outcome.
        #expect(throws: Never.self) { try configure(jira, ["integration_backoff_max_seconds": 60, "integration_create_settle_seconds": 60]) }
        let settle = #expect(throws: ConfigurationError.self) {
            try configure(github, ["integration_backoff_max_seconds": 59, "integration_create_settle_seconds": 60])
        }
        #expect(settle.map { "\($0)" }?.contains("integration_create_settle_seconds (60)") == true)
        // A webhook makes one request: a short lease is its own business.
        #expect(throws: Never.self) { try configure(Self.webhook("https://hooks.example/x"), ["integration_lease_seconds": 5]) }
    }

    @Test func hostnamePatternsMatchLikeShellWildcards() {
        #expect(IntegrationFilter.wildcard("lab-*", matches: "LAB-07"))
        #expect(IntegrationFilter.wildcard("kiosk-??", matches: "kiosk-12"))
        #expect(!IntegrationFilter.wildcard("kiosk-??", matches: "kiosk-123"))
        #expect(IntegrationFilter.wildcard("*", matches: ""))
        #expect(!IntegrationFilter.wildcard("lab-*", matches: "office-1"))
        #expect(IntegrationFilter.wildcard("*a*b*c*", matches: "xxaxxbxxcxx"))
        #expect(!IntegrationFilter.wildcard(String(repeating: "*a", count: 50) + "b", matches: String(repeating: "a", count: 5000)))
        let f = IntegrationFilter(categories: [.disk], minSeverity: .high, hostnames: ["lab-*"])
        #expect(f.matches(topCategory: .disk, worstSeverity: .critical, hostname: "lab-1"))
        #expect(!f.matches(topCategory: .disk, worstSeverity: .medium, hostname: "lab-1"))
        #expect(!f.matches(topCategory: .network, worstSeverity: .critical, hostname: "lab-1"))
        #expect(!f.matches(topCategory: nil, worstSeverity: nil, hostname: "lab-1"))
        #expect(IntegrationFilter().matches(topCategory: nil, worstSeverity: nil, hostname: "anything"))
    }
}

/// HMAC-SHA256 signing written in the test, independent of the collector's `WebhookSignature`.
enum WebhookSignatureReference {
    static func sign(key: String, timestamp: Int, body: Data) -> String {
        var message = Data("\(timestamp).".utf8)
        message.append(body)
        return "v1=" + HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(key.utf8)))
            .map { String(format: "%02x", $0) }.joined()
    }
}
