import Foundation
import Testing
@testable import Collector
@testable import Shared

/// The heartbeat log (`heartbeat_backlog_max` above 0): its records survive as written and
/// end at the first damaged one, its files rotate and go once stored, each collector holds a
/// slot of its own, and a replay stores what was logged exactly once. Through `TestCollector`,
/// so the replays also run on PostgreSQL (scripts/test.sh).
@Suite struct HeartbeatLogTests {
    static func body(_ id: String, used: Double) throws -> String {
        String(decoding: try BundleJSON.encoder().encode(FleetQueryTests.heartbeat(id, hostname: "nb", rootUsed: used)), as: UTF8.self)
    }

    static func logFiles(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".log") }.sorted()
    }

    @Test func recordsReadBackAsWrittenAndReadingStopsAtTheFirstDamagedOne() throws {
        let a = HeartbeatLog.encode(hostID: "h-1", receivedAt: Date(timeIntervalSince1970: 1_700_000_000.123), body: "{\"x\":1}")
        let b = HeartbeatLog.encode(hostID: "h-2", receivedAt: Date(timeIntervalSince1970: 1_700_000_001), body: String(repeating: "é", count: 3000))
        let (records, rest) = HeartbeatLog.read(Data(a + b), segment: 7)
        #expect(rest == 0)
        #expect(records.map(\.hostID) == ["h-1", "h-2"])
        #expect(records[0].receivedAt == Date(timeIntervalSince1970: 1_700_000_000.123))
        #expect(records[1].body == String(repeating: "é", count: 3000))
        #expect(records.map(\.end) == [HeartbeatLog.Position(segment: 7, offset: UInt64(a.count)),
                                       HeartbeatLog.Position(segment: 7, offset: UInt64(a.count + b.count))])
        // A write cut short: the whole records before it, the rest counted.
        let torn = HeartbeatLog.read(Data(a + b.dropLast(1)), segment: 7)
        #expect(torn.records.count == 1 && torn.rest == b.count - 1)
        // One flipped byte in the second record's body: its checksum fails, and so does
        // everything after it (a third, intact record is not trusted past the damage).
        var damaged = a + b + a
        damaged[a.count + 40] ^= 0x01
        let d = HeartbeatLog.read(Data(damaged), segment: 7)
        #expect(d.records.count == 1 && d.rest == b.count + a.count)
        // A length that claims more than the most a record can hold, or less than its header.
        var huge = a
        huge.replaceSubrange(0..<4, with: [0xFF, 0xFF, 0xFF, 0x7F])
        #expect(HeartbeatLog.read(Data(huge), segment: 1).records.isEmpty)
        var tiny = a
        tiny.replaceSubrange(0..<4, with: [10, 0, 0, 0])
        #expect(HeartbeatLog.read(Data(tiny), segment: 1).records.isEmpty)
        #expect(HeartbeatLog.read(Data(), segment: 1).rest == 0)
        #expect(HeartbeatLog.Position("3:99") == HeartbeatLog.Position(segment: 3, offset: 99))
        #expect(HeartbeatLog.Position("3:") == nil && HeartbeatLog.Position("-1:2") == nil && HeartbeatLog.Position("1:2:3") == nil)
    }

    @Test func segmentsRotateAtTheirSizeAndGoOnceStoredWhileSlotsKeepCollectorsApart() throws {
        let dir = try TempDir()
        let root = dir.file("heartbeat-log")
        let one = HeartbeatLog.encode(hostID: "h", receivedAt: Date(timeIntervalSince1970: 1), body: "{}").count
        // A segment closes once it holds at least `segmentBytes`: exactly one record's worth
        // puts each record in a segment of its own; one byte more puts two in each.
        var log: HeartbeatLog? = try HeartbeatLog(root: root, segmentBytes: one)
        #expect(log!.slot == 0)
        let ends = try (0..<3).map { _ in try log!.append(hostID: "h", receivedAt: Date(timeIntervalSince1970: 1), body: "{}") }
        #expect(ends.map(\.segment) == [1, 2, 3])
        #expect(Self.logFiles(root + "/0").count == 3)
        // A second collector on the same data directory takes the next slot.
        let other = try HeartbeatLog(root: root, segmentBytes: one + 1)
        #expect(other.slot == 1)
        let pair = try (0..<3).map { _ in try other.append(hostID: "h", receivedAt: Date(timeIntervalSince1970: 1), body: "{}").segment }
        #expect(pair == [1, 1, 2])
        // Stored through the second record: the first segment goes, the second and third stay.
        log!.stored(through: ends[1])
        #expect(Self.logFiles(root + "/0") == [HeartbeatLog.segmentPath("", 2), HeartbeatLog.segmentPath("", 3)].map { String($0.dropFirst()) })
        // File modes: the log holds what hosts sent.
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/0")
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        let file = try FileManager.default.attributesOfItem(atPath: HeartbeatLog.segmentPath(root + "/0", 3))
        #expect((file[.posixPermissions] as? Int) == 0o600)
        // The slot is free again once its collector is gone.
        log = nil
        #expect(try HeartbeatLog(root: root, segmentBytes: one).slot == 0)
    }

    @Test func aReplayStoresWhatWasLoggedOnceOldestFirstAndNumbersNewSegmentsAfterIt() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await HeartbeatRecorderTests.hosts(tc, 2)
        let root = tc.configuration.dataDirectory + "/heartbeat-log"
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        do {
            // A run that logged four heartbeats and stored none (a crash); a host deleted
            // meanwhile would be dropped, not fail the replay.
            let crashed = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
            _ = try crashed.append(hostID: ids[0], receivedAt: t, body: try Self.body(ids[0], used: 10))
            _ = try crashed.append(hostID: ids[1], receivedAt: t.addingTimeInterval(1), body: try Self.body(ids[1], used: 20))
            _ = try crashed.append(hostID: "deleted-host", receivedAt: t.addingTimeInterval(1), body: try Self.body("deleted-host", used: 1))
            _ = try crashed.append(hostID: ids[0], receivedAt: t.addingTimeInterval(2), body: try Self.body(ids[0], used: 30))
        }
        let log = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
        #expect(log.slot == 0)
        let replayed = try await log.replay(into: tc.store, batch: 2)
        #expect(replayed.stored == 4 && replayed.unreadable == 0 && replayed.setAside.isEmpty)
        // The later heartbeat of the host is its latest state; both are in its history.
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0])?.heartbeat.filesystems.first?.usedPercent == 30)
        #expect(try await tc.store.healthHistory(hostID: ids[0], limit: 10).count == 2)
        #expect(try await tc.store.healthHistory(hostID: ids[1], limit: 10).count == 1)
        #expect(log.markKey.hasPrefix("heartbeat_log.") && log.markKey.count == 14 + 36)
        #expect(try await tc.store.heartbeatLogMark(key: log.markKey) != nil)
        #expect(Self.logFiles(root + "/0").isEmpty)
    }

    @Test func newSegmentsAreNumberedAfterTheStoresMarkEvenWhenTheFilesAreGone() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await HeartbeatRecorderTests.hosts(tc, 1)
        let root = tc.configuration.dataDirectory + "/heartbeat-log"
        let log = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
        // The store's mark says segment 9 was stored; its files are long deleted. A record
        // written now must not be numbered under it, or a later replay would skip it.
        try await tc.store.recordHeartbeats([], logMark: HeartbeatLogMark(key: log.markKey, value: "9:100"))
        _ = try await log.replay(into: tc.store, batch: 10)
        let next = try log.append(hostID: ids[0], receivedAt: Date(), body: try Self.body(ids[0], used: 1))
        #expect(next.segment == 10)
    }

    @Test func aSlotWhoseCollectorIsGoneIsReplayedByTheNextOneThatStarts() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await HeartbeatRecorderTests.hosts(tc, 1)
        let root = tc.configuration.dataDirectory + "/heartbeat-log"
        do {
            // Two collectors on one data directory; the one in slot 1 logs a heartbeat and dies.
            let first = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
            let second = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
            #expect(first.slot == 0 && second.slot == 1 && first.markKey != second.markKey)
            _ = try second.append(hostID: ids[0], receivedAt: Date(), body: try Self.body(ids[0], used: 77))
        }
        let next = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
        #expect(next.slot == 0)
        #expect(try await next.replay(into: tc.store, batch: 10).stored == 1)
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0])?.heartbeat.filesystems.first?.usedPercent == 77)
        #expect(Self.logFiles(root + "/1").isEmpty)
    }

    @Test func aSegmentDamagedAfterItsWholeRecordsIsStoredUpToTheDamageAndKeptAside() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await HeartbeatRecorderTests.hosts(tc, 1)
        let root = tc.configuration.dataDirectory + "/heartbeat-log"
        do {
            let log = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
            _ = try log.append(hostID: ids[0], receivedAt: Date(), body: try Self.body(ids[0], used: 33))
        }
        let path = HeartbeatLog.segmentPath(root + "/0", 1)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0x40, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9]))
        try handle.close()
        let outcome = try await HeartbeatLog(root: root, segmentBytes: 1 << 20).replay(into: tc.store, batch: 10)
        #expect(outcome.stored == 1 && outcome.unreadable == 1 && outcome.setAside == [path + ".damaged"])
        #expect(FileManager.default.fileExists(atPath: path + ".damaged") && !FileManager.default.fileExists(atPath: path))
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0])?.heartbeat.filesystems.first?.usedPercent == 33)
    }

    @Test func aReplayAfterACrashBetweenCommitAndDeletingSkipsWhatTheMarkCovers() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await HeartbeatRecorderTests.hosts(tc, 1)
        let root = tc.configuration.dataDirectory + "/heartbeat-log"
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        do {
            let log = try HeartbeatLog(root: root, segmentBytes: 1 << 20)
            let first = try log.append(hostID: ids[0], receivedAt: t, body: try Self.body(ids[0], used: 10))
            _ = try log.append(hostID: ids[0], receivedAt: t.addingTimeInterval(1), body: try Self.body(ids[0], used: 20))
            // The first was stored with its mark; the collector died before the second.
            let rows = try #require(HeartbeatLog.row(HeartbeatLog.read(Data(contentsOf: URL(fileURLWithPath: HeartbeatLog.segmentPath(root + "/0", 1))), segment: 1).records[0]))
            try await tc.store.recordHeartbeats([rows], logMark: HeartbeatLogMark(key: log.markKey, value: first.description))
        }
        let replayed = try await HeartbeatLog(root: root, segmentBytes: 1 << 20).replay(into: tc.store, batch: 100)
        #expect(replayed.stored == 1)
        #expect(try await tc.store.healthHistory(hostID: ids[0], limit: 10).count == 2)
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0])?.heartbeat.filesystems.first?.usedPercent == 20)
    }

    @Test func aHeartbeatOfAHostThatIsGoneIsSkippedAndTheRestOfItsBatchStored() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await HeartbeatRecorderTests.hosts(tc, 1)
        try await tc.store.recordHeartbeats([HeartbeatRecorderTests.row("no-such-host"), HeartbeatRecorderTests.row(ids[0], used: 42)])
        #expect(try await tc.store.latestHeartbeat(hostID: ids[0])?.heartbeat.filesystems.first?.usedPercent == 42)
        #expect(try await tc.store.latestHeartbeat(hostID: "no-such-host") == nil)
        #expect(try await tc.store.healthHistory(hostID: "no-such-host", limit: 10).isEmpty)
    }

    @Test func aReplayedHeartbeatAddsNoSecondHistoryRowAndAnOrdinaryOneDoes() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let ids = try await HeartbeatRecorderTests.hosts(tc, 1)
        let row = HeartbeatRecorderTests.row(ids[0], used: 10)
        try await tc.store.recordHeartbeats([row])
        try await tc.store.recordHeartbeats([row], logMark: HeartbeatLogMark(key: "heartbeat_log.9", value: "1:1", replay: true))
        #expect(try await tc.store.healthHistory(hostID: ids[0], limit: 10).count == 1)
        try await tc.store.recordHeartbeats([row], logMark: HeartbeatLogMark(key: "heartbeat_log.9", value: "1:2"))
        #expect(try await tc.store.healthHistory(hostID: ids[0], limit: 10).count == 2)
        #expect(try await tc.store.heartbeatLogMark(key: "heartbeat_log.9") == "1:2")
    }
}
