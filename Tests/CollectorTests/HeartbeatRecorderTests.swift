import Foundation
import Testing
@testable import Collector
@testable import Shared

/// The heartbeat group commit: every request is answered only once its own row is
/// committed, batches are bounded, and a failed batch fails its requests and no others.
/// Both ways of draining are run on the same store: from the recorder's own thread
/// (`BlockingHeartbeatWriter`, SQLite's) and from a task through the async API (PostgreSQL's).
@Suite struct HeartbeatRecorderTests {
    static func hosts(_ tc: TestCollector, _ count: Int) async throws -> [String] {
        var ids: [String] = []
        for i in 0..<count {
            let id = UUID().uuidString.lowercased()
            _ = try await tc.store.enrollHost(id: id, machineID: "m-\(i)", hostname: "nb-\(i)", agentVersion: "0.1.0",
                                              tokenHash: Secrets.hash(Secrets.generate(.hostToken)), secretID: 1, now: Date())
            ids.append(id)
        }
        return ids
    }

    static func row(_ id: String, used: Double = 50) -> HeartbeatRow {
        HeartbeatRow(hostID: id, receivedAt: Date(), heartbeat: FleetQueryTests.heartbeat(id, hostname: "nb", rootUsed: used))
    }

    @Test func sqliteIsWrittenFromTheRecordersOwnThreadUnlessToldNot() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let recorder = HeartbeatRecorder(store: tc.store, metrics: tc.metrics)
        #expect(recorder.drainsOnItsOwnThread == (tc.store is SQLiteStore))
        #expect(!HeartbeatRecorder(store: tc.store, metrics: tc.metrics, blockingWrites: false).drainsOnItsOwnThread)
    }

    @Test(arguments: [true, false])
    func everyRequestIsAnsweredOnlyOnceItsRowIsCommitted(blockingWrites: Bool) async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 60)
        // Batches of at most 7: 60 requests at once make several, each a transaction.
        let recorder = HeartbeatRecorder(store: tc.store, metrics: tc.metrics, maxBatch: 7, blockingWrites: blockingWrites)
        let store = tc.store
        let seen = try await withThrowingTaskGroup(of: Bool.self) { group in
            for (i, id) in ids.enumerated() {
                group.addTask {
                    try await recorder.record(Self.row(id, used: Double(i)))
                    // Answered: the row must already be there for any reader.
                    return try await store.latestHeartbeat(hostID: id)?.heartbeat.filesystems.first?.usedPercent == Double(i)
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(seen.count == 60)
        #expect(seen.allSatisfy { $0 })
        #expect(tc.metrics.render().contains("helpline_heartbeats_accepted_total 60"))
    }

    @Test(arguments: [true, false])
    func aFailedBatchFailsItsRequestsAndTheRecorderGoesOn(blockingWrites: Bool) async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 2)
        let recorder = HeartbeatRecorder(store: tc.store, metrics: tc.metrics, blockingWrites: blockingWrites)
        // A host that is not enrolled (deleted between its authentication and the commit):
        // the foreign key refuses the row, and the whole batch with it.
        await #expect(throws: (any Error).self) { try await recorder.record(Self.row("no-such-host")) }
        #expect(try await tc.store.latestHeartbeat(hostID: "no-such-host") == nil)
        // The queue is not left marked as being drained: the next requests commit.
        try await recorder.record(Self.row(ids[0]))
        try await recorder.record(Self.row(ids[1]))
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0]) != nil)
        #expect(try await tc.store.latestHeartbeat(hostID: ids[1]) != nil)
        #expect(tc.metrics.render().contains("helpline_heartbeats_accepted_total 2"))
    }
}
