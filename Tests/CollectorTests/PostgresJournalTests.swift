import Foundation
import PostgresNIO
import Testing
@testable import Collector
@testable import Shared

/// The PostgreSQL journal index and outbox where they differ from SQLite's by construction:
/// rows go in by `COPY` (its text format escapes), text cannot hold NUL, text search narrows
/// by `ILIKE` instead of FTS5, and several collectors claim deliveries from one database.
/// The shared suites (JournalIndexTests, IntegrationTests) run against this store too.
@Suite struct PostgresJournalTests {
    /// A migrated store on a fresh database; `close` drops it.
    struct Fixture {
        let url: String
        let store: PostgresStore

        init() async throws {
            url = try await TestPostgres.freshDatabase()
            store = try PostgresStore(url: url)
            try await store.migrate()
        }

        func close() async {
            try? await store.close()
            await TestPostgres.drop(url)
        }

        static func hex64() -> String {
            (UUID().uuidString + UUID().uuidString).replacingOccurrences(of: "-", with: "").lowercased()
        }

        /// A host row, seeded with SQL (the store's enrollment is tested elsewhere).
        func host() async throws -> String {
            let id = UUID().uuidString.lowercased()
            try await store.write { c in
                try await c.execute("""
                    INSERT INTO hosts (id, machine_id, hostname, token_hash, enrolled_at) VALUES (\(id), \(id), 'laptop-42', \(Self.hex64()), now())
                    """)
            }
            return id
        }

        /// A live bundle row of a new host; its bundle id.
        func bundle() async throws -> String {
            let host = try await host()
            let bundleID = UUID().uuidString.lowercased()
            try await store.write { c in
                try await c.execute("""
                    INSERT INTO bundles (bundle_id, host_id, sha256, compressed_bytes, uncompressed_bytes, journal_entries, reason,
                                         created_at, received_at, manifest, members, receipt)
                    VALUES (\(bundleID), \(host), \(Self.hex64()), 1, 1, 0, 'test', now(), now(), '{}', '[]', '{}')
                    """)
            }
            return bundleID
        }

        /// A ticket of a new host; its id.
        func ticket() async throws -> Int64 {
            let host = try await host()
            return try await store.write { c in
                try await c.one("""
                    INSERT INTO tickets (host_id, priority, title, created_at, updated_at) VALUES (\(host), 'normal', 't', now(), now()) RETURNING id
                    """)!["id"]
            }
        }
    }

    /// The page the blob scan answers, computed from the entries themselves.
    static func expected(_ entries: [JournalEntry], _ filter: BundleArchive.JournalFilter, offset: Int, limit: Int) -> BundleArchive.JournalPage {
        let folded = filter.text.map(JournalText.fold)
        let matching = entries.filter { filter.matches($0, foldedText: folded) }
        let page = Array(matching.dropFirst(offset).prefix(limit))
        return BundleArchive.JournalPage(entries: page, offset: offset, limit: limit,
                                         nextOffset: matching.count > offset + limit ? offset + page.count : nil)
    }

    /// Entries whose text `COPY`'s text format must escape, or PostgreSQL's text cannot hold.
    static func awkward() -> [JournalEntry] {
        let base: Int64 = 1_790_100_000_000_000
        return [
            JournalEntry(realtime: base, bootID: "b\\oot", priority: 3, identifier: "back\\slash", unit: "tab\there.service",
                         message: #"C:\path\N and \N alone, \\ double"#),
            JournalEntry(realtime: base + 1, identifier: "new\nline", unit: "cr\rhere", message: "line one\nline two\r\nthree\tcols"),
            JournalEntry(realtime: base + 2, bootID: "bo\u{0}ot", identifier: "nul\u{0}ident", message: "NUL\u{0}inside and \u{FFFD} beside"),
            JournalEntry(realtime: base + 3, message: "\u{FFFD} only a replacement character"),
            JournalEntry(realtime: base + 4, identifier: "kernel", message: "100\u{212A} Kelvin and 100% of \\_ done_ok"),
            JournalEntry(realtime: base + 5, message: nil),
            JournalEntry(realtime: base + 6, message: ""),
        ]
    }

    @Test func everyEntryComesBackExactlyAndEveryFilterAnswersAsTheBlobScan() async throws {
        let f = try await Fixture()
        do {
            let id = try await f.bundle()
            let entries = JournalIndexTests.journal(count: 420) + Self.awkward()
            #expect(try await f.store.storeJournalIndex(bundleID: id, entries: entries, now: Date()))
            let all = try #require(try await f.store.journalPage(bundleID: id, filter: .init(), offset: 0, limit: 1000))
            #expect(all.entries == entries)
            #expect(all.nextOffset == nil)
            // The exact message (NUL and all) although the column holds U+FFFD in its place.
            #expect(all.entries[422].message == "NUL\u{0}inside and \u{FFFD} beside")
            var filters = JournalIndexTests.filters
            filters += ["kelvin", "KELVIN", "0k", "0\u{212A}", "\\", "\\_", "%", "100%", "_ d", "\\N", "\t", "line two", "\u{0}",
                        "nul\u{0}", "\u{FFFD}", "two\r\nthree", String(repeating: "a", count: 200)].map { .init(text: $0) }
            filters += [.init(unit: "tab\there.service"), .init(identifier: "back\\slash"), .init(identifier: "new\nline"),
                        .init(bootID: "b\\oot"), .init(bootID: "bo\u{0}ot"), .init(unit: "cr\rhere", text: "LINE")]
            for filter in filters {
                for (offset, limit) in [(0, 1), (0, 7), (0, 1000), (1, 50), (17, 7), (400, 50), (5000, 10)] {
                    let page = try #require(try await f.store.journalPage(bundleID: id, filter: filter, offset: offset, limit: limit))
                    #expect(page == Self.expected(entries, filter, offset: offset, limit: limit), "filter \(filter) offset \(offset) limit \(limit)")
                }
            }
            for text in ["kelvin", "\\_", "100%", "\\N", "line two", "nul\u{0}"] {
                #expect(try await f.store.journalPage(bundleID: id, filter: .init(text: text), offset: 0, limit: 5)?.entries.isEmpty == false,
                        "\(text) found nothing")
            }
            // A locator holding NUL (the column holds U+FFFD in its place) still finds the cited entry.
            let cited = entries[422]
            let context = try #require(try await f.store.journalContext(bundleID: id, locator: cited.locator, before: 1, after: 1))
            #expect(context.offset == 422 && context.firstOffset == 421 && context.entries == Array(entries[421...423]))
        } catch { Issue.record(error) }
        await f.close()
    }

    @Test func patternsEscapeLikeSyntaxAndNeverMissTheKelvinSign() {
        #expect(PostgresStore.journalLikePattern(foldedNeedle: "100%_\\x") == #"%100\%\_\\x%"#)
        #expect(PostgresStore.journalLikePattern(foldedNeedle: "kelvin") == "%_elvin%")
        #expect(PostgresStore.journalLikePattern(foldedNeedle: "ärger") == "%rger%")
        #expect(PostgresStore.journalLikePattern(foldedNeedle: "ß") == nil)
        #expect(PostgresStore.journalLikePattern(foldedNeedle: String(repeating: "ab", count: 1000)) == "%" + String(repeating: "ab", count: 32) + "%")
    }

    @Test func leftoversAreReplacedIndexingTwiceWritesNothingAndPurgeRemovesExpiredRows() async throws {
        let f = try await Fixture()
        do {
            let id = try await f.bundle()
            let row: Int64 = try await f.store.read { c in try await c.one("SELECT id FROM bundles WHERE bundle_id = \(id)")!["id"] }
            // An interrupted run: rows without the journal_indexes mark.
            try await f.store.write { c in
                try await c.execute("""
                    INSERT INTO journal_entries (id, realtime, message, locator, fields)
                    SELECT (\(row) << 32) | g, g, 'stale', 'x', '{"ts":0}' FROM generate_series(0, 49999) g
                    """)
            }
            #expect(try await f.store.journalPage(bundleID: id, filter: .init(), offset: 0, limit: 10) == nil)
            let entries = JournalIndexTests.journal(count: 45_000)
            #expect(try await f.store.storeJournalIndex(bundleID: id, entries: entries, now: Date()))
            let page = try #require(try await f.store.journalPage(bundleID: id, filter: .init(), offset: 44_990, limit: 100))
            #expect(page.entries == Array(entries[44_990...]))
            #expect(try await f.store.journalPage(bundleID: id, filter: .init(text: "stale"), offset: 0, limit: 10)?.entries == [])
            #expect(try await f.store.storeJournalIndex(bundleID: id, entries: Array(entries.prefix(10)), now: Date()))
            #expect(try await f.store.journalPage(bundleID: id, filter: .init(), offset: 0, limit: 100_000)?.entries.count == 45_000)

            try await f.store.write { c in try await c.execute("UPDATE bundles SET expired = true, expired_at = now() WHERE id = \(row)") }
            #expect(try await f.store.journalPage(bundleID: id, filter: .init(), offset: 0, limit: 10) == nil)
            #expect(try await f.store.storeJournalIndex(bundleID: id, entries: entries, now: Date()) == false)
            #expect(try await f.store.purgeJournalIndexes() == 45_000)
            #expect(try await f.store.purgeJournalIndexes() == 0)
        } catch { Issue.record(error) }
        await f.close()
    }

    @Test func twoCollectorsNeverClaimTheSameDelivery() async throws {
        let f = try await Fixture()
        do {
            let other = try PostgresStore(url: f.url)
            let now = Date()
            var events: [Int64] = []
            for _ in 0..<24 {
                let ticket = try await f.ticket()
                try await f.store.write { c in try await PostgresStore.recordEvent(c, .ticketOpened, ticketID: ticket, now: now) }
            }
            for event in try await f.store.unroutedEvents(limit: 100) {
                events.append(event.id)
                try await f.store.route(eventID: event.id, to: ["webhook"], now: now)
            }
            #expect(events.count == 24)
            #expect(try await f.store.unroutedEvents(limit: 100).isEmpty)
            func drain(_ store: PostgresStore) async throws -> [Int64] {
                var claimed: [Int64] = []
                while let claim = try await store.claimDelivery(backends: ["webhook"], now: now, lease: 60) {
                    claimed.append(claim.delivery.id)
                }
                return claimed
            }
            async let a = drain(f.store)
            async let b = drain(other)
            let (first, second) = try await (a, b)
            #expect(first.count + second.count == 24)
            #expect(Set(first + second).count == 24)
            try? await other.close()
        } catch { Issue.record(error) }
        await f.close()
    }
}
