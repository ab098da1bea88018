import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// Fleet policies: a saved query that runs on a schedule and opens a ticket for every host
/// that newly matches, before its user calls.
@Suite struct PolicyTests {
    static func service(_ tc: TestCollector, maxNew: Int = 20) -> PolicyService {
        var limits = tc.configuration.limits
        limits.policyMaxNewTickets = maxNew
        let reads = BlobReadPool(limit: 1, budget: .seconds(10), retryAfter: 1)
        return PolicyService(queries: FleetQueries(configuration: tc.configuration, reads: reads, store: tc.store),
                             store: tc.store, limits: limits, logger: .init(label: "test"))
    }

    static func beat(_ tc: TestCollector, _ id: String, _ name: String, rootUsed: Double, at: Date) async throws {
        try await tc.store.recordHeartbeats([HeartbeatRow(hostID: id, receivedAt: at, heartbeat: FleetQueryTests.heartbeat(id, hostname: name, rootUsed: rootUsed))])
    }

    @Test func newlyMatchingHostsGetATicketOnceAndRepeatsJoinIt() async throws {
        let (tc, ids) = try await FleetQueryTests.fleet()  // alpha 95.5 %, beta 40 %, gamma 90 % (not > 90)
        defer { Task { await tc.close() } }
        let now = Date()
        let policy = try await tc.store.saveQuery(
            name: "Root disk filling", sql: "SELECT host_id, mount_point, used_percent FROM disks WHERE mount_point = '/' AND used_percent > 90",
            owner: "tina", shared: true, policy: PolicySettings(intervalMinutes: 5, advice: "Empty the trash; clear ~/.cache.", priority: .high), now: now)
        let service = Self.service(tc)
        let first = try await service.runDue(now: now)
        #expect(first.count == 1)
        let ticket = try #require(try await tc.store.ticket(id: first[0]))
        #expect(ticket.ticket.hostID == ids[0] && ticket.ticket.priority == .high && ticket.ticket.title == "Policy: Root disk filling")
        #expect(ticket.note?.contains("Empty the trash") == true && ticket.note?.contains("used_percent 95.5") == true)
        #expect(try await service.runDue(now: now.addingTimeInterval(60)).isEmpty, "not due before its interval")
        #expect(try await service.runDue(now: now.addingTimeInterval(300)).isEmpty, "alpha still matches: nothing new")

        // beta starts matching; alpha stops, then matches again while its ticket is open.
        try await Self.beat(tc, ids[1], "beta", rootUsed: 97, at: now)
        try await Self.beat(tc, ids[0], "alpha", rootUsed: 50, at: now)
        let second = try await service.runDue(now: now.addingTimeInterval(600))
        let secondHost = try await tc.store.ticket(id: second[0])?.ticket.hostID
        #expect(second.count == 1 && secondHost == ids[1])
        try await Self.beat(tc, ids[0], "alpha", rootUsed: 99, at: now)
        #expect(try await service.runDue(now: now.addingTimeInterval(900)).isEmpty, "alpha's open ticket gets a note, not a twin")
        let notes = try #require(try await tc.store.ticket(id: first[0])).comments.map(\.body)
        #expect(notes.contains { $0.hasPrefix("The policy matched again.") })
        let saved = try #require(try await tc.store.savedQueries(visibleTo: "x").first { $0.id == policy.id })
        #expect(saved.policyLastResult == "2 hosts match, 0 new tickets")
    }

    @Test func aRunOpensAtMostItsBudgetAndAFailedRunChangesNothing() async throws {
        let (tc, ids) = try await FleetQueryTests.fleet()
        defer { Task { await tc.close() } }
        let now = Date()
        _ = try await tc.store.saveQuery(name: "Everyone", sql: "SELECT host_id FROM hosts ORDER BY hostname", owner: "tina", shared: true,
                                         policy: PolicySettings(intervalMinutes: 5, advice: "", priority: .low), now: now)
        let service = Self.service(tc, maxNew: 2)
        #expect(try await service.runDue(now: now).count == 2, "the budget")
        #expect(try await service.runDue(now: now.addingTimeInterval(300)).count == 1, "the rest next run")
        _ = try await tc.store.saveQuery(name: "No hosts", sql: "SELECT hostname FROM hosts", owner: "tina", shared: true,
                                         policy: PolicySettings(intervalMinutes: 5, advice: "", priority: .low), now: now)
        _ = try await tc.store.saveQuery(name: "Refused", sql: "SELECT user_id AS host_id FROM main.sessions", owner: "tina", shared: true,
                                         policy: PolicySettings(intervalMinutes: 5, advice: "", priority: .low), now: now)
        #expect(try await service.runDue(now: now.addingTimeInterval(600)).isEmpty)
        let results = Dictionary(uniqueKeysWithValues: try await tc.store.savedQueries(visibleTo: "tina").map { ($0.name, $0.policyLastResult ?? "") })
        #expect(results["No hosts"]?.contains("host_id column") == true)
        #expect(results["Refused"]?.hasPrefix("failed: reading main.sessions is not allowed") == true, "\(results)")
        #expect(results["Everyone"] == "3 hosts match, 0 new tickets")
        _ = ids
    }

    @Test func thePageRefusesAPolicyWithoutHostIDs() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let alice = try await WebAccessTests.session(tc, user: "alice", role: .technician)
            func save(_ sql: String, minutes: String) async throws -> TestResponse {
                try await client.execute(uri: "/query/saved", method: .post, headers: WebAccessTests.merge(alice.headers, WebAccessTests.formType),
                                         body: WebAccessTests.form(["csrf": alice.csrf, "name": "p \(minutes) \(sql.count)", "sql": sql,
                                                                    "policy_minutes": minutes, "policy_advice": "do this"]))
            }
            #expect(try await save("SELECT hostname FROM hosts", minutes: "10").status == .badRequest)
            #expect(try await save("SELECT host_id FROM hosts", minutes: "4").status == .badRequest, "below policy_min_interval_minutes")
            #expect(try await save("SELECT host_id FROM hosts", minutes: "10081").status == .badRequest)
            #expect(try await save("SELECT host_id FROM hosts", minutes: "5").status == .seeOther)
            let saved = try await tc.store.savedQueries(visibleTo: "alice")
            #expect(saved.count == 1 && saved[0].policyIntervalMinutes == 5 && saved[0].shared)
        }
    }
}
