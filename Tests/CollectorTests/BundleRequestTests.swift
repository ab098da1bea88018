import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// A technician asks a host for a fresh bundle; the host's next bundle for that request joins
/// the ticket it was asked from.
@Suite struct BundleRequestTests {
    @Test func aRequestedBundleJoinsItsTicketAndTheUserIsTold() async throws {
        let tc = try await TestCollector(limits: ["max_pending_bundle_requests": 2])
        defer { Task { await tc.close() } }
        let tech = try await tc.apiToken("tina", role: .technician)
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "req-host")
            let other = try await enroll(client, secret: tc.enrollmentSecret, machineID: "req-other")
            let first = sampleManifest(hostID: host.hostID, machineID: "req-host")
            let ticket = try decode(BundleReceipt.self, try await upload(client, token: host.hostToken, try makeBundle(manifest: first))).ticketID
            // The ticket is resolved; the technician still wants fresh information on it.
            _ = try await tc.store.updateTicket(id: ticket, status: .resolved, priority: nil, assignee: nil, now: Date())
            func ask(_ hostID: String, _ body: String) async throws -> TestResponse {
                try await client.execute(uri: "/api/v1/hosts/\(hostID)/bundle-requests", method: .post,
                                         headers: [.authorization: "Bearer \(tech)", .contentType: "application/json"], body: ByteBuffer(string: body))
            }
            let created = try await ask(host.hostID, #"{"ticketID": \#(ticket), "note": "after the driver update"}"#)
            #expect(created.status == .created)
            let request = try decode(BundleRequestRecord.self, created)
            #expect(try await ask(host.hostID, #"{"ticketID": 999}"#).status == .notFound, "a ticket of no host")
            #expect(try await ask(other.hostID, #"{"ticketID": \#(ticket)}"#).status == .notFound, "another host's ticket")
            #expect(try await ask(host.hostID, #"{"note": "\#(String(repeating: "x", count: 1001))"}"#).status == .badRequest)
            #expect(try await ask(host.hostID, "{}").status == .created, "the second waiting request is at the limit")
            let over = try await ask(host.hostID, "{}")
            #expect(over.status == .conflict && errorCode(over) == "too_many_requests_waiting")
            #expect(try await ask("no-such-host", "{}").status == .notFound)

            // The host sees its requests; another host sees none of them.
            func pending(_ token: String) async throws -> [PendingBundleRequest] {
                try decode(PendingBundleRequestList.self, try await client.execute(uri: "/api/v1/hosts/self/bundle-requests", method: .get,
                                                                                  headers: [.authorization: "Bearer \(token)"])).requests
            }
            let seen = try await pending(host.hostToken)
            #expect(seen.map(\.id) == [request.id, request.id + 1] && seen[0].ticketID == ticket && seen[0].requestedBy == "tina")
            #expect(try await pending(other.hostToken).isEmpty)

            // Another host answering this request id does not join the ticket.
            var stolen = sampleManifest(hostID: other.hostID, machineID: "req-other")
            stolen.reason = .technicianRequest
            stolen.bundleRequestID = request.id
            let stolenReceipt = try decode(BundleReceipt.self, try await upload(client, token: other.hostToken, try makeBundle(manifest: stolen)))
            #expect(stolenReceipt.ticketID != ticket)

            // The host's answer joins the resolved ticket, says why, and tells the user.
            var answer = sampleManifest(hostID: host.hostID, machineID: "req-host", note: "Fresh information asked for by tina")
            answer.reason = .technicianRequest
            answer.bundleRequestID = request.id
            let receipt = try decode(BundleReceipt.self, try await upload(client, token: host.hostToken, try makeBundle(manifest: answer)))
            #expect(receipt.ticketID == ticket && receipt.joinedExistingTicket)
            let reasons = try await tc.store.joinReasons(ticketID: ticket)
            #expect(reasons[answer.bundleID]?.contains("tina's request #\(request.id)") == true)
            let told = try await tc.store.hostTickets(hostID: host.hostID, requestedBy: nil, limit: 10).first { $0.id == ticket }!.replies
            #expect(told.contains { $0.body.contains("collected fresh information") })
            #expect(try await pending(host.hostToken).map(\.id) == [request.id + 1], "answered requests are no longer pending")
            let listed = try decode(BundleRequestList.self, try await client.execute(uri: "/api/v1/hosts/\(host.hostID)/bundle-requests", method: .get,
                                                                                   headers: [.authorization: "Bearer \(tech)"])).requests
            #expect(listed.first { $0.id == request.id }?.bundleID == answer.bundleID)
            // A second answer to the same request is an ordinary bundle.
            var again = sampleManifest(hostID: host.hostID, machineID: "req-host")
            again.reason = .technicianRequest
            again.bundleRequestID = request.id
            _ = try await upload(client, token: host.hostToken, try makeBundle(manifest: again))
            #expect(try await tc.store.bundleRequests(hostID: host.hostID, ticketID: nil, limit: 10).first { $0.id == request.id }?.bundleID == answer.bundleID)
        }
    }

    @Test func requestsExpire() async throws {
        let tc = try await TestCollector(limits: ["bundle_request_hours": 1])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "exp-host")
            let now = Date()
            _ = try await tc.store.createBundleRequest(hostID: host.hostID, ticketID: nil, requestedBy: "t", note: nil,
                                                       now: now.addingTimeInterval(-3601), expiresAt: now.addingTimeInterval(-1), maxPending: 5)
            let live = try await tc.store.createBundleRequest(hostID: host.hostID, ticketID: nil, requestedBy: "t", note: nil,
                                                              now: now, expiresAt: now.addingTimeInterval(3600), maxPending: 5)
            #expect(try await tc.store.pendingBundleRequests(hostID: host.hostID, now: now).map(\.id) == [live.id])
            #expect(throws: ConfigurationError.self) { try CollectorConfiguration(CollectorSettings(limits: ["bundle_request_hours": 0])) }
        }
    }
}
