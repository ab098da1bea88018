import Foundation
import Testing
@testable import Shared

/// Every way a hostile or broken upload is refused, with a typed error and never a crash.
@Suite struct HostileBundleTests {
    func bundle(_ members: [RawMember], endMarker: Bool = true) throws -> [UInt8] {
        try gzip(craftTar(members, endMarker: endMarker))
    }
    func manifestMember(_ m: Manifest = sampleManifest()) throws -> RawMember {
        RawMember(name: "manifest.json", data: try manifestBytes(m))
    }
    func expect(_ bytes: [UInt8], rejectedWith code: BundleError.Code, limits: BundleLimits = .default,
                sourceLocation: SourceLocation = #_sourceLocation) {
        switch readBundle(bytes, limits: limits) {
        case .success:
            Issue.record("accepted a bundle that should fail with \(code)", sourceLocation: sourceLocation)
        case .failure(let e):
            #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
            #expect(!e.message.isEmpty, sourceLocation: sourceLocation)
        }
    }

    @Test func aValidCraftedBundleIsAccepted() throws {
        let ok = try bundle([try manifestMember(), RawMember(name: "note.txt", data: Array("hi".utf8))])
        guard case .success(let c) = readBundle(ok) else { Issue.record("rejected"); return }
        #expect(c.note == "hi")
    }

    @Test func truncatedGzip() throws {
        let b = try bundle([try manifestMember(), RawMember(name: "note.txt", data: [UInt8](repeating: 65, count: 3000))])
        expect(Array(b.prefix(b.count / 2)), rejectedWith: .truncatedGzip)
        expect([], rejectedWith: .truncatedGzip)
    }

    @Test func badCRC() throws {
        var b = try bundle([try manifestMember()])
        b[b.count - 8] ^= 0x01
        expect(b, rejectedWith: .corruptGzip)
    }

    @Test func notGzipAtAll() throws {
        expect(craftTar([try manifestMember()]), rejectedWith: .corruptGzip)
    }

    @Test func decompressionBombStopsAtTheRatioWithBoundedMemory() throws {
        // 512 MiB of zeros deflate to about 500 KB.
        let d = try GzipDeflater(level: 9)
        var bomb: [UInt8] = []
        let header = try Tar.header(name: "attachments/zeros", size: 512 << 20, mtime: 0)
        try d.compress(try gzipTarPrefix()) { bomb.append(contentsOf: $0) }
        try d.compress(header) { bomb.append(contentsOf: $0) }
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        for _ in 0..<512 { try d.compress(zeros) { bomb.append(contentsOf: $0) } }
        try d.finish { bomb.append(contentsOf: $0) }
        #expect(bomb.count < 1 << 20)

        let before = residentBytes()
        expect(bomb, rejectedWith: .compressionRatioExceeded)
        // Without the ratio check, the absolute limit still stops it.
        var limits = BundleLimits.default
        limits.maxCompressionRatio = .max
        limits.maxUncompressedBytes = 64 << 20
        expect(bomb, rejectedWith: .uncompressedTooLarge, limits: limits)
        #expect(residentBytes() - before < 32 << 20, "the reader must not inflate a bomb into memory")
    }

    /// Manifest member bytes (header + data + padding) to start a hand-made stream.
    func gzipTarPrefix() throws -> [UInt8] {
        Array(craftTar([try manifestMember()], endMarker: false))
    }

    @Test func pathTraversalAndAbsolutePaths() throws {
        expect(try bundle([try manifestMember(), RawMember(name: "../evil", data: [1])]), rejectedWith: .unsafePath)
        expect(try bundle([try manifestMember(), RawMember(name: "/etc/cron.d/evil", data: [1])]), rejectedWith: .unsafePath)
        expect(try bundle([try manifestMember(), RawMember(name: "attachments/../../x", data: [1])]), rejectedWith: .unsafePath)
    }

    @Test(arguments: [("1", "hard link"), ("2", "symbolic link"), ("3", "character device"), ("4", "block device"), ("6", "FIFO")])
    func linksDevicesAndFIFOs(_ flag: String, _ what: String) throws {
        let member = RawMember(name: "attachments/x", typeflag: UInt8(ascii: Unicode.Scalar(flag)!))
        guard case .failure(let e) = readBundle(try bundle([try manifestMember(), member])) else {
            Issue.record("accepted a \(what)"); return
        }
        #expect(e.code == .unsupportedMemberType)
        #expect(e.message.contains(what))
    }

    @Test func duplicateMembers() throws {
        expect(try bundle([try manifestMember(), RawMember(name: "note.txt", data: [65]), RawMember(name: "note.txt", data: [66])]),
               rejectedWith: .duplicateMember)
        expect(try bundle([try manifestMember(), try manifestMember()]), rejectedWith: .duplicateMember)
    }

    @Test func unknownMemberAboveItsLimit() throws {
        var limits = BundleLimits.default
        limits.maxUnknownMemberBytes = 100
        let small = try bundle([try manifestMember(), RawMember(name: "future.bin", data: [UInt8](repeating: 1, count: 100))])
        #expect((try? readBundle(small, limits: limits).get()) != nil, "an unknown member at the limit is accepted")
        let big = try bundle([try manifestMember(), RawMember(name: "future.bin", data: [UInt8](repeating: 1, count: 101))])
        expect(big, rejectedWith: .unknownMember, limits: limits)
    }

    @Test func missingOrLateManifest() throws {
        expect(try bundle([RawMember(name: "note.txt", data: [65])]), rejectedWith: .missingManifest)
        expect(try bundle([RawMember(name: "note.txt", data: [65]), try manifestMember()]), rejectedWith: .missingManifest)
        expect(try bundle([]), rejectedWith: .missingManifest)
    }

    @Test func unknownSchemaVersion() throws {
        expect(try bundle([try manifestMember(sampleManifest(schema: 99))]), rejectedWith: .unsupportedSchema)
    }

    @Test func invalidJSON() throws {
        expect(try bundle([RawMember(name: "manifest.json", data: Array("{not json".utf8))]), rejectedWith: .invalidJSON)
        expect(try bundle([RawMember(name: "manifest.json", data: Array(#"{"schemaVersion":1}"#.utf8))]), rejectedWith: .invalidJSON)
        expect(try bundle([try manifestMember(), RawMember(name: "system.json", data: Array(#"{"hostname":7}"#.utf8))]),
               rejectedWith: .invalidJSON)
        expect(try bundle([try manifestMember(), RawMember(name: "journal.jsonl", data: Array("{\"ts\":1}\n{\"ts\":\n".utf8))]),
               rejectedWith: .invalidJSON)
        expect(try bundle([try manifestMember(sampleManifest(id: "not-a-uuid"))]), rejectedWith: .invalidManifest)
    }

    @Test func memberCountAtAndOverTheLimit() throws {
        var limits = BundleLimits.default
        limits.maxMembers = 3
        let three = try bundle([try manifestMember(), RawMember(name: "a", data: [1]), RawMember(name: "b", data: [1])])
        #expect((try? readBundle(three, limits: limits).get()) != nil)
        let four = try bundle([try manifestMember(), RawMember(name: "a", data: [1]), RawMember(name: "b", data: [1]), RawMember(name: "c", data: [1])])
        expect(four, rejectedWith: .tooManyMembers, limits: limits)
    }

    @Test func memberSizeAtAndOverTheLimit() throws {
        var limits = BundleLimits.default
        limits.maxMemberBytes = 1000
        limits.maxNoteBytes = 1000
        let at = try bundle([try manifestMember(), RawMember(name: "note.txt", data: [UInt8](repeating: 65, count: 1000))])
        #expect((try? readBundle(at, limits: limits).get()) != nil)
        let over = try bundle([try manifestMember(), RawMember(name: "note.txt", data: [UInt8](repeating: 65, count: 1001))])
        expect(over, rejectedWith: .memberTooLarge, limits: limits)
        // A header that lies about a huge size is refused before any data is read.
        let liar = try bundle([try manifestMember(), RawMember(name: "journal.jsonl", data: [], declaredSize: 1 << 40)], endMarker: false)
        expect(liar, rejectedWith: .memberTooLarge)
    }

    @Test func compressedSizeAtAndOverTheLimit() throws {
        let b = try bundle([try manifestMember()])
        var limits = BundleLimits.default
        limits.maxCompressedBytes = b.count
        #expect((try? readBundle(b, limits: limits).get()) != nil)
        limits.maxCompressedBytes = b.count - 1
        expect(b, rejectedWith: .compressedTooLarge, limits: limits)
    }

    @Test func journalLineLongerThanTheLimit() throws {
        var limits = BundleLimits.default
        limits.maxJournalLineBytes = 64
        let line = #"{"ts":1,"msg":""# + String(repeating: "x", count: 100) + "\"}\n"
        expect(try bundle([try manifestMember(), RawMember(name: "journal.jsonl", data: Array(line.utf8))]),
               rejectedWith: .memberTooLarge, limits: limits)
    }

    @Test func randomGarbageNeverCrashes() throws {
        var rng = SystemRandomNumberGenerator()
        let good = try bundle([try manifestMember(), RawMember(name: "note.txt", data: Array("hello".utf8))])
        for _ in 0..<300 {
            var b = good
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = readBundle(b, chunk: Int.random(in: 1...600, using: &rng))
        }
    }
}
