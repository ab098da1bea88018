import Foundation
import Testing
@testable import Shared

/// `BundleReader.read(path:onJournalEntry:)` reads on a second thread and hands entries over in
/// batches: it must give exactly what a read on one thread (`feed`) gives, errors included.
@Suite struct BundleFileReadTests {
    /// A journal of `count` entries with distinct timestamps and messages, as `journal.jsonl` bytes.
    func journal(_ count: Int) -> (entries: [JournalEntry], bytes: [UInt8]) {
        var entries: [JournalEntry] = [], bytes: [UInt8] = []
        for i in 0..<count {
            let e = JournalEntry(realtime: 1_790_000_000_000_000 + Int64(i), bootID: "b00b", priority: i % 8,
                                 identifier: i % 3 == 0 ? "kernel" : "sshd", transport: "syslog", message: "line \(i)")
            entries.append(e)
            JournalLineCodec.append(e, to: &bytes)
        }
        return (entries, bytes)
    }

    func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Entries delivered, then the outcome, of reading the file at `path` on two threads.
    func readFile(_ path: String, limits: BundleLimits = .default) -> ([JournalEntry], Result<BundleContents, BundleError>) {
        var seen: [JournalEntry] = []
        do {
            let contents = try BundleReader.read(path: path, limits: limits) { seen.append($0) }
            return (seen, .success(contents))
        } catch let e as BundleError {
            return (seen, .failure(e))
        } catch {
            return (seen, .failure(BundleError(.io, "unexpected \(error)")))
        }
    }

    /// The same on one thread, through `feed`.
    func readFed(_ bytes: [UInt8], limits: BundleLimits = .default) -> ([JournalEntry], Result<BundleContents, BundleError>) {
        var seen: [JournalEntry] = []
        do {
            let reader = try BundleReader(limits: limits) { seen.append($0) }
            try reader.feed(bytes)
            return (seen, .success(try reader.finish()))
        } catch let e as BundleError {
            return (seen, .failure(e))
        } catch {
            return (seen, .failure(BundleError(.io, "unexpected \(error)")))
        }
    }

    @Test func manyBatchesArriveWholeAndInOrder() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        // Not a multiple of the batch size, and more batches than the queue holds.
        let (entries, lines) = journal(BundleReader.journalBatchSize * (BundleReader.journalBatchesWaiting + 3) + 7)
        let gz = try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes()),
                                    RawMember(name: "journal.jsonl", data: lines),
                                    RawMember(name: "note.txt", data: Array("after the journal".utf8))]))
        try write(gz, to: dir.file("b.tar.gz"))
        let (seen, result) = readFile(dir.file("b.tar.gz"))
        #expect(seen == entries)
        let contents = try result.get()
        #expect(contents.journalEntries == entries.count)
        #expect(contents.note == "after the journal")
        #expect(contents.compressedBytes == gz.count)
        #expect(contents.members.map(\.name) == ["manifest.json", "journal.jsonl", "note.txt"])
    }

    @Test func aDamagedLineGivesTheSameErrorAfterTheSameEntries() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let (_, good) = journal(BundleReader.journalBatchSize * 2 + 100)
        var lines = good
        lines += Array(#"{"ts":1,"msg":"unterminated}"#.utf8) + [0x0A]
        lines += journal(10).bytes
        let gz = try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes()),
                                    RawMember(name: "journal.jsonl", data: lines)]))
        try write(gz, to: dir.file("b.tar.gz"))
        let (seen, result) = readFile(dir.file("b.tar.gz"))
        let (fedSeen, fedResult) = readFed(gz)
        guard case .failure(let error) = result, case .failure(let fedError) = fedResult else {
            Issue.record("a damaged journal line was accepted"); return
        }
        #expect(error == fedError)
        #expect(error.code == .invalidJSON)
        #expect(error.message.contains("line \(BundleReader.journalBatchSize * 2 + 101)"), "\(error)")
        #expect(seen == fedSeen)
        #expect(seen.count == BundleReader.journalBatchSize * 2 + 100)
    }

    @Test func aCutFileAndLimitsGiveTheSameErrors() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let (_, lines) = journal(5000)
        let gz = try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes()),
                                    RawMember(name: "journal.jsonl", data: lines)]))
        let cut = Array(gz.prefix(gz.count * 2 / 3))
        try write(cut, to: dir.file("cut.tar.gz"))
        var corrupt = gz
        corrupt[corrupt.count - 8] ^= 1  // the CRC
        try write(corrupt, to: dir.file("crc.tar.gz"))
        try write(gz, to: dir.file("b.tar.gz"))
        var tight = BundleLimits.default
        tight.maxUncompressedBytes = lines.count / 2
        let cases: [(String, [UInt8], BundleLimits, BundleError.Code)] = [
            ("cut.tar.gz", cut, .default, .truncatedGzip),
            ("crc.tar.gz", corrupt, .default, .corruptGzip),
            ("b.tar.gz", gz, tight, .uncompressedTooLarge),
        ]
        for (name, bytes, limits, code) in cases {
            let (seen, result) = readFile(dir.file(name), limits: limits)
            let (fedSeen, fedResult) = readFed(bytes, limits: limits)
            guard case .failure(let error) = result else { Issue.record("\(name) was accepted"); continue }
            #expect(error.code == code, "\(name): \(error)")
            if case .failure(let fedError) = fedResult { #expect(error == fedError, "\(name)") }
            #expect(seen == fedSeen, "\(name): \(seen.count) entries, on one thread \(fedSeen.count)")
        }
    }

    @Test func anErrorFromTheCallerStopsTheReadAndIsRethrown() throws {
        struct Enough: Error, Equatable {}
        let dir = try TempDir(); defer { dir.cleanup() }
        let (_, lines) = journal(BundleReader.journalBatchSize * (BundleReader.journalBatchesWaiting + 4))
        try write(try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes()),
                                     RawMember(name: "journal.jsonl", data: lines)])), to: dir.file("b.tar.gz"))
        // The reader thread is blocked on a full queue when the caller gives up: it must be
        // released and joined, or this test hangs.
        var count = 0
        #expect(throws: Enough.self) {
            try BundleReader.read(path: dir.file("b.tar.gz")) { _ in
                count += 1
                if count == 3 { throw Enough() }
            }
        }
        #expect(count == 3)
        // Later reads still work (nothing left locked).
        var again = 0
        _ = try BundleReader.read(path: dir.file("b.tar.gz")) { _ in again += 1 }
        #expect(again == BundleReader.journalBatchSize * (BundleReader.journalBatchesWaiting + 4))
    }

    @Test func aMissingFileIsAnIOError() {
        let (seen, result) = readFile("/nonexistent/helpline/b.tar.gz")
        #expect(seen.isEmpty)
        guard case .failure(let error) = result else { Issue.record("read a missing file"); return }
        #expect(error.code == .io)
        #expect(error.message.contains("/nonexistent/helpline/b.tar.gz"))
    }
}
