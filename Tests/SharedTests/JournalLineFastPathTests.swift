import Foundation
import Testing
@testable import Shared

/// The reader's fast paths (word-at-a-time string scans, its own UTF-8 check, keys matched
/// as integers, shared strings) against the byte-by-byte parser they replaced.
@Suite struct JournalLineFastPathTests {
    /// What a parser made of a line: the entry, or the error's message.
    enum Outcome: Equatable {
        case entry(JournalEntry)
        case error(String)
    }

    static func outcome(_ line: [UInt8], _ parse: (UnsafeRawBufferPointer) throws -> JournalEntry) -> Outcome {
        do { return .entry(try line.withUnsafeBytes { try parse($0) }) } catch let e as BundleError {
            return .error("\(e.code) \(e.message)")
        } catch {
            return .error("unexpected \(error)")
        }
    }

    /// Checks `line` gives the same outcome from the reference, `parse(_:)` and a decoder.
    static func expectParity(_ line: [UInt8], decoder: inout JournalLineDecoder,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        let reference = outcome(line) { try ReferenceJournalLineCodec.parse($0) }
        let parsed = outcome(line) { try JournalLineCodec.parse($0) }
        let decoded = outcome(line) { try decoder.decode($0) }
        #expect(parsed == reference, "\(String(decoding: line, as: UTF8.self).debugDescription)", sourceLocation: sourceLocation)
        #expect(decoded == reference, "\(String(decoding: line, as: UTF8.self).debugDescription)", sourceLocation: sourceLocation)
    }

    static func line(_ e: JournalEntry) -> [UInt8] {
        var out: [UInt8] = []
        JournalLineCodec.append(e, to: &out)
        return Array(out.dropLast())
    }

    static let samples: [JournalEntry] = [
        JournalLineCodecTests.full,
        JournalEntry(realtime: 1_790_000_000_000_000, bootID: "0123456789abcdef0123456789abcdef", priority: 6, facility: 3,
                     identifier: "NetworkManager", unit: "NetworkManager.service", pid: 812, comm: "NetworkManager",
                     exe: "/usr/sbin/NetworkManager", transport: "syslog",
                     message: "<info>  [1790000000.1234] dhcp4 (wlp2s0): state changed new lease, address=192.168.1.23"),
        JournalEntry(realtime: 5, message: ""),
        JournalEntry(realtime: 0, message: "exactly8"),
        JournalEntry(realtime: 1, messageID: "fc2e22bc6ee647b6b90729ab34a250b1", message: "ünïcödé everywhere ☃ 𝄞 at odd offsets"),
    ]

    @Test func everyFieldOfWrittenLinesReadsBackTheSameThroughEveryPath() throws {
        var decoder = JournalLineDecoder()
        for e in Self.samples {
            let bytes = Self.line(e)
            #expect(try bytes.withUnsafeBytes { try JournalLineCodec.parse($0) } == e)
            #expect(try bytes.withUnsafeBytes { try decoder.decode($0) } == e)
            Self.expectParity(bytes, decoder: &decoder)
        }
    }

    @Test func specialByteAtEveryOffsetOfAWordMatchesTheReference() {
        // A quote, backslash escape, control character or non-ASCII byte at each position
        // around the eight-byte words the scanner reads, in keys and in values.
        var decoder = JournalLineDecoder()
        let specials: [[UInt8]] = [
            Array(#"\""#.utf8), Array(#"\\"#.utf8), Array(#"\n"#.utf8), Array(#"\u00e9"#.utf8), Array(#"\ud83d\ude00"#.utf8),
            [0x01], [0x1F], [0x7F], [0xC3, 0xA9], [0xE2, 0x98, 0x83], [0xF0, 0x9D, 0x84, 0x9E],
            [0xFF], [0xC3], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80],
            Array(#"\q"#.utf8), Array(#"\u12"#.utf8), Array(#"\udc00"#.utf8), Array(#"\ud800x"#.utf8),
        ]
        for special in specials {
            for before in 0..<18 {
                for after in [0, 1, 7, 9] {
                    let text = Array(repeating: UInt8(ascii: "a"), count: before) + special + Array(repeating: UInt8(ascii: "b"), count: after)
                    let value = Array(#"{"ts":1,"msg":""#.utf8) + text + Array(#"","ident":"x"}"#.utf8)
                    Self.expectParity(value, decoder: &decoder)
                    let key = Array(#"{"ts":1,""#.utf8) + text + Array(#"":"v"}"#.utf8)
                    Self.expectParity(key, decoder: &decoder)
                    // The line ends inside the string, before and after the special byte.
                    Self.expectParity(Array(value.prefix(15 + before)), decoder: &decoder)
                    Self.expectParity(Array(value.prefix(15 + before + special.count)), decoder: &decoder)
                }
            }
        }
    }

    @Test func invalidUTF8IsRejectedOnTheFastAndTheEscapePath() {
        for bad: [UInt8] in [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]] {
            for escaped in [false, true] {
                let text = Array("long enough to be read in words ".utf8) + bad + Array((escaped ? #"\n"# : "end").utf8)
                let line = Array(#"{"ts":1,"msg":""#.utf8) + text + Array(#""}"#.utf8)
                #expect(throws: BundleError.self) { try line.withUnsafeBytes { try JournalLineCodec.parse($0) } }
                var decoder = JournalLineDecoder()
                #expect(throws: BundleError.self) { try line.withUnsafeBytes { try decoder.decode($0) } }
                // As an interned field too, and in a key nobody knows.
                let ident = Array(#"{"ts":1,"exe":""#.utf8) + text + Array(#""}"#.utf8)
                #expect(throws: BundleError.self) { try ident.withUnsafeBytes { try decoder.decode($0) } }
                let key = Array(#"{"ts":1,""#.utf8) + text + Array(#"":1}"#.utf8)
                #expect(throws: BundleError.self) { try key.withUnsafeBytes { try decoder.decode($0) } }
            }
        }
    }

    @Test func utf8CheckAcceptsExactlyWhatTheStandardLibraryAccepts() {
        func agree(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
            let ours = bytes.withUnsafeBytes { ByteScan.isValidUTF8($0) }
            let stdlib = String(validating: bytes, as: UTF8.self) != nil
            #expect(ours == stdlib, "\(bytes.map { String($0, radix: 16) })", sourceLocation: sourceLocation)
        }
        // Every one- and two-byte sequence, and every lead byte with every second byte.
        for a in 0...255 {
            agree([UInt8(a)])
            for b in 0...255 {
                agree([UInt8(a), UInt8(b)])
                for c: UInt8 in [0x7F, 0x80, 0xBF, 0xC0] {
                    agree([UInt8(a), UInt8(b), c])
                    agree([UInt8(a), UInt8(b), 0x80, c])
                }
            }
        }
        // Random runs of interesting bytes, long enough to cross the eight-byte ASCII skip.
        let pool: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1,
                             0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        var rng = SplitMix(state: 42)
        for _ in 0..<50_000 {
            let n = Int.random(in: 0...24, using: &rng)
            var bytes: [UInt8] = []
            for _ in 0..<n {
                bytes.append(Bool.random(using: &rng) ? UInt8(ascii: "a") : pool.randomElement(using: &rng)!)
            }
            agree(bytes)
        }
    }

    @Test func keysAreMatchedExactly() throws {
        var decoder = JournalLineDecoder()
        // Escaped spellings of known keys, and near misses that must be skipped as unknown.
        for text in [
            #"{"t\u0073":5,"m\u0073g":"x","tran\u0073port":"kernel"}"#,
            #"{"ts":5,"transporT":"a","transportx":"b","transpor":"c","coredumpx":{"A":"1"},"tsx":1,"msg_b6":"d","ms":"e","":"f"}"#,
            #"{"ts":5,"coredump":{"EXE":"/usr/bin/app","SIGNAL_NAME":"SIGSEGV"},"msg_b64":"AAE=","cursor":"s=1"}"#,
            #"{ "ts" : 5 , "boot" : null , "prio" : null , "msg" : "spaced" }"#,
        ] {
            Self.expectParity(Array(text.utf8), decoder: &decoder)
        }
        let e = try Array(#"{"t\u0073":5,"tran\u0073port":"kernel","transporT":"x"}"#.utf8).withUnsafeBytes { try decoder.decode($0) }
        #expect(e.realtime == 5 && e.transport == "kernel")
    }

    @Test func mutatedLinesGiveTheReferenceOutcome() {
        // Byte flips, inserted specials and cuts in real lines: every outcome, good or bad,
        // must be the reference's, error offsets included.
        var rng = SplitMix(state: 7)
        var decoder = JournalLineDecoder(sharedStrings: 4)
        let inserts: [UInt8] = [0x22, 0x5C, 0x00, 0x0A, 0x20, 0x7B, 0x7D, 0x2C, 0x3A, 0x80, 0xC3, 0xE2, 0xF0, 0xFF, 0x6E, 0x75]
        for _ in 0..<20_000 {
            var bytes = Self.line(Self.samples.randomElement(using: &rng)!)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes[at] = inserts.randomElement(using: &rng)!
                case 2: bytes.insert(inserts.randomElement(using: &rng)!, at: at)
                default: bytes.removeSubrange(at...)
                }
                if bytes.isEmpty { break }
            }
            Self.expectParity(bytes, decoder: &decoder)
        }
    }

    @Test func sharedStringsNeverLeakBetweenDifferentValues() throws {
        // A two-slot cache forces collisions and evictions among long values.
        var decoder = JournalLineDecoder(sharedStrings: 2)
        var rng = SplitMix(state: 3)
        let exes = (0..<9).map { "/usr/lib/some-long-daemon-path/bin-\($0)" } + ["/usr/lib/some-long-daemon-path/bin-0x"]
        for i in 0..<2_000 {
            let e = JournalEntry(realtime: Int64(i), bootID: "0123456789abcdef0123456789abcde\(i % 3)",
                                 unit: "unit-number-\(Int.random(in: 0..<5, using: &rng)).service",
                                 exe: exes.randomElement(using: &rng)!, transport: "journal", message: "m\(i)")
            #expect(try Self.line(e).withUnsafeBytes { try decoder.decode($0) } == e)
        }
    }

    @Test func readerSplitsLinesAcrossEveryChunkBoundary() throws {
        let journal = Self.samples + (0..<200).map { JournalEntry(realtime: Int64($0), bootID: "0123456789abcdef0123456789abcdef", message: "line \($0)") }
        var text: [UInt8] = []
        for e in journal { JournalLineCodec.append(e, to: &text) }
        let bundle = try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes(sampleManifest())),
                                        RawMember(name: "journal.jsonl", data: text)]))
        for chunk in [1, 7, 64, 509, 4096] {
            var got: [JournalEntry] = []
            let reader = try BundleReader { got.append($0) }
            var at = 0
            while at < bundle.count {
                try reader.feed(Array(bundle[at..<min(at + chunk, bundle.count)]))
                at += chunk
            }
            #expect(try reader.finish().journalEntries == journal.count)
            #expect(got == journal, "chunk \(chunk)")
        }
    }
}
