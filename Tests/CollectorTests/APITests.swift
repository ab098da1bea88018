import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// Heartbeats, the host's own tickets and the technician API, through the router.
@Suite struct APITests {
    @Test func heartbeatsKeepLatestAndTypedHistory() async throws {
        let tc = try await TestCollector(limits: ["heartbeat_history": 3])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            for i in 0..<5 {
                let beat = Heartbeat(host: HostIdentity(hostID: host.hostID, hostname: "laptop-42"), sentAt: Date(timeIntervalSince1970: Double(1_790_000_000 + i)),
                                     agentVersion: "0.1.0", spooledBundles: i)
                let response = try await client.execute(uri: "/api/v1/heartbeats", method: .post, headers: [
                    .authorization: "Bearer \(host.hostToken)", .contentType: "application/json",
                ], body: ByteBuffer(bytes: try BundleJSON.encoder().encode(beat)))
                #expect(response.status == .accepted)
            }
            let other = Heartbeat(host: HostIdentity(hostID: UUID().uuidString.lowercased(), hostname: "x"), sentAt: Date(), agentVersion: "0.1.0")
            let forged = try await client.execute(uri: "/api/v1/heartbeats", method: .post, headers: [
                .authorization: "Bearer \(host.hostToken)", .contentType: "application/json",
            ], body: ByteBuffer(bytes: try BundleJSON.encoder().encode(other)))
            #expect(forged.status == .forbidden)
            let junk = try await client.execute(uri: "/api/v1/heartbeats", method: .post, headers: [
                .authorization: "Bearer \(host.hostToken)", .contentType: "application/json",
            ], body: ByteBuffer(string: "[]"))
            #expect(junk.status == .badRequest)
            let big = try await client.execute(uri: "/api/v1/heartbeats", method: .post, headers: [
                .authorization: "Bearer \(host.hostToken)", .contentType: "application/json",
            ], body: ByteBuffer(string: String(repeating: " ", count: (1 << 20) + 1)))
            #expect(big.status == .contentTooLarge)
            let latest = try #require(try await tc.store.latestHeartbeat(hostID: host.hostID))
            #expect(latest.heartbeat.spooledBundles == 4)
            // Every heartbeat is in the typed history, newest first, with the agent's send time.
            let history = try await tc.store.healthHistory(hostID: host.hostID, limit: 10)
            #expect(history.map(\.sentAt) == (0..<5).reversed().map { Date(timeIntervalSince1970: Double(1_790_000_000 + $0)) })
            #expect(try await tc.store.healthHistory(hostID: host.hostID, limit: 3).count == 3)

            let api = try await tc.apiToken()
            let detail = try await client.execute(uri: "/api/v1/hosts/\(host.hostID)", method: .get, headers: [.authorization: "Bearer \(api)"])
            #expect(detail.status == .ok)
            #expect(try decode(HostDetail.self, detail).latestHeartbeat?.heartbeat.spooledBundles == 4)
        }
    }

    /// The heartbeat is stored as the agent sent it (not encoded again) and reads back the same.
    @Test func heartbeatIsStoredAsSentAndReadsBack() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let beat = Heartbeat(host: HostIdentity(hostID: host.hostID, hostname: "laptop-42"), sentAt: Date(timeIntervalSince1970: 1_790_000_000),
                                 agentVersion: "0.1.0", spooledBundles: 7)
            var json = try #require(try JSONSerialization.jsonObject(with: BundleJSON.encoder().encode(beat)) as? [String: Any])
            json["fieldFromANewerAgent"] = "kept"
            let response = try await client.execute(uri: "/api/v1/heartbeats", method: .post, headers: [
                .authorization: "Bearer \(host.hostToken)", .contentType: "application/json",
            ], body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
            #expect(response.status == .accepted)
            let latest = try #require(try await tc.store.latestHeartbeat(hostID: host.hostID))
            #expect(latest.heartbeat == beat)
            #expect(try await tc.store.healthHistory(hostID: host.hostID, limit: 5).map(\.sentAt) == [beat.sentAt])
        }
    }

    /// A heartbeat's top processes are stored as rows, not in its stored JSON, and come back
    /// whole and in the order sent: through the strict reader (the JSON cut) and through
    /// Foundation (a body with a key this collector does not know), and after a heartbeat in
    /// which one is gone and the others changed places.
    @Test func topProcessesAreRowsAndComeBackWholeInTheirOrder() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let api = try await tc.apiToken()
            let started = Date(timeIntervalSince1970: 1_789_000_000)
            let processes = [
                ProcessRecord(pid: 4242, ppid: 1, uid: 1000, user: "alice", state: "R", name: "firefox-esr", commandLine: "/usr/lib/firefox-esr/firefox-esr -P work",
                              threads: 80, rssBytes: 3 << 30, startTime: started, cpuPercent: 150.5, topCPU: true, topMemory: true),
                ProcessRecord(pid: 17, ppid: 2, uid: 0, user: nil, state: "S", name: "kworker/0:1", commandLine: "", threads: 1, rssBytes: 0,
                              cpuPercent: 12, topCPU: true),
                ProcessRecord(pid: 900, ppid: 4242, uid: 1000, user: "alice", state: "S", name: "Web Content", commandLine: "/usr/lib/firefox-esr/firefox-esr -contentproc",
                              threads: 30, rssBytes: 1 << 30, startTime: started.addingTimeInterval(60), cpuPercent: 0.5, topMemory: true),
            ]
            func send(_ beat: Heartbeat, extraKey: Bool) async throws {
                var body = try BundleJSON.encoder().encode(beat)
                if extraKey {
                    var json = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
                    json["fieldFromANewerAgent"] = "kept"
                    body = try JSONSerialization.data(withJSONObject: json)
                }
                let response = try await client.execute(uri: "/api/v1/heartbeats", method: .post, headers: [
                    .authorization: "Bearer \(host.hostToken)", .contentType: "application/json",
                ], body: ByteBuffer(bytes: body))
                #expect(response.status == .accepted)
            }
            for (i, extraKey) in [false, true].enumerated() {
                let first = Heartbeat(host: HostIdentity(hostID: host.hostID, hostname: "laptop-42"), sentAt: started.addingTimeInterval(Double(100 * i)),
                                      agentVersion: "0.1.0", topProcesses: processes)
                try await send(first, extraKey: extraKey)
                #expect(try await tc.store.latestHeartbeat(hostID: host.hostID)?.heartbeat == first, "extra key: \(extraKey)")
                let detail = try await client.execute(uri: "/api/v1/hosts/\(host.hostID)", method: .get, headers: [.authorization: "Bearer \(api)"])
                #expect(try decode(HostDetail.self, detail).latestHeartbeat?.heartbeat.topProcesses == processes)

                var changed = [processes[2], processes[0]]
                changed[1].cpuPercent = 3
                changed[1].topCPU = false
                let second = Heartbeat(host: HostIdentity(hostID: host.hostID, hostname: "laptop-42"), sentAt: started.addingTimeInterval(Double(100 * i + 10)),
                                       agentVersion: "0.1.0", topProcesses: changed)
                try await send(second, extraKey: extraKey)
                #expect(try await tc.store.latestHeartbeat(hostID: host.hostID)?.heartbeat == second, "extra key: \(extraKey)")
            }
        }
    }

    /// The stored JSON leaves out only processes the rows give back exactly; a heartbeat with
    /// any other (more than 64, a pid twice, text the columns cut or a NUL ends, a time outside
    /// 1900–9999 or between seconds, a size past Int64) keeps them, and reads back whole.
    @Test func onlyProcessesTheRowsHoldExactlyLeaveTheJSON() async throws {
        let ok = ProcessRecord(pid: 10, ppid: 1, uid: 1000, user: "ü" + String(repeating: "u", count: 63), state: "S", name: String(repeating: "n", count: 64),
                               commandLine: String(repeating: "é", count: Heartbeat.commandLineCharacters), threads: 1, rssBytes: UInt64(Int64.max),
                               startTime: Date(timeIntervalSince1970: -2_208_988_800), cpuPercent: 1)
        #expect(HeartbeatRow.rowsHold([ok]) && HeartbeatRow.rowsHold([]))
        #expect(HeartbeatRow.rowsHold((0..<64).map { var p = ok; p.pid = $0; return p }))
        var bad: [(String, [ProcessRecord])] = [("65 processes", (0..<65).map { var p = ok; p.pid = $0; return p }), ("a pid twice", [ok, ok])]
        for (what, change) in [("long name", { (p: inout ProcessRecord) in p.name += "n" }), ("long user", { $0.user! += "u" }),
                               ("long state", { $0.state = "SSSSSSSSS" }), ("long command", { $0.commandLine += "x" }),
                               ("NUL", { $0.commandLine = "a\u{0}b" }), ("rss past Int64", { $0.rssBytes = UInt64(Int64.max) + 1 }),
                               ("year 1899", { $0.startTime = Date(timeIntervalSince1970: -2_208_988_801) }),
                               ("year 10000", { $0.startTime = Date(timeIntervalSince1970: 253_402_300_800) }),
                               ("a fraction of a second", { $0.startTime = Date(timeIntervalSince1970: 1_790_000_000.5) })] as [(String, (inout ProcessRecord) -> Void)] {
            var p = ok
            change(&p)
            bad.append((what, [p]))
        }
        for (what, processes) in bad { #expect(!HeartbeatRow.rowsHold(processes), "\(what)") }

        // Stored with them, read back whole, on either store.
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let id = UUID().uuidString.lowercased()
        _ = try await tc.store.enrollHost(id: id, machineID: "m", hostname: "pc", agentVersion: "0.1.0",
                                          tokenHash: Secrets.hash(Secrets.generate(.hostToken)), secretID: 1, now: Date())
        for (what, processes) in bad {
            let beat = Heartbeat(host: HostIdentity(hostID: id, hostname: "pc"), sentAt: Date(timeIntervalSince1970: 1_790_000_000), agentVersion: "0.1.0",
                                 topProcesses: processes)
            try await tc.store.recordHeartbeats([HeartbeatRow(hostID: id, receivedAt: Date(), heartbeat: beat)])
            // As its JSON has it (which keeps whole seconds).
            let sent = try BundleJSON.decoder().decode(Heartbeat.self, from: try BundleJSON.encoder().encode(beat))
            #expect(try await tc.store.latestHeartbeat(hostID: id)?.heartbeat == sent, "\(what)")
        }
    }

    @Test func technicianReadsTicketsBundlesAndJournal() async throws {
        let tc = try await TestCollector(limits: ["journal_page_max": 50])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let manifest = sampleManifest(hostID: host.hostID)
            let bytes = try makeBundle(manifest: manifest, journalEntries: 100)
            let receipt = try decode(BundleReceipt.self, try await upload(client, token: host.hostToken, bytes))
            let api = try await tc.apiToken(role: .admin)
            let auth: HTTPFields = [.authorization: "Bearer \(api)"]

            let list = try decode(TicketList.self, try await client.execute(uri: "/api/v1/tickets?status=open", method: .get, headers: auth))
            #expect(list.tickets.map(\.id) == [receipt.ticketID])
            #expect(list.tickets.first?.bundleCount == 1)
            let none = try decode(TicketList.self, try await client.execute(uri: "/api/v1/tickets?status=closed", method: .get, headers: auth))
            #expect(none.tickets.isEmpty)
            #expect(try await client.execute(uri: "/api/v1/tickets?status=bogus", method: .get, headers: auth).status == .badRequest)
            #expect(try await client.execute(uri: "/api/v1/tickets?limit=0", method: .get, headers: auth).status == .badRequest)

            let ticket = try decode(TicketDetail.self, try await client.execute(uri: "/api/v1/tickets/\(receipt.ticketID)", method: .get, headers: auth))
            #expect(ticket.bundles.map(\.bundleID) == [manifest.bundleID])
            #expect(try await client.execute(uri: "/api/v1/tickets/999", method: .get, headers: auth).status == .notFound)
            #expect(try await client.execute(uri: "/api/v1/tickets/abc", method: .get, headers: auth).status == .badRequest)

            let bundles = try decode(BundleList.self, try await client.execute(uri: "/api/v1/hosts/\(host.hostID)/bundles", method: .get, headers: auth))
            #expect(bundles.bundles.first?.journalEntries == 100)
            let ticketBundles = try decode(BundleList.self, try await client.execute(uri: "/api/v1/tickets/\(receipt.ticketID)/bundles", method: .get, headers: auth))
            #expect(ticketBundles.bundles.count == 1)

            let raw = try await client.execute(uri: "/api/v1/bundles/\(manifest.bundleID)/raw", method: .get, headers: auth)
            #expect(raw.status == .ok)
            #expect(raw.headers[.contentType] == "application/gzip")
            #expect([UInt8](raw.body.readableBytesView) == bytes)

            let system = try await client.execute(uri: "/api/v1/bundles/\(manifest.bundleID)/members/system.json", method: .get, headers: auth)
            #expect(system.status == .ok)
            #expect(try decode(SystemInfo.self, system).hostname == "laptop-42")
            #expect(try await client.execute(uri: "/api/v1/bundles/\(manifest.bundleID)/members/nope.json", method: .get, headers: auth).status == .notFound)

            // Journal: priority ≤ 3 is half of 0…7; paged by 20.
            let page1 = try decode(BundleArchive.JournalPage.self, try await client.execute(
                uri: "/api/v1/bundles/\(manifest.bundleID)/journal?priority=3&limit=20", method: .get, headers: auth))
            #expect(page1.entries.count == 20)
            #expect(page1.entries.allSatisfy { ($0.priority ?? 9) <= 3 })
            #expect(page1.nextOffset == 20)
            let page3 = try decode(BundleArchive.JournalPage.self, try await client.execute(
                uri: "/api/v1/bundles/\(manifest.bundleID)/journal?priority=3&limit=20&offset=40", method: .get, headers: auth))
            #expect(page3.entries.count == 12)
            #expect(page3.nextOffset == nil)
            let text = try decode(BundleArchive.JournalPage.self, try await client.execute(
                uri: "/api/v1/bundles/\(manifest.bundleID)/journal?q=LINK%20down&unit=NetworkManager.service", method: .get, headers: auth))
            #expect(text.entries.count == 10)
            let since = try decode(BundleArchive.JournalPage.self, try await client.execute(
                uri: "/api/v1/bundles/\(manifest.bundleID)/journal?since=2026-09-21T14:14:10Z&until=2026-09-21T14:14:20Z", method: .get, headers: auth))
            #expect(since.entries.count == 10)
            #expect(try await client.execute(uri: "/api/v1/bundles/\(manifest.bundleID)/journal?limit=51", method: .get, headers: auth).status == .badRequest)
            #expect(try await client.execute(uri: "/api/v1/bundles/\(manifest.bundleID)/journal?since=yesterday", method: .get, headers: auth).status == .badRequest)

            // A reply reaches the host; an internal note does not.
            let reply = try await client.execute(uri: "/api/v1/tickets/\(receipt.ticketID)/comments", method: .post,
                                                 headers: auth + [.contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"body":"Please restart NetworkManager"}"#))
            #expect(reply.status == .created)
            _ = try await client.execute(uri: "/api/v1/tickets/\(receipt.ticketID)/comments", method: .post,
                                         headers: auth + [.contentType: "application/json"],
                                         body: ByteBuffer(string: #"{"body":"internal","visibleToUser":false}"#))
            // The assignee is a technician or admin, as on the ticket page. Anyone else is
            // refused before anything is written: the category in the same PATCH stays too.
            _ = try await tc.store.addUser(name: "sam", role: .technician, passwordHash: Secrets.hashPassword("correct horse battery", cost: 4), now: Date())
            let beforeRefusal = try #require(try await tc.store.ticket(id: receipt.ticketID)).ticket
            for name in ["script", String(repeating: "s\u{0301}", count: 40), "sam" + String(repeating: "\u{0301}", count: 62)] {
                let refused = try await client.execute(uri: "/api/v1/tickets/\(receipt.ticketID)", method: .patch,
                                                       headers: auth + [.contentType: "application/json"],
                                                       body: ByteBuffer(data: try JSONEncoder().encode(["assignee": name, "category": "network", "status": "resolved"])))
                #expect(refused.status == .badRequest)
                #expect(try decode(APIErrorBody.self, refused).error.code == "invalid_assignee")
            }
            let afterRefusal = try #require(try await tc.store.ticket(id: receipt.ticketID)).ticket
            #expect(afterRefusal.category == beforeRefusal.category && afterRefusal.assignee == nil && afterRefusal.status == .open)
            #expect(try await tc.store.auditLog(limit: 50, offset: 0).filter { $0.target == "ticket \(receipt.ticketID)" }.map(\.action)
                    == ["comment_added", "comment_added"])
            let patched = try await client.execute(uri: "/api/v1/tickets/\(receipt.ticketID)", method: .patch,
                                                   headers: auth + [.contentType: "application/json"],
                                                   body: ByteBuffer(string: #"{"status":"waiting_on_user","assignee":"sam"}"#))
            #expect(try decode(TicketSummary.self, patched).status == .waitingOnUser)
            // The API's changes are in the audit log as the ticket page's are, marked "API";
            // a PATCH that changes nothing writes nothing.
            _ = try await client.execute(uri: "/api/v1/tickets/\(receipt.ticketID)", method: .patch,
                                         headers: auth + [.contentType: "application/json"], body: ByteBuffer(string: #"{"assignee":"sam"}"#))
            let audit = try await tc.store.auditLog(limit: 50, offset: 0).filter { $0.target == "ticket \(receipt.ticketID)" }
            #expect(audit.map(\.action) == ["ticket_updated", "comment_added", "comment_added"])
            #expect(audit[0].detail.hasPrefix("API · status open → waiting_on_user · assignee none → sam"))
            #expect(audit[1].detail.hasPrefix("API · internal") && audit[2].detail.hasPrefix("API · visible to the user"))
            #expect(Set(audit.map(\.actor)).count == 1 && !audit[0].actor.isEmpty && audit[0].actor != "?")
            let own = try decode(HostTicketList.self, try await client.execute(uri: "/api/v1/hosts/self/tickets", method: .get,
                                                                               headers: [.authorization: "Bearer \(host.hostToken)"]))
            #expect(own.tickets.count == 1)
            #expect(own.tickets.first?.status == .waitingOnUser)
            #expect(own.tickets.first?.replies.map(\.body) == ["Please restart NetworkManager"])
            // A host token is not an API token.
            #expect(try await client.execute(uri: "/api/v1/tickets", method: .get, headers: [.authorization: "Bearer \(host.hostToken)"]).status == .unauthorized)
        }
    }

    @Test func apiTokensBadRevokedExpired() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let revoked = try await tc.apiToken("revoked")
        _ = try await tc.store.revokeAPIToken(name: "revoked", now: Date())
        let expired = try await tc.apiToken("expired", expiresAt: Date(timeIntervalSinceNow: -60))
        try await tc.app().test(.router) { client in
            for (token, code) in [("hlt_nope", "invalid_token"), (revoked, "token_revoked"), (expired, "token_expired")] {
                let r = try await client.execute(uri: "/api/v1/tickets", method: .get, headers: [.authorization: "Bearer \(token)"])
                #expect(r.status == .unauthorized)
                #expect(errorCode(r) == code)
            }
            let garbage = try await client.execute(uri: "/api/v1/tickets", method: .get, headers: [.authorization: "Basic Zm9vOmJhcg=="])
            #expect(errorCode(garbage) == "missing_token")
        }
    }

    @Test func retentionExpiresOldAndExcessBundlesButKeepsFindings() async throws {
        let finding = Finding(ruleID: "r", category: .other, severity: .low, confidence: 0.5, title: "t", detail: "d", userAdvice: "u", technicianAdvice: "a")
        let tc = try await TestCollector(limits: ["retention_bundles_per_host": 2, "retention_days": 30],
                                         diagnoser: FixedDiagnoser(findings: [finding]))
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            var ids: [String] = []
            var tickets: [Int64] = []
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            for _ in 0..<3 {
                let m = sampleManifest(hostID: host.hostID)
                ids.append(m.bundleID)
                tickets.append(try decode(BundleReceipt.self, try await upload(client, token: host.hostToken, try makeBundle(manifest: m))).ticketID)
            }
            let api = try await tc.apiToken(role: .admin)
            let retention = RetentionService(store: tc.store, blobs: try BlobStore(dataDirectory: tc.configuration.dataDirectory),
                                             limits: tc.configuration.limits, metrics: tc.metrics, logger: .init(label: "test"))
            // Beyond 2 per host: the oldest goes.
            #expect(try await retention.runOnce(now: Date()) == [ids[0]])
            #expect(tc.blobFiles.count == 2)
            let gone = try await client.execute(uri: "/api/v1/bundles/\(ids[0])/raw", method: .get, headers: [.authorization: "Bearer \(api)"])
            #expect(gone.status == .gone)
            #expect(errorCode(gone) == "bundle_expired")
            let ticket = try #require(try await tc.store.ticket(id: tickets[0]))
            #expect(ticket.findings.count == 1)
            #expect(ticket.bundles.first?.expired == true)
            #expect(ticket.comments.contains { $0.body.contains("expired") && !$0.visibleToUser })
            // 31 days later everything is old.
            #expect(Set(try await retention.runOnce(now: Date(timeIntervalSinceNow: 31 * 86_400))) == Set(ids[1...]))
            #expect(tc.blobFiles.isEmpty)
            // Expired bundles still answer duplicates with their first receipt.
            let again = try await upload(client, token: host.hostToken, try makeBundle(manifest: sampleManifest(id: ids[1], hostID: host.hostID)))
            #expect(again.status == .ok)
        }
    }

    @Test func metricsCountAcceptedAndRejected() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            _ = try await upload(client, token: host.hostToken, try makeBundle(manifest: sampleManifest(hostID: host.hostID)))
            _ = try await upload(client, token: host.hostToken, [1, 2, 3])
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(text.contains("helpline_bundles_accepted_total 1"))
            #expect(text.contains("helpline_bundles_rejected_total{reason=\"corrupt_gzip\"} 1"))
            #expect(text.contains("helpline_hosts 1"))
            #expect(text.contains("helpline_ingest_duration_seconds_count 1"))
        }
    }
}

extension HTTPFields {
    static func + (lhs: HTTPFields, rhs: HTTPFields) -> HTTPFields {
        var out = lhs
        out.append(contentsOf: rhs)
        return out
    }
}
