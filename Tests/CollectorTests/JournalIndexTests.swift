import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// The journal index (issue #10, Speed): pages from SQLite equal pages from the blob scan.
@Suite struct JournalIndexTests {
    static let boots = ["0f1e2d3c4b5a69788796a5b4c3d2e1f0", "aaaabbbbccccddddeeeeffff00001111"]

    /// Messages that stress the text search: FTS5 and LIKE syntax, SQL, case folding beyond
    /// ASCII, empty and absent messages.
    static let messages: [String?] = [
        "wlan0: link DOWN", "Failed to start GDM display manager", #"quote " star * NEAR(a b) -x col:umn ^caret"#,
        "100% done_ok", "Straße ÄRGER mit dem Netz", "Ошибка сети: ТАЙМАУТ", "temperature 300 \u{212A}elvin",
        "İstanbul and istanbul", "%' OR 1=1 --", "'); DROP TABLE journal_entries; --", "", nil,
        "tab\there and new\nline", "ab", "Σίσυφος ΣΊΣΥΦΟΣ", "emoji 🔥 fire", "NUL\u{0}inside",
    ]

    /// A journal that varies every field the filters look at.
    static func journal(count: Int) -> [JournalEntry] {
        (0..<count).map { i in
            var e = JournalEntry(realtime: 1_790_000_000_000_000 + Int64(i) * 1_000_000, bootID: boots[i < count / 2 ? 0 : 1],
                                 priority: i % 9 == 8 ? nil : i % 8, facility: i % 3 == 0 ? 3 : nil,
                                 identifier: ["NetworkManager", "gdm", "kernel", "sshd", nil][i % 5],
                                 unit: ["NetworkManager.service", "gdm.service", nil][i % 3],
                                 userUnit: i % 7 == 0 ? "pipewire.service" : nil, pid: i % 4 == 0 ? nil : 1000 + i,
                                 comm: "comm\(i % 3)", transport: i % 2 == 0 ? "journal" : "stdout",
                                 message: messages[i % messages.count].map { "\($0) #\(i)" },
                                 cursor: i % 11 == 0 ? "s=abc;i=\(String(i, radix: 16));b=\(boots[0]);t=\(String(1_790_000_000_000_000 + i * 1_000_000, radix: 16))" : nil,
                                 coredump: i % 13 == 0 ? ["EXE": "/usr/bin/x", "SIGNAL_NAME": "SIGSEGV"] : nil)
            if messages[i % messages.count] == nil { e.message = nil }
            if i % 10 == 9 {
                // Not UTF-8: the reader keeps a readable copy and the exact bytes.
                let bytes: [UInt8] = [0x62, 0x61, 0x64, 0xFF, 0xFE, 0x20, 0x4C, 0x49, 0x4E, 0x4B] + Array(" #\(i)".utf8)
                bytes.withUnsafeBytes { e.setMessage(bytes: $0) }
            }
            return e
        }
    }

    static func bundle(manifest: Manifest, entries: [JournalEntry]) throws -> [UInt8] {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let writer = try BundleWriter(path: dir.file("b.tar.gz"))
        try writer.addJSON(BundleMember.system, SystemInfo(hostname: "laptop-42", machineID: manifest.host.machineID))
        var lines: [UInt8] = []
        for e in entries { JournalLineCodec.append(e, to: &lines) }
        try writer.add(BundleMember.journal, bytes: lines)
        let result = try writer.finish(manifest: manifest)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: result.path)))
    }

    /// Uploads a bundle of `entries` and answers its id and blob path.
    static func ingest(_ tc: TestCollector, _ client: some TestClientProtocol, entries: [JournalEntry],
                       machineID: String = "machine-1") async throws -> (id: String, path: String) {
        let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: machineID)
        let manifest = sampleManifest(hostID: host.hostID, machineID: machineID)
        let response = try await upload(client, token: host.hostToken, try bundle(manifest: manifest, entries: entries))
        #expect(response.status == .created)
        let record = try #require(try await tc.store.bundle(id: manifest.bundleID))
        let path = try BlobStore(dataDirectory: tc.configuration.dataDirectory).path(for: record.sha256)
        try await index(tc, manifest.bundleID, path)
        return (manifest.bundleID, path)
    }

    /// Builds a bundle's index now (the collector builds it when its journal is first read).
    static func index(_ tc: TestCollector, _ bundleID: String, _ path: String) async throws {
        let indexer = JournalIndexer(store: tc.store, limits: tc.configuration.limits, logger: .init(label: "test"))
        await indexer.request(bundleID: bundleID, path: path)
        await indexer.idle()
    }

    @Test func indexingAgainAfterAnInterruptedRunOrTwiceIsHarmless() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let (id, path) = try await Self.ingest(tc, client, entries: Self.journal(count: 300), machineID: "again")
            let before = try #require(try await tc.store.journalPage(bundleID: id, filter: .init(text: "link"), offset: 0, limit: 50))
            // A crash after the rows but before the mark: the rows are there, the mark is not.
            let db = try DatabaseQueue(path: try tc.sqliteStore.path)
            try await db.write { try $0.execute(sql: "DELETE FROM journal_indexes") }
            try db.close()
            #expect(try await tc.store.journalPage(bundleID: id, filter: .init(), offset: 0, limit: 10) == nil)
            try await Self.index(tc, id, path)
            #expect(try await tc.store.journalPage(bundleID: id, filter: .init(text: "link"), offset: 0, limit: 50) == before)
            // Asking again once indexed writes nothing and answers the same.
            #expect(try await tc.store.storeJournalIndex(bundleID: id, entries: Self.journal(count: 300), now: Date()))
            #expect(try await tc.store.journalPage(bundleID: id, filter: .init(text: "link"), offset: 0, limit: 50) == before)
        }
    }

    @Test func theFirstReadOfAJournalBuildsItsIndexInTheBackground() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let api = try await tc.apiToken()
            let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "lazy")
            let manifest = sampleManifest(hostID: host.hostID, machineID: "lazy")
            #expect(try await upload(client, token: host.hostToken, try Self.bundle(manifest: manifest, entries: Self.journal(count: 300))).status == .created)
            #expect(try await tc.store.journalPage(bundleID: manifest.bundleID, filter: .init(), offset: 0, limit: 10) == nil, "ingest does not index")
            let first = try await client.execute(uri: "/api/v1/bundles/\(manifest.bundleID)/journal?offset=250&limit=5", method: .get,
                                                 headers: [.authorization: "Bearer \(api)"])
            #expect(first.headers[.journalSource] == "blob")
            var source = "blob"
            let deadline = ContinuousClock.now + .seconds(30)
            while source == "blob" && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                let r = try await client.execute(uri: "/api/v1/bundles/\(manifest.bundleID)/journal?offset=250&limit=5", method: .get,
                                                 headers: [.authorization: "Bearer \(api)"])
                source = r.headers[.journalSource] ?? ""
                if source == "index" { #expect(String(buffer: r.body) == String(buffer: first.body), "the index answers as the blob did") }
            }
            #expect(source == "index")
        }
    }

    static func blobPage(_ path: String, _ tc: TestCollector, _ filter: BundleArchive.JournalFilter, offset: Int, limit: Int) throws -> BundleArchive.JournalPage {
        try BundleArchive(path: path, limits: tc.configuration.limits.bundleLimits).journal(filter, offset: offset, limit: limit)
    }

    static let t0 = Date(timeIntervalSince1970: 1_790_000_000)

    static var filters: [BundleArchive.JournalFilter] {
        var out: [BundleArchive.JournalFilter] = [
            .init(), .init(maxPriority: 3), .init(maxPriority: 0), .init(maxPriority: 6), .init(maxPriority: 7),
            .init(unit: "gdm.service"), .init(unit: "gdm"), .init(unit: "pipewire.service"), .init(unit: "nope"),
            .init(identifier: "kernel"), .init(identifier: "gdm.service"), .init(bootID: boots[1]), .init(bootID: "x"),
            .init(since: t0.addingTimeInterval(100)), .init(until: t0.addingTimeInterval(50)),
            .init(since: t0.addingTimeInterval(10), until: t0.addingTimeInterval(300)),
            .init(maxPriority: 4, unit: "NetworkManager.service", text: "link"),
            .init(unit: "gdm", identifier: "gdm", bootID: boots[0], text: "#1"),
        ]
        let texts = ["link down", "LINK", "wlan0: link DOWN #0", "ß", "STRASSE", "straße", "ärger", "ÄRGER", "ошибка", "ТАЙМ", "kelvin",
                     "\u{212A}ELVIN", "k", "i", "İ", "istanbul", "σίσυφος", "ΣΊΣΥΦΟΣ", "\"", "*", "NEAR(", "NEAR(a b)", "-x", "col:umn",
                     "^caret", "%", "_", "100%", "e_o", "done_", "%' OR 1=1 --", "'); DROP TABLE", "\u{FFFD}", "bad\u{FFFD}",
                     "\u{FFFD}\u{FFFD} link", "#", "#1", "fire", "🔥", "\t", "tab\there", "\n", "\u{0}", "NUL\u{0}in", "a\"b",
                     "\"\"\"", "zzz not there", "AB", "ke", "kel", "\u{212A}e", "z"]
        out += texts.map { .init(text: $0) }
        return out
    }

    @Test func indexedPagesEqualTheBlobScan() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let entries = Self.journal(count: 420)
        try await tc.app().test(.router) { client in
            let (id, path) = try await Self.ingest(tc, client, entries: entries)
            // The index holds every entry, exactly as the blob does.
            let all = try #require(try await tc.store.journalPage(bundleID: id, filter: .init(), offset: 0, limit: 1000))
            #expect(all.entries == (try Self.blobPage(path, tc, .init(), offset: 0, limit: 1000)).entries)
            #expect(all.entries.count == entries.count)
            var compared = 0
            for filter in Self.filters {
                for offset in [0, 1, 17, 200, 419, 420, 5000] {
                    for limit in [1, 7, 50, 1000] where offset < 200 || limit == 50 {
                        let indexed = try #require(try await tc.store.journalPage(bundleID: id, filter: filter, offset: offset, limit: limit))
                        let scanned = try Self.blobPage(path, tc, filter, offset: offset, limit: limit)
                        #expect(indexed == scanned, "filter \(filter) offset \(offset) limit \(limit)")
                        compared += 1
                    }
                }
            }
            #expect(compared > 300)
            // Some text filters must find something, or the comparison proves little.
            for text in ["link down", "ß", "ärger", "ошибка", "kelvin", "\"", "NEAR(", "%", "_", "\u{FFFD}", "🔥", "İ", "ke", "kel", "i", "-x"] {
                let page = try #require(try await tc.store.journalPage(bundleID: id, filter: .init(text: text), offset: 0, limit: 5))
                #expect(!page.entries.isEmpty, "\(text) found nothing")
            }
            // The API answers from the index, in the same JSON.
            let api = try await tc.apiToken()
            let r = try await client.execute(uri: "/api/v1/bundles/\(id)/journal?unit=gdm&q=%25&limit=30&offset=2", method: .get,
                                             headers: [.authorization: "Bearer \(api)"])
            #expect(r.status == .ok)
            #expect(r.headers[.journalSource] == "index")
            #expect(try decode(BundleArchive.JournalPage.self, r) == (try Self.blobPage(path, tc, .init(unit: "gdm", text: "%"), offset: 2, limit: 30)))
        }
    }

    @Test func hostileFiltersAnswerWithoutErrors() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let (id, path) = try await Self.ingest(tc, client, entries: Self.journal(count: 60))
            let huge = String(repeating: "\"*NEAR(%_", count: 10 << 20 / 9)
            for filter in [BundleArchive.JournalFilter(text: huge), .init(unit: huge), .init(identifier: huge), .init(bootID: huge),
                           .init(unit: huge, text: huge)] {
                let indexed = try #require(try await tc.store.journalPage(bundleID: id, filter: filter, offset: 0, limit: 10))
                #expect(indexed == (try Self.blobPage(path, tc, filter, offset: 0, limit: 10)))
                #expect(indexed.entries.isEmpty)
            }
            let api = try await tc.apiToken()
            let auth: HTTPFields = [.authorization: "Bearer \(api)"]
            let base = "/api/v1/bundles/\(id)/journal"
            for query in ["q=%22", "q=*", "q=NEAR(", "q=-x", "q=col%3Aumn", "q=%25", "q=_", "q=%FF%FE", "q=bad%FF", "unit=%FF",
                          "boot=%00", "identifier=%27%20OR%201%3D1", "q=%27)%3B%20DROP%20TABLE%20journal_entries%3B--", "q=&unit=&boot="] {
                let r = try await client.execute(uri: base + "?" + query, method: .get, headers: auth)
                #expect(r.status == .ok || r.status == .badRequest, "\(query) answered \(r.status)")
            }
            for query in ["q=" + String(repeating: "a", count: 1025), "unit=" + String(repeating: "b", count: 513),
                          "boot=" + String(repeating: "c", count: 513), "identifier=" + String(repeating: "d", count: 513)] {
                #expect(try await client.execute(uri: base + "?" + query, method: .get, headers: auth).status == .badRequest)
            }
            // Nothing was dropped: the whole journal is still there.
            let after = try #require(try await tc.store.journalPage(bundleID: id, filter: .init(), offset: 0, limit: 100))
            #expect(after.entries.count == 60)
        }
    }

    @Test func bundlesOverTheLimitAreScannedFromTheBlob() async throws {
        let tc = try await TestCollector(limits: ["journal_index_max_entries": 50])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let api = try await tc.apiToken()
            let at = try await Self.ingest(tc, client, entries: Self.journal(count: 50), machineID: "machine-at")
            let over = try await Self.ingest(tc, client, entries: Self.journal(count: 51), machineID: "machine-over")
            #expect(try await tc.store.journalPage(bundleID: at.id, filter: .init(), offset: 0, limit: 10) != nil)
            #expect(try await tc.store.journalPage(bundleID: over.id, filter: .init(), offset: 0, limit: 10) == nil)
            for (bundle, source) in [(at, "index"), (over, "blob")] {
                for query in ["", "offset=45&limit=3", "q=LINK&priority=5", "unit=gdm"] {
                    let r = try await client.execute(uri: "/api/v1/bundles/\(bundle.id)/journal?\(query)", method: .get,
                                                     headers: [.authorization: "Bearer \(api)"])
                    #expect(r.status == .ok)
                    #expect(r.headers[.journalSource] == source)
                    var filter = BundleArchive.JournalFilter()
                    var offset = 0, limit = 200
                    if query.hasPrefix("offset") { offset = 45; limit = 3 }
                    if query.hasPrefix("q") { filter = .init(maxPriority: 5, text: "LINK") }
                    if query.hasPrefix("unit") { filter = .init(unit: "gdm") }
                    #expect(try decode(BundleArchive.JournalPage.self, r) == (try Self.blobPage(bundle.path, tc, filter, offset: offset, limit: limit)))
                }
            }
        }
        // 0 indexes nothing.
        let none = try await TestCollector(limits: ["journal_index_max_entries": 0])
        defer { Task { await none.close() } }
        try await none.app().test(.router) { client in
            let b = try await Self.ingest(none, client, entries: Self.journal(count: 3))
            #expect(try await none.store.journalPage(bundleID: b.id, filter: .init(), offset: 0, limit: 10) == nil)
        }
    }

    @Test func expiryStopsTheIndexAtOnceAndRetentionRemovesItsRows() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let gone = try await Self.ingest(tc, client, entries: Self.journal(count: 120), machineID: "machine-a")
            let kept = try await Self.ingest(tc, client, entries: Self.journal(count: 80), machineID: "machine-b")
            let db = try DatabaseQueue(path: try tc.sqliteStore.path)
            func count(_ sql: String, _ arguments: StatementArguments = []) throws -> Int {
                try db.read { try Int.fetchOne($0, sql: sql, arguments: arguments)! }
            }
            let link = #""lin" AND "ink""#
            let textRows = "SELECT count(*) FROM journal_text WHERE journal_text MATCH ?"
            #expect(try count("SELECT count(*) FROM journal_entries") == 200)
            let before = try count(textRows, [link])
            try await tc.store.markExpired(bundleIDs: [gone.id], reason: "test", now: Date())
            // The mark goes in the expiry's transaction: the index answers no more.
            #expect(try count("SELECT count(*) FROM journal_indexes") == 1)
            #expect(try await tc.store.journalPage(bundleID: gone.id, filter: .init(), offset: 0, limit: 10) == nil)
            // The rows go in bounded transactions right after (retention runs both).
            #expect(try await tc.store.purgeJournalIndexes() == 120)
            #expect(try await tc.store.purgeJournalIndexes() == 0)
            #expect(try count("SELECT count(*) FROM journal_entries") == 80)
            #expect(try count(textRows, [link]) < before)
            #expect(try count(textRows, [link]) == (try count("SELECT count(*) FROM journal_entries WHERE message LIKE '%lin%' AND message LIKE '%ink%'")))
            try await db.write { try $0.execute(sql: "INSERT INTO journal_text (journal_text, rank) VALUES ('integrity-check', 1)") }
            #expect(try await tc.store.journalPage(bundleID: gone.id, filter: .init(), offset: 0, limit: 10) == nil)
            #expect(try await tc.store.journalPage(bundleID: kept.id, filter: .init(text: "link"), offset: 0, limit: 100)
                    == (try Self.blobPage(kept.path, tc, .init(text: "link"), offset: 0, limit: 100)))
            try db.close()
        }
    }

    @Test func retentionRemovesExpiredIndexes() async throws {
        let tc = try await TestCollector(limits: ["retention_bundles_per_host": 1])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            var ids: [String] = []
            for count in [30, 20] {
                let manifest = sampleManifest(hostID: host.hostID)
                #expect(try await upload(client, token: host.hostToken, try Self.bundle(manifest: manifest, entries: Self.journal(count: count))).status == .created)
                ids.append(manifest.bundleID)
            }
            for id in ids {
                let record = try #require(try await tc.store.bundle(id: id))
                try await Self.index(tc, id, try BlobStore(dataDirectory: tc.configuration.dataDirectory).path(for: record.sha256))
            }
            let retention = RetentionService(store: tc.store, blobs: try BlobStore(dataDirectory: tc.configuration.dataDirectory),
                                             limits: tc.configuration.limits, metrics: tc.metrics, logger: .init(label: "test"))
            #expect(try await retention.runOnce(now: Date()) == [ids[0]])
            let db = try DatabaseQueue(path: try tc.sqliteStore.path)
            #expect(try await db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM journal_entries") } == 20)
            try await db.write { try $0.execute(sql: "INSERT INTO journal_text (journal_text, rank) VALUES ('integrity-check', 1)") }
            try db.close()
            let api = try await tc.apiToken()
            let r = try await client.execute(uri: "/api/v1/bundles/\(ids[0])/journal", method: .get, headers: [.authorization: "Bearer \(api)"])
            #expect(r.status == .gone)
            #expect(try await tc.store.journalPage(bundleID: ids[1], filter: .init(), offset: 0, limit: 100)?.entries.count == 20)
        }
    }

    @Test func contextAroundACitedEntry() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let entries = Self.journal(count: 40)
        try await tc.app().test(.router) { client in
            let (id, _) = try await Self.ingest(tc, client, entries: entries)
            for (cited, before, after) in [(0, 3, 3), (39, 3, 3), (20, 2, 5), (11, 0, 0), (33, 100, 100)] {
                let context = try #require(try await tc.store.journalContext(bundleID: id, locator: entries[cited].locator, before: before, after: after))
                #expect(context.offset == cited)
                let first = max(0, cited - before)
                #expect(context.firstOffset == first)
                #expect(context.entries == Array(entries[first...min(39, cited + after)]))
            }
            let missing = try #require(try await tc.store.journalContext(bundleID: id, locator: "b=nope;t=1", before: 2, after: 2))
            #expect(missing.offset == nil && missing.entries.isEmpty)
            #expect(try await tc.store.journalContext(bundleID: UUID().uuidString.lowercased(), locator: entries[0].locator, before: 1, after: 1) == nil)
        }
    }

    @Test func caseFoldingKeepsTheTrigramPrefilterSound() {
        // The premise of `JournalText.trigramPhrase`: the only non-ASCII scalar whose
        // single-scalar lowercase is ASCII is the Kelvin sign (FTS5 folds it to k as well).
        var toASCII: [UInt32] = []
        for v in UInt32(0x80)...0x10FFFF {
            guard let s = Unicode.Scalar(v) else { continue }
            let lower = s.properties.lowercaseMapping.unicodeScalars
            if lower.count == 1, lower.first!.isASCII { toASCII.append(v) }
        }
        #expect(toASCII == [0x212A])
        #expect(JournalText.fold("ÄRGER Straße İ \u{212A}") == "ärger straße İ k")
        #expect(JournalText.trigramQuery(foldedNeedle: "ab") == nil)
        #expect(JournalText.trigramQuery(foldedNeedle: "ошибка x") == nil)
        #expect(JournalText.trigramQuery(foldedNeedle: "ошибка wlan") == #"" wl" AND "wla" AND "lan""#)
        #expect(JournalText.trigramQuery(foldedNeedle: "a\"b\"c") == #""a""b" AND """b""" AND "b""c""#)
        #expect(JournalText.trigramQuery(foldedNeedle: "aaaaa") == #""aaa""#)
    }
}
