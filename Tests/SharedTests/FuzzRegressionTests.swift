import Foundation
import Testing
@testable import Shared

/// The seed corpus of the `bundle-reader` and `journal-line` fuzz targets (fuzz/corpus), run
/// through the checks those targets make, plus the inputs the fuzzers found. A crash the
/// fuzzer finds becomes a named test here (see fuzz/README.md).
@Suite struct FuzzRegressionTests {
    /// `fuzz/corpus/<target>`, found from this file's path (the corpus is not a test resource).
    static func corpus(_ target: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fuzz/corpus/\(target)").path
    }

    /// The names of the seed files of `target`, sorted.
    static func seeds(_ target: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: corpus(target))) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    static func bytes(_ target: String, _ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: corpus(target) + "/" + name)))
    }

    /// The limits the `bundle-reader` target uses (fuzz/BundleReaderFuzz.swift).
    static let limits = BundleLimits(
        maxCompressedBytes: 256 << 10, maxUncompressedBytes: 1 << 20, maxCompressionRatio: 100,
        compressionRatioAllowance: 64 << 10, maxMembers: 32, maxMemberBytes: 256 << 10,
        maxJSONMemberBytes: 64 << 10, maxManifestBytes: 16 << 10, maxNoteBytes: 4 << 10,
        maxJournalLineBytes: 8 << 10, maxUnknownMemberBytes: 16 << 10)

    /// What each bundle seed must come to: accepted (nil) or refused with that code. A seed
    /// missing here fails `everyBundleSeedHasAnExpectedOutcome`.
    static let expected: [String: BundleError.Code?] = [
        "golden-v1.tar.gz": nil, "golden-v1.tar": nil, "full-two-members.tar.gz": nil, "full.tar": nil,
        "pax-long-name.tar.gz": nil, "pax-long-name.tar": nil, "gnu-long-name.tar": nil, "dot-dir.tar": nil,
        "symlink.tar": .unsupportedMemberType, "dotdot.tar": .unsafePath, "duplicate.tar": .duplicateMember,
        "no-manifest-first.tar": .missingManifest, "bad-journal-line.tar": .invalidJSON,
        "schema-99.tar": .unsupportedSchema, "truncated.tar.gz": .truncatedGzip, "bad-crc.tar.gz": .corruptGzip,
        "trailing-garbage.tar.gz": .corruptGzip, "bomb.tar.gz": .compressionRatioExceeded,
        // Found by the fuzzer: a PAX record shorter than its length field (it trapped).
        "found-pax-short-length.tar": .corruptTar,
    ]

    // MARK: - bundle-reader

    @Test func everyBundleSeedHasAnExpectedOutcome() {
        let seeds = Self.seeds("bundle-reader")
        #expect(seeds.count >= 10, "seed corpus not found at \(Self.corpus("bundle-reader"))")
        #expect(Set(seeds) == Set(Self.expected.keys))
    }

    @Test(arguments: FuzzRegressionTests.seeds("bundle-reader"))
    func bundleSeed(_ name: String) throws {
        let input = try Self.bytes("bundle-reader", name)
        let outcome = try Self.checkBundle(input)
        if let expected = Self.expected[name] {
            #expect(outcome == expected, "\(name): got \(String(describing: outcome))")
        }
    }

    /// The `bundle-reader` target's checks: input without the gzip magic is a tar stream and is
    /// compressed first; only `BundleError`s are thrown; an accepted bundle respects the limits.
    /// Returns the error code, or nil when the bundle was accepted.
    static func checkBundle(_ input: [UInt8]) throws -> BundleError.Code? {
        let gz = input.starts(with: [0x1F, 0x8B]) ? input : try gzip(input, level: 1)
        var entries = 0
        let contents: BundleContents
        do {
            let reader = try BundleReader(limits: limits) { entry in
                entries += 1
                try checkRoundTrip(entry)
            }
            let chunk = 1 + gz.count % 509
            var start = 0
            while start < gz.count {
                let end = min(start + chunk, gz.count)
                try reader.feed(Array(gz[start..<end]))
                start = end
            }
            contents = try reader.finish()
        } catch let error as BundleError {
            #expect(!error.message.isEmpty)
            return error.code
        }
        #expect(contents.compressedBytes == gz.count)
        #expect(contents.uncompressedBytes <= limits.maxUncompressedBytes)
        #expect(contents.members.count <= limits.maxMembers)
        #expect(contents.members.first?.name == BundleMember.manifest)
        #expect(contents.journalEntries == entries)
        #expect(Set(contents.members.map(\.name)).count == contents.members.count)
        for member in contents.members {
            #expect(throws: Never.self) { try Tar.validate(path: member.name) }
            #expect(member.bytes >= 0 && member.bytes <= limits.maxMemberBytes)
        }
        if let note = contents.note { #expect(note.utf8.count <= limits.maxNoteBytes) }
        return nil
    }

    /// Found by the `bundle-reader` fuzzer (minimised from a PAX long-name bundle): a PAX record
    /// whose length (`004`) ends before its key made the record's range run backwards, and the
    /// reader trapped instead of refusing the bundle.
    @Test func paxRecordShorterThanItsLengthFieldIsCorruptTar() throws {
        for record in ["004 path=attachments/a\n", "1 x\n", "4 path=a\n", "99999999999999999999 path=a\n",
                       "9223372036854775807 path=a\n", "12 path=ab\n", "10 path=ab\n"] {
            let tar = craftTar([RawMember(name: "manifest.json", data: try manifestBytes()),
                                RawMember(name: "PaxHeader", data: Array(record.utf8), typeflag: UInt8(ascii: "x")),
                                RawMember(name: "note.txt", data: Array("hi".utf8))])
            #expect(try Self.checkBundle(tar) == .corruptTar, "\(record.debugDescription)")
        }
        // A well-formed record still names the member that follows.
        let tar = craftTar([RawMember(name: "manifest.json", data: try manifestBytes()),
                            RawMember(name: "PaxHeader", data: Array("17 path=note.txt\n".utf8), typeflag: UInt8(ascii: "x")),
                            RawMember(name: "ignored-name", data: Array("hi".utf8))])
        guard case .success(let contents) = readBundle(try gzip(tar)) else { Issue.record("rejected"); return }
        #expect(contents.note == "hi")
    }

    /// Found reading the parser while fuzzing it: a global PAX header (`g`) whose base-256 size is
    /// near `Int.max` overflowed `size + padding` and trapped.
    @Test func globalPAXHeaderWithAHugeSizeIsCorruptTar() throws {
        var tar = craftTar([RawMember(name: "manifest.json", data: try manifestBytes()),
                            RawMember(name: "GlobalHead", typeflag: UInt8(ascii: "g"))])
        let manifestBlocks = 512 + (try manifestBytes()).count + Tar.padding(for: (try manifestBytes()).count)
        var header = Array(tar[manifestBlocks..<(manifestBlocks + 512)])
        // Base-256: 0x7FFF_FFFF_FFFF_FEFF, the largest the parser reads, 257 bytes of padding short of overflow.
        header.replaceSubrange(124..<136, with: [0x80, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF])
        for i in 148..<156 { header[i] = 0x20 }
        let sum = header.reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        header.replaceSubrange(148..<156, with: [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, 0x20])
        tar.replaceSubrange(manifestBlocks..<(manifestBlocks + 512), with: header)
        #expect(try Self.checkBundle(tar) == .corruptTar)
        guard case .failure(let error) = readBundle(try gzip(tar)) else { Issue.record("accepted"); return }
        #expect(error.message.contains("impossible size"), "\(error)")
    }

    // MARK: - journal-line

    @Test func journalSeedsArePresent() {
        #expect(Self.seeds("journal-line").count >= 10, "seed corpus not found at \(Self.corpus("journal-line"))")
    }

    /// The `journal-line` target's checks: `parse` throws only `invalidJSON`, the sharing
    /// decoder agrees with it, and what parses round-trips.
    @Test(arguments: FuzzRegressionTests.seeds("journal-line"))
    func journalSeed(_ name: String) throws {
        let line = try Self.bytes("journal-line", name)
        let entry: JournalEntry?
        do {
            entry = try line.withUnsafeBytes { try JournalLineCodec.parse($0) }
        } catch let error as BundleError {
            #expect(error.code == .invalidJSON)
            entry = nil
        }
        var decoder = JournalLineDecoder(sharedStrings: 8)
        let decoded = try? line.withUnsafeBytes { try decoder.decode($0) }
        #expect(decoded == entry)
        if let entry { try Self.checkRoundTrip(entry) }
    }

    /// Found by the `journal-line` fuzzer: `"coredump":{}` parsed to an empty map, which the
    /// encoder left out, so the line read back with no map at all (nil ≠ [:]).
    @Test func emptyCoredumpMapRoundTrips() throws {
        let line = Array(#"{"ts":1,"coredump":{},"msg_b64":"b2vDKA=="}"#.utf8)
        let entry = try line.withUnsafeBytes { try JournalLineCodec.parse($0) }
        #expect(entry.coredump == [:])
        var out: [UInt8] = []
        JournalLineCodec.append(entry, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"{"ts":1,"msg_b64":"b2vDKA==","coredump":{}}"# + "\n")
        try Self.checkRoundTrip(entry)
    }

    /// `entry` encodes as one line that parses back equal, also through a sharing decoder.
    static func checkRoundTrip(_ entry: JournalEntry, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var line: [UInt8] = []
        JournalLineCodec.append(entry, to: &line)
        #expect(line.last == 0x0A && line.dropLast().firstIndex(of: 0x0A) == nil, sourceLocation: sourceLocation)
        line.removeLast()
        let again = try line.withUnsafeBytes { try JournalLineCodec.parse($0) }
        #expect(again == entry, sourceLocation: sourceLocation)
        var decoder = JournalLineDecoder(sharedStrings: 16)
        for _ in 0..<2 {
            #expect(try line.withUnsafeBytes { try decoder.decode($0) } == entry, sourceLocation: sourceLocation)
        }
    }

    // MARK: - heartbeat-json

    /// The checks of fuzz/HeartbeatJSONFuzz.swift on each seed, and what each seed must come
    /// to: read by the strict reader (true) or left to Foundation (false).
    @Test func heartbeatSeeds() throws {
        let expected = ["realistic.json": true, "minimal.json": true, "escapes.json": true, "unknown-key.json": false]
        #expect(Set(Self.seeds("heartbeat-json")) == Set(expected.keys))
        for name in Self.seeds("heartbeat-json") {
            let input = try Self.bytes("heartbeat-json", name)
            let fast = HeartbeatJSON.decode(input)
            #expect((fast != nil) == expected[name], "\(name)")
            let foundation = try BundleJSON.decoder().decode(Heartbeat.self, from: Data(input))
            if let fast {
                #expect(fast == foundation, "\(name)")
                #expect(HeartbeatJSON.decode([UInt8](try BundleJSON.encoder().encode(fast))) == fast, "\(name) does not read back")
            }
        }
    }
}
