import Foundation
import GRDB
import Synchronization
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

    /// Makes every heartbeat batch fail (a trigger refusing history rows) until removed.
    static func failBatches(_ tc: TestCollector, _ on: Bool) async throws {
        try await tc.sqliteStore.write { db in
            try db.execute(sql: on ? "CREATE TRIGGER fail_heartbeats BEFORE INSERT ON health_history BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                                   : "DROP TRIGGER fail_heartbeats")
        }
    }

    @Test(arguments: [true, false])
    func aFailedBatchFailsItsRequestsAndTheRecorderGoesOn(blockingWrites: Bool) async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 2)
        let recorder = HeartbeatRecorder(store: tc.store, metrics: tc.metrics, blockingWrites: blockingWrites)
        try await Self.failBatches(tc, true)
        await #expect(throws: (any Error).self) { try await recorder.record(Self.row(ids[0])) }
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0]) == nil)
        try await Self.failBatches(tc, false)
        // The queue is not left marked as being drained: the next requests commit.
        try await recorder.record(Self.row(ids[0]))
        try await recorder.record(Self.row(ids[1]))
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0]) != nil)
        #expect(try await tc.store.latestHeartbeat(hostID: ids[1]) != nil)
        #expect(tc.metrics.render().contains("helpline_heartbeats_accepted_total 2"))
        // A host deleted between its authentication and the commit is skipped, not an error.
        try await recorder.record(Self.row("no-such-host"))
        #expect(try await tc.store.latestHeartbeat(hostID: "no-such-host") == nil)
    }

    /// A counter's value as `/metrics` shows it; nil when not shown.
    static func counter(_ tc: TestCollector, _ name: String) -> Double? {
        tc.metrics.render().split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// Polls `condition` every 50 ms for up to `seconds`.
    static func eventually(_ seconds: Double = 60, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    @Test(arguments: [true, false])
    func answeredOnceLoggedUpToTheBacklogThenStoredWhenTheStoreTakesThemAgain(blockingWrites: Bool) async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 4)
        let log = try HeartbeatLog(root: tc.configuration.dataDirectory + "/heartbeat-log", segmentBytes: 1 << 20)
        _ = try await log.replay(into: tc.store, batch: 10)
        let recorder = HeartbeatRecorder(store: tc.store, metrics: tc.metrics, blockingWrites: blockingWrites,
                                         log: log, backlogMax: 3, retryAfter: 7)
        #expect(recorder.logsHeartbeats)
        // The store refuses every batch: heartbeats are still answered, up to the backlog.
        try await Self.failBatches(tc, true)
        for (i, id) in ids.prefix(3).enumerated() { try await recorder.record(Self.row(id, used: Double(60 + i))) }
        #expect(recorder.backlog == 3)
        do {
            try await recorder.record(Self.row(ids[3]))
            Issue.record("a fourth heartbeat was taken with a backlog of 3")
        } catch let error as APIError {
            #expect(error.status == .serviceUnavailable && error.code == "heartbeats_backlogged")
            #expect(error.message.contains("heartbeat_backlog_max") && error.headers[.retryAfter] == "7")
        }
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0]) == nil)
        #expect(!HeartbeatLogTests.logFiles(log.directory).isEmpty)
        // The failed batch stayed queued; once the store takes writes again it is stored.
        try await Self.failBatches(tc, false)
        #expect(try await Self.eventually { recorder.backlog == 0 })
        for (i, id) in ids.prefix(3).enumerated() {
            #expect(try await tc.store.latestHeartbeat(hostID: id)?.heartbeat.filesystems.first?.usedPercent == Double(60 + i))
        }
        #expect(try await tc.store.heartbeatLogMark(key: log.markKey) != nil)
        try await recorder.record(Self.row(ids[3]))
        #expect(try await Self.eventually { try await tc.store.latestHeartbeat(hostID: ids[3]) != nil })
    }

    @Test func anAnsweredBacklogIsStoredInHostOrderInLargeBatchesWithTheLastHeartbeatOfAHostWinning() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 40)
        let log = try HeartbeatLog(root: tc.configuration.dataDirectory + "/heartbeat-log", segmentBytes: 4096)
        _ = try await log.replay(into: tc.store, batch: 10)
        let recorder = HeartbeatRecorder(store: tc.store, metrics: tc.metrics, maxBatch: 25, log: log, backlogMax: 1000)
        try await Self.failBatches(tc, true)
        for (i, id) in ids.enumerated() { try await recorder.record(Self.row(id, used: Double(i))) }
        // A host's second heartbeat in the same backlog: stored after its first.
        try await recorder.record(Self.row(ids[5], used: 99))
        #expect(HeartbeatLogTests.logFiles(log.directory).count > 1)
        try await Self.failBatches(tc, false)
        #expect(try await Self.eventually { recorder.backlog == 0 })
        #expect(try await tc.store.latestHeartbeat(hostID: ids[5])?.heartbeat.filesystems.first?.usedPercent == 99)
        #expect(try await tc.store.healthHistory(hostID: ids[5], limit: 10).count == 2)
        #expect(try await tc.store.latestHeartbeat(hostID: ids[39])?.heartbeat.filesystems.first?.usedPercent == 39)
        #expect(tc.metrics.render().contains("helpline_heartbeats_accepted_total 41"))
        // Every segment before the last mark's is gone; at most the one being written stays.
        #expect(HeartbeatLogTests.logFiles(log.directory).count <= 1)
    }

    @Test func atShutdownTheBatchInHandEndsAndTheBacklogWaitsInTheLogForTheNextStart() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 2)
        let root = tc.configuration.dataDirectory + "/heartbeat-log"
        var recorder: HeartbeatRecorder? = HeartbeatRecorder(store: tc.store, metrics: tc.metrics,
                                                             log: try HeartbeatLog(root: root, segmentBytes: 1 << 20), backlogMax: 10)
        try await Self.failBatches(tc, true)
        try await recorder!.record(Self.row(ids[0], used: 11))
        try await recorder!.record(Self.row(ids[1], used: 12))
        // Returns once the drain has seen it (it waits out the failed batch's pause first).
        await recorder!.stop(timeout: .seconds(60))
        // Stopped: the store could take them now, yet nothing more is written.
        try await Self.failBatches(tc, false)
        try await Task.sleep(for: .milliseconds(1500))
        #expect(recorder!.backlog == 2)
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0]) == nil)
        // The next start (the slot is free once the recorder and its log are gone) stores them.
        recorder = nil
        let next = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
        #expect(next.slot == 0)
        #expect(try await next.replay(into: tc.store, batch: 100).stored == 2)
        #expect(try await tc.store.latestHeartbeat(hostID: ids[1])?.heartbeat.filesystems.first?.usedPercent == 12)
    }

    @Test func aBatchIsStoredInTransactionsAndACrashBetweenThemIsReplayedWithoutDoubleHistory() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 25)
        let root = tc.configuration.dataDirectory + "/heartbeat-log"
        // The host sorted last lands in the third transaction (10 + 10 + 5), which fails.
        let last = try #require(ids.max())
        try await tc.sqliteStore.write { db in
            try db.execute(sql: "CREATE TRIGGER fail_one BEFORE INSERT ON health_history WHEN NEW.host_id = '\(last)' BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
        }
        var log: HeartbeatLog? = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
        let key = log!.markKey
        var recorder: HeartbeatRecorder? = HeartbeatRecorder(store: tc.store, metrics: tc.metrics, maxBatch: 10, sortMax: 25, log: log, backlogMax: 100,
                                                             storeTries: 100)
        log = nil
        try await Self.failBatches(tc, true)
        for id in ids { try await recorder!.record(Self.row(id)) }
        try await Self.failBatches(tc, false)
        // The first two transactions are stored, the third is tried again and again.
        #expect(try await Self.eventually { try await tc.store.latestHeartbeat(hostID: ids.sorted()[19]) != nil })
        try await Task.sleep(for: .milliseconds(300))
        #expect(recorder!.backlog == 5)
        #expect(try await tc.store.latestHeartbeat(hostID: last) == nil)
        // The mark moves only with a whole batch: none yet.
        #expect(try await tc.store.heartbeatLogMark(key: key) == nil)
        // The collector dies; at the next start the store takes every heartbeat again.
        await recorder!.stop(timeout: .seconds(60))
        recorder = nil
        try await tc.sqliteStore.write { db in try db.execute(sql: "DROP TRIGGER fail_one") }
        let replayed = try await HeartbeatLog(root: root, segmentBytes: 1 << 20).replay(into: tc.store, batch: 100)
        #expect(replayed.stored == 25)
        for id in ids {
            #expect(try await tc.store.healthHistory(hostID: id, limit: 10).count == 1)
        }
        #expect(try await tc.store.latestHeartbeat(hostID: last) != nil)
    }

    /// Holds every heartbeat transaction inside its first history insert until `open()`
    /// (a function on the writing connection, called by a trigger), so a test can keep the
    /// writer busy for as long as it needs.
    final class Gate: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        func open() { semaphore.signal() }

        static func install(_ tc: TestCollector) async throws -> Gate {
            let gate = Gate()
            try await tc.sqliteStore.write { db in
                db.add(function: DatabaseFunction("helpline_test_gate", argumentCount: 0, pure: false) { _ in
                    gate.semaphore.wait()
                    gate.semaphore.signal()  // once open, open for good
                    return nil
                })
                try db.execute(sql: "CREATE TRIGGER gate_heartbeats BEFORE INSERT ON health_history BEGIN SELECT helpline_test_gate(); END")
            }
            return gate
        }
    }

    /// A flag set from another task.
    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    @Test func withTheLogAHeartbeatIsAnsweredOnceStoredWhileTheWriterKeepsUpAndAtOnceWhenItFallsBehind() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 4)
        let log = try HeartbeatLog(root: tc.configuration.dataDirectory + "/heartbeat-log", segmentBytes: 1 << 20)
        _ = try await log.replay(into: tc.store, batch: 10)
        let recorder = HeartbeatRecorder(store: tc.store, metrics: tc.metrics, log: log, backlogMax: 100, waitMax: 1)
        // Keeping up: answered once stored, so a read right after sees it; logged all the same.
        try await recorder.record(Self.row(ids[0], used: 40))
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0])?.heartbeat.filesystems.first?.usedPercent == 40)
        #expect(try await tc.store.heartbeatLogMark(key: log.markKey) != nil)
        // The writer held inside a transaction: the first request waits for it...
        let gate = try await Gate.install(tc)
        let answered = Flag()
        let first = Task {
            try await recorder.record(Self.row(ids[1], used: 41))
            answered.set()
        }
        #expect(try await Self.eventually { recorder.backlog == 1 })
        try await Task.sleep(for: .milliseconds(200))
        #expect(!answered.isSet)
        // ...and with one waiting (`waitMax` 1), the next are answered at once, logged, not stored.
        try await recorder.record(Self.row(ids[2], used: 42))
        try await recorder.record(Self.row(ids[3], used: 43))
        #expect(!answered.isSet)
        #expect(recorder.backlog == 3)
        #expect(try await tc.store.latestHeartbeat(hostID: ids[2]) == nil)
        gate.open()
        try await first.value
        #expect(answered.isSet)
        #expect(try await Self.eventually { recorder.backlog == 0 })
        for (i, id) in ids.enumerated() {
            #expect(try await tc.store.latestHeartbeat(hostID: id)?.heartbeat.filesystems.first?.usedPercent == Double(40 + i))
        }
        #expect(Self.counter(tc, "helpline_heartbeats_accepted_total") == 4)
    }

    @Test func withTheLogAWaitingRequestWhoseBatchFailsIsAnsweredAndItsHeartbeatStoredLater() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 1)
        let log = try HeartbeatLog(root: tc.configuration.dataDirectory + "/heartbeat-log", segmentBytes: 1 << 20)
        _ = try await log.replay(into: tc.store, batch: 10)
        let recorder = HeartbeatRecorder(store: tc.store, metrics: tc.metrics, log: log, backlogMax: 100, waitMax: 16, storeTries: 100)
        try await Self.failBatches(tc, true)
        // No error: the log keeps it, and the failed batch is tried again.
        try await recorder.record(Self.row(ids[0], used: 77))
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0]) == nil)
        #expect(recorder.backlog == 1)
        try await Self.failBatches(tc, false)
        #expect(try await Self.eventually { recorder.backlog == 0 })
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0])?.heartbeat.filesystems.first?.usedPercent == 77)
    }

    @Test(arguments: [true, false])
    func aHeartbeatTheStoreRefusesOnItsOwnIsSetAsideAfterItsTriesAndTheRestIsStored(blockingWrites: Bool) async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 12)
        let poison = ids[5]
        try await tc.sqliteStore.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse_one BEFORE INSERT ON health_history WHEN NEW.host_id = '\(poison)' BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        let log = try HeartbeatLog(root: tc.configuration.dataDirectory + "/heartbeat-log", segmentBytes: 1 << 20)
        _ = try await log.replay(into: tc.store, batch: 10)
        let recorder = HeartbeatRecorder(store: tc.store, metrics: tc.metrics, blockingWrites: blockingWrites,
                                         log: log, backlogMax: 100, storeTries: 2)
        try await Self.failBatches(tc, true)
        for id in ids { try await recorder.record(Self.row(id)) }
        try await Self.failBatches(tc, false)
        // First try: refused (the poison); second: isolated, the poison set aside.
        #expect(try await Self.eventually { recorder.backlog == 0 })
        #expect(try await tc.store.latestHeartbeat(hostID: poison) == nil)
        for id in ids where id != poison {
            #expect(try await tc.store.healthHistory(hostID: id, limit: 10).count == 1)
        }
        #expect(Self.counter(tc, "helpline_heartbeats_set_aside_total") == 1)
        #expect(Self.counter(tc, "helpline_heartbeats_accepted_total") == 11)
        // The log moved past it: a restart stores nothing again.
        #expect(try await tc.store.heartbeatLogMark(key: log.markKey) != nil)
        #expect(HeartbeatLogTests.logFiles(log.directory).count <= 1)
    }

    @Test func whenEveryHeartbeatFailsOnItsOwnTheStoreIsBlamedAndNothingIsSetAside() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 12)
        let log = try HeartbeatLog(root: tc.configuration.dataDirectory + "/heartbeat-log", segmentBytes: 1 << 20)
        _ = try await log.replay(into: tc.store, batch: 10)
        let recorder = HeartbeatRecorder(store: tc.store, metrics: tc.metrics, log: log, backlogMax: 100, storeTries: 1)
        try await Self.failBatches(tc, true)
        for id in ids { try await recorder.record(Self.row(id)) }
        // Two rounds of tries, each isolated at once (storeTries 1), each failing throughout.
        try await Task.sleep(for: .milliseconds(2500))
        #expect(recorder.backlog == 12)
        #expect((Self.counter(tc, "helpline_heartbeats_set_aside_total") ?? 0) == 0)
        try await Self.failBatches(tc, false)
        #expect(try await Self.eventually { recorder.backlog == 0 })
        for id in ids { #expect(try await tc.store.healthHistory(hostID: id, limit: 10).count == 1) }
        #expect(Self.counter(tc, "helpline_heartbeats_accepted_total") == 12)
    }

    @Test func aReplayStoresAroundALoggedHeartbeatTheStoreRefusesAndFailsOnlyWhenTheStoreIsDown() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await Self.hosts(tc, 3)
        let root = tc.configuration.dataDirectory + "/heartbeat-log"
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        do {
            let crashed = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
            for (i, id) in ids.enumerated() {
                _ = try crashed.append(hostID: id, receivedAt: t.addingTimeInterval(Double(i)), body: try HeartbeatLogTests.body(id, used: Double(i)))
            }
        }
        // The store down (every write refused): the replay fails, as the collector's start
        // then does, and nothing is lost.
        try await Self.failBatches(tc, true)
        await #expect(throws: (any Error).self) { try await HeartbeatLog(root: root, segmentBytes: 1 << 20).replay(into: tc.store, batch: 10) }
        try await Self.failBatches(tc, false)
        #expect(HeartbeatLogTests.logFiles(root + "/0").count == 1)
        // One heartbeat the store refuses on its own: the others are stored, it is named.
        try await tc.sqliteStore.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse_one BEFORE INSERT ON health_history WHEN NEW.host_id = '\(ids[1])' BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        let log = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
        let replayed = try await log.replay(into: tc.store, batch: 10)
        #expect(replayed.stored == 2)
        #expect(replayed.refused.map(\.hostID) == [ids[1]])
        #expect(replayed.refused.first?.error.contains("refused") == true)
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0]) != nil)
        #expect(try await tc.store.latestHeartbeat(hostID: ids[2]) != nil)
        #expect(try await tc.store.latestHeartbeat(hostID: ids[1]) == nil)
        #expect(try await tc.store.heartbeatLogMark(key: log.markKey) != nil)
        #expect(HeartbeatLogTests.logFiles(root + "/0").isEmpty)
    }
}
