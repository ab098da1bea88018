import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// Tickets record which local user asked; on a shared workstation a user's repeat joins only
/// their own ticket, and the daemon asking for a user gets only that user's tickets.
@Suite struct TicketRequesterTests {
    func send(_ client: some TestClientProtocol, _ host: EnrollResponse, note: String, requestedBy: String?) async throws -> BundleReceipt {
        var m = sampleManifest(hostID: host.hostID, note: note)
        m.requestedBy = requestedBy
        let r = try await upload(client, token: host.hostToken, try makeBundle(manifest: m))
        #expect(r.status == .created)
        return try decode(BundleReceipt.self, r)
    }

    func ownTickets(_ client: some TestClientProtocol, _ host: EnrollResponse, query: String = "") async throws -> TestResponse {
        try await client.execute(uri: "/api/v1/hosts/self/tickets" + query, method: .get, headers: [.authorization: "Bearer \(host.hostToken)"])
    }

    @Test func repeatsJoinOnlyTheSameUsersTicketAndEachUserSeesTheirOwn() async throws {
        let tc = try await TestCollector(diagnoser: NoteDiagnoser())
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let alice = try await send(client, host, note: "printer.stuck", requestedBy: "alice")
            // The same problem from Bob: a ticket of his own, not Alice's.
            let bob = try await send(client, host, note: "printer.stuck", requestedBy: "bob")
            #expect(!bob.joinedExistingTicket)
            #expect(bob.ticketID != alice.ticketID)
            // Alice again: joins hers.
            let again = try await send(client, host, note: "printer.stuck", requestedBy: "alice")
            #expect(again.joinedExistingTicket && again.ticketID == alice.ticketID)
            // Root (no requester) again: neither user's ticket.
            let root = try await send(client, host, note: "printer.stuck", requestedBy: nil)
            #expect(!root.joinedExistingTicket)

            let hers = try decode(HostTicketList.self, try await ownTickets(client, host, query: "?requestedBy=alice")).tickets
            #expect(hers.map(\.id) == [alice.ticketID])
            #expect(hers.first?.requestedBy == "alice")
            let his = try decode(HostTicketList.self, try await ownTickets(client, host, query: "?requestedBy=bob")).tickets
            #expect(his.map(\.id) == [bob.ticketID])
            #expect(try decode(HostTicketList.self, try await ownTickets(client, host, query: "?requestedBy=carol")).tickets.isEmpty)
            let all = try decode(HostTicketList.self, try await ownTickets(client, host)).tickets
            #expect(Set(all.map(\.id)) == [alice.ticketID, bob.ticketID, root.ticketID])
            let tooLong = try await ownTickets(client, host, query: "?requestedBy=" + String(repeating: "x", count: 65))
            #expect(tooLong.status == .badRequest)
        }
    }

    @Test func anImplausibleRequesterIsStoredAsUnknown() async throws {
        let tc = try await TestCollector(diagnoser: NoteDiagnoser())
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let odd = try await send(client, host, note: "x.y", requestedBy: "eve\nmallory")
            let tickets = try decode(HostTicketList.self, try await ownTickets(client, host)).tickets
            #expect(tickets.first { $0.id == odd.ticketID }?.requestedBy == nil)
        }
    }
}
