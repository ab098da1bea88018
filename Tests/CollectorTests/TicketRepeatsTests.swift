import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// Finds one finding whose rule is the bundle's note (`rule:severity`), so tests choose.
struct NoteDiagnoser: BundleDiagnoser {
    func startPass() -> any DiagnosisPass { Pass() }
    final class Pass: DiagnosisPass {
        // Stateless.
        func consume(_ entry: JournalEntry) {}
        func finish(bundleAt path: String, contents: BundleContents) async throws -> [Finding] {
            guard let note = contents.manifest.note, !note.isEmpty else { return [] }
            let parts = note.split(separator: ":")
            let severity = parts.count > 1 ? Severity(rawValue: String(parts[1])) ?? .high : .high
            return [Finding(ruleID: String(parts[0]), category: .disk, severity: severity, confidence: 0.9, title: "Problem \(parts[0])",
                            detail: "d", userAdvice: "u", technicianAdvice: "t", lastSeen: Date())]
        }
    }
}

@Suite struct TicketRepeatsTests {
    func send(_ client: some TestClientProtocol, _ host: EnrollResponse, machine: String = "machine-1", note: String) async throws -> BundleReceipt {
        let m = sampleManifest(hostID: host.hostID, machineID: machine, note: note)
        let r = try await upload(client, token: host.hostToken, try makeBundle(manifest: m))
        #expect(r.status == .created)
        return try decode(BundleReceipt.self, r)
    }

    @Test func aRepeatJoinsTheOpenTicketAndCanBeSplitOff() async throws {
        let tc = try await TestCollector(diagnoser: NoteDiagnoser())
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let first = try await send(client, host, note: "disk.space_low")
            #expect(!first.joinedExistingTicket)
            let repeatReceipt = try await send(client, host, note: "disk.space_low:high:again after the reboot\nsince Monday")
            #expect(repeatReceipt.joinedExistingTicket)
            #expect(repeatReceipt.ticketID == first.ticketID)
            // Another problem opens another ticket; so does a low-severity finding.
            let other = try await send(client, host, note: "gpu.hang")
            #expect(other.ticketID != first.ticketID)
            let low = try await send(client, host, note: "gpu.hang:low")
            #expect(!low.joinedExistingTicket)

            let detail = try #require(try await tc.store.ticket(id: first.ticketID))
            #expect(detail.bundles.count == 2)
            #expect(detail.ticket.title.hasPrefix("Problem disk.space_low"))
            let why = try #require(detail.comments.first { $0.author == "helpline" })
            #expect(!why.visibleToUser)
            #expect(why.body.contains("disk.space_low") && why.body.contains(repeatReceipt.bundleID))

            // A technician splits the repeat off.
            let api = try await tc.apiToken()
            let split = try await client.execute(uri: "/api/v1/tickets/\(first.ticketID)/split", method: .post,
                                                 headers: [.authorization: "Bearer \(api)", .contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"bundleID":"\#(repeatReceipt.bundleID)"}"#))
            #expect(split.status == .created)
            let newID = try decode(SplitResult.self, split).ticketID
            let left = try #require(try await tc.store.ticket(id: first.ticketID))
            let moved = try #require(try await tc.store.ticket(id: newID))
            #expect(left.bundles.map(\.bundleID) == [first.bundleID])
            #expect(moved.bundles.map(\.bundleID) == [repeatReceipt.bundleID])
            #expect(moved.findings.count == 1 && left.findings.count == 1)
            // The split-off ticket keeps what its user wrote, as it would have opened.
            #expect(moved.note == "disk.space_low:high:again after the reboot\nsince Monday")
            #expect(moved.ticket.title == "Problem disk.space_low — “disk.space_low:high:again after the reboot”")
            #expect(left.note == "disk.space_low")
            let audited = try await tc.store.auditLog(limit: 10, offset: 0).filter { $0.action == "bundle_split" }
            #expect(audited.map(\.target) == ["ticket \(first.ticketID)"])
            #expect(audited.first?.detail.hasPrefix("API · bundle \(repeatReceipt.bundleID) → ticket \(newID)") == true)
            // The ticket's only bundle cannot be split off.
            let only = try await client.execute(uri: "/api/v1/tickets/\(newID)/split", method: .post,
                                                headers: [.authorization: "Bearer \(api)", .contentType: "application/json"],
                                                body: ByteBuffer(string: #"{"bundleID":"\#(repeatReceipt.bundleID)"}"#))
            #expect(only.status == .conflict)
        }
    }

    @Test func repeatWindowEdge() {
        let service = TicketService(publicURL: "https://h", repeatWindow: 3600)
        let now = Date()
        let manifest = sampleManifest(hostID: "h", note: nil)
        let bundle = NewBundle(hostID: "h", hostname: "laptop", sha256: String(repeating: "a", count: 64), receivedAt: now,
                               contents: BundleContents(manifest: manifest, journalEntries: 0, members: [], compressedBytes: 0, uncompressedBytes: 0))
        let finding = Finding(ruleID: "disk.space_low", category: .disk, severity: .high, confidence: 1, title: "Disk full",
                              detail: "", userAdvice: "", technicianAdvice: "")
        func open(updated: Date) -> TicketSummary {
            TicketSummary(id: 7, hostID: "h", hostname: "laptop", status: .open, priority: .high, title: "t", assignee: nil,
                          topRuleID: "disk.space_low", createdAt: updated, updatedAt: updated, firstResponseAt: nil, resolvedAt: nil, bundleCount: 1)
        }
        if case .join(let id, _) = service.decide(bundle: bundle, findings: [finding], openTickets: [open(updated: now.addingTimeInterval(-3600))]) {
            #expect(id == 7)
        } else { Issue.record("at the window's edge the repeat joins") }
        if case .join = service.decide(bundle: bundle, findings: [finding], openTickets: [open(updated: now.addingTimeInterval(-3601))]) {
            Issue.record("past the window a repeat opens a new ticket")
        }
        // Title: the top finding plus the user's note.
        let noted = NewBundle(hostID: "h", hostname: "laptop", sha256: String(repeating: "a", count: 64), receivedAt: now,
                              contents: BundleContents(manifest: sampleManifest(hostID: "h", note: "cannot save files\nsince monday"),
                                                       journalEntries: 0, members: [], compressedBytes: 0, uncompressedBytes: 0))
        if case .open(let t) = service.decide(bundle: noted, findings: [finding], openTickets: []) {
            #expect(t.title == "Disk full — “cannot save files”")
            #expect(t.priority == .high)
        } else { Issue.record("expected a new ticket") }
        // Nothing recognised: the low "unrecognised" clusters neither title nor lower the ticket.
        let unrecognised = Finding(ruleID: "unrecognised.errors", category: .other, severity: .low, confidence: 0.3,
                                   title: "acme logged 4 errors no rule recognises: boom", detail: "", userAdvice: "", technicianAdvice: "", subject: "acme")
        if case .open(let t) = service.decide(bundle: noted, findings: [unrecognised], openTickets: []) {
            #expect(t.title == "cannot save files")
            #expect(t.priority == .normal)
            #expect(t.topRuleID == nil)
        } else { Issue.record("expected a new ticket") }
    }

    @Test(arguments: [4, 5])
    func sameRuleOnEnoughHostsOpensAnIncident(hosts: Int) async throws {
        let tc = try await TestCollector(limits: ["incident_hosts": 5, "incident_window_minutes": 60], diagnoser: NoteDiagnoser())
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            var tickets: [Int64] = []
            for i in 0..<hosts {
                let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "machine-\(i)", hostname: "laptop-\(i)")
                tickets.append(try await send(client, host, machine: "machine-\(i)", note: "dns.resolution_failures").ticketID)
            }
            let incidents = try await tc.store.incidents(limit: 10)
            if hosts < 5 {
                #expect(incidents.isEmpty)
            } else {
                let incident = try #require(incidents.first)
                #expect(incidents.count == 1)
                #expect(incident.ruleID == "dns.resolution_failures")
                #expect(incident.hostCount == 5)
                #expect(incident.ticketIDs == tickets.sorted())
                let api = try await tc.apiToken()
                let listed = try await client.execute(uri: "/api/v1/incidents", method: .get, headers: [.authorization: "Bearer \(api)"])
                #expect(try decode(IncidentList.self, listed).incidents.first?.id == incident.id)
            }
        }
    }
}

/// Text is cut to what its column holds counted as the database counts (code points), not as
/// Swift counts characters: a letter can carry any number of combining marks, and a value of
/// 150 such characters is thousands of code points, which a column's CHECK refused.
@Suite struct CodePointLimitTests {
    /// 150 characters, 3,150 code points.
    static let zalgo = String(repeating: "e" + String(repeating: "\u{0301}", count: 20), count: 150)

    @Test func aNoteOfCombiningMarksStillOpensATicket() async throws {
        let finding = Finding(ruleID: "disk.space_low", category: .disk, severity: .high, confidence: 0.9, title: "The disk / is 97 % full",
                              detail: "d", userAdvice: "u", technicianAdvice: "t")
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [finding]))
        defer { Task { await tc.close() } }
        #expect(Self.zalgo.count == 150 && Self.zalgo.unicodeScalars.count == 3150)
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let r = try await upload(client, token: host.hostToken, try makeBundle(manifest: sampleManifest(hostID: host.hostID, note: Self.zalgo)))
            #expect(r.status == .created)
            let receipt = try decode(BundleReceipt.self, r)
            let detail = try #require(try await tc.store.ticket(id: receipt.ticketID))
            #expect(("The disk / is 97 % full — “" + Self.zalgo).unicodeScalars.starts(with: detail.ticket.title.unicodeScalars))
            #expect(detail.ticket.title.unicodeScalars.count == TicketService.titleLimit)
            #expect(detail.note == Self.zalgo)
        }
    }

    /// A failed sign-in's name is the caller's; cut by characters it made the audit row fail,
    /// so the attempt left no trace.
    @Test func anAuditRowOfCombiningMarksIsCutNotLost() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.store.recordAudit(AuditEntry(at: Date(), actor: Self.zalgo, action: "sign_in_failed", target: Self.zalgo, detail: Self.zalgo))
        let row = try #require(try await tc.store.auditLog(limit: 1, offset: 0).first)
        #expect(row.action == "sign_in_failed")
        #expect(row.actor.unicodeScalars.count == 128 && row.target.unicodeScalars.count == 256 && row.detail.unicodeScalars.count == 1024)
        #expect(Self.zalgo.unicodeScalars.starts(with: row.detail.unicodeScalars))
    }

    /// The manifest's `requestedBy` is the host's word. A name of 40 characters and 120 code
    /// points passed a count in characters and failed the ticket's CHECK: 503 for every retry.
    @Test func aRequestedByOfCombiningMarksCountsAsUnknownNotAFailure() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let sixtyFour = String(repeating: "e\u{0301}", count: 32)
            for (name, kept) in [(String(repeating: "a\u{0301}\u{0301}", count: 40), false), (sixtyFour, true), (sixtyFour + "\u{0301}", false)] {
                var manifest = sampleManifest(hostID: host.hostID)
                manifest.requestedBy = name
                let r = try await upload(client, token: host.hostToken, try makeBundle(manifest: manifest))
                #expect(r.status == .created, "\(name.unicodeScalars.count) code points")
                let ticket = try #require(try await tc.store.ticket(id: try decode(BundleReceipt.self, r).ticketID)).ticket
                #expect(ticket.requestedBy == (kept ? name : nil), "\(name.unicodeScalars.count) code points")
            }
        }
    }

    /// Technicians' text is checked in code points, as the columns' CHECKs count: at the limit
    /// it is stored, one past it is a clear 400 and nothing is written (it was a database error).
    /// An inventory's texts were cut in characters; now in code points, as the views count.
    @Test func inventoryTextsAreCutInCodePoints() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let hostID = UUID().uuidString.lowercased()
        _ = try await tc.store.enrollHost(id: hostID, machineID: "inv-marks", hostname: "inv", agentVersion: nil,
                                          tokenHash: Secrets.hash(Secrets.generate(.hostToken)), secretID: 1, now: Date())
        let long = Self.marks(500)
        try await tc.store.recordInventory(hostID: hostID, Inventory(collectedAt: Date(), kernel: long, systemVendor: long, productName: long,
                                                                           biosVendor: long, biosVersion: long,
                                                                           packages: [InstalledPackage(name: long, version: long, architecture: long)]), now: Date())
        let q = FleetQueryTests.queries(tc)
        let hw = try await q.run("SELECT length(product_name), length(bios_version), length(kernel) FROM inventory", deadline: .now + .seconds(5))
        #expect(hw.rows == [[.integer(200), .integer(200), .integer(200)]])
        let packages = try await q.run("SELECT length(name), length(version), length(architecture), name FROM packages", deadline: .now + .seconds(5))
        #expect(packages.rows == [[.integer(200), .integer(200), .integer(32), .text(Self.marks(200))]])
    }

    /// `n` code points, two to a character.
    static func marks(_ n: Int) -> String { String(repeating: "e\u{0301}", count: n / 2) + (n % 2 == 1 ? "x" : "") }

    @Test func techniciansTextIsCheckedInCodePoints() async throws {
        let marks = Self.marks
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let token = try await tc.apiToken(role: .technician)
            let auth: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
            func request(note: String) async throws -> TestResponse {
                try await client.execute(uri: "/api/v1/hosts/\(host.hostID)/bundle-requests", method: .post, headers: auth,
                                         body: ByteBuffer(data: try JSONEncoder().encode(["note": note])))
            }
            let refused = try await request(note: marks(1001))
            #expect(refused.status == .badRequest)
            #expect(try decode(APIErrorBody.self, refused).error.code == "invalid_note")
            #expect(try await tc.store.pendingBundleRequests(hostID: host.hostID, now: Date()).isEmpty)
            #expect(try await request(note: marks(1000)).status == .created)
            #expect(try await tc.store.pendingBundleRequests(hostID: host.hostID, now: Date()).first?.note == marks(1000))

            let alice = try await WebAccessTests.session(tc, user: "alice", role: .technician)
            func save(name: String, advice: String) async throws -> TestResponse {
                try await client.execute(uri: "/query/saved", method: .post, headers: WebAccessTests.merge(alice.headers, WebAccessTests.formType),
                                         body: WebAccessTests.form(["csrf": alice.csrf, "name": name, "sql": "SELECT host_id FROM hosts",
                                                                    "policy_minutes": "60", "policy_advice": advice]))
            }
            for (name, advice) in [(marks(101), "a"), ("n", marks(4001))] {
                let r = try await save(name: name, advice: advice)
                #expect(r.status == .badRequest, "name \(name.unicodeScalars.count), advice \(advice.unicodeScalars.count)")
            }
            #expect(try await tc.store.savedQueries(visibleTo: "alice").isEmpty)
            #expect(try await save(name: marks(100), advice: marks(4000)).status == .seeOther)
            let saved = try await tc.store.savedQueries(visibleTo: "alice")
            #expect(saved.map(\.name) == [marks(100)] && saved.first?.policyAdvice == marks(4000))
        }
    }
}
