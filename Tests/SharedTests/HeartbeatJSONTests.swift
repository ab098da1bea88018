import Foundation
import Testing
@testable import Shared

/// `HeartbeatJSON` against Foundation's decoder: on everything it accepts it must agree,
/// and everything outside its subset must be left to Foundation (nil), never refused.
@Suite struct HeartbeatJSONTests {
    /// Random heartbeat parts from a seeded `SplitMix`, so a failure reproduces.
    struct Rand {
        var source: SplitMix
        init(state: UInt64) { source = SplitMix(state: state) }
        mutating func next() -> UInt64 { source.next() }
        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
        mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }
        mutating func double() -> Double {
            switch int(0...5) {
            case 0: return Double(int(0...100))
            case 1: return Double(int(0...10_000)) / 100
            case 2: return Double(sign: .plus, exponentBitPattern: UInt(int(1...2046)), significandBitPattern: next() & 0xF_FFFF_FFFF_FFFF)  // any normal positive (subnormals go to Foundation)
            case 3: return -Double(int(0...1_000_000)) / 7
            case 4: return Double(next() >> 11) / Double(1 << 53)
            default: return 1e-300 * Double(int(1...9))
            }
        }
        mutating func uint64() -> UInt64 { chance(20) ? next() : next() % 100_000_000_000 }
        mutating func text() -> String {
            let pieces = ["a", "Z", "0", " ", "/", "\\", "\"", "\n", "\t", "\u{1}", "\u{7F}", "é", "日本", "🙂", "\u{202E}", "-", ":", "{", "]", "\u{0}"]
            return (0..<int(0...12)).map { _ in pieces[int(0...(pieces.count - 1))] }.joined()
        }
        mutating func maybe<T>(_ make: (inout Rand) -> T) -> T? { chance(30) ? nil : make(&self) }
        mutating func date() -> Date {
            Date(timeIntervalSince1970: Double(int(-2_208_988_800...253_402_300_799)))  // 1900…9999
        }
    }

    static func heartbeat(_ r: inout Rand) -> Heartbeat {
        let system = r.maybe { r in
            SystemInfo(hostname: r.text(), machineID: r.maybe { $0.text() }, bootID: r.maybe { $0.text() },
                       osRelease: r.maybe { r in .init(id: r.maybe { $0.text() }, versionID: r.maybe { $0.text() }, prettyName: r.maybe { $0.text() }) },
                       kernel: r.maybe { r in .init(sysname: r.text(), release: r.text(), version: r.text(), machine: r.text()) },
                       uptimeSeconds: r.maybe { $0.double() }, cpuModel: r.maybe { $0.text() }, cpuCount: r.maybe { $0.int(0...512) },
                       loadAverage: r.maybe { r in (0..<r.int(0...3)).map { _ in r.double() } }, timezone: r.maybe { $0.text() },
                       virtualization: r.maybe { $0.text() }, container: r.maybe { $0.text() })
        }
        let memory = r.maybe { r in
            MemoryInfo(totalBytes: r.uint64(), availableBytes: r.uint64(), freeBytes: r.uint64(), buffersBytes: r.uint64(),
                       cachedBytes: r.uint64(), swapTotalBytes: r.uint64(), swapFreeBytes: r.uint64(),
                       meminfo: Dictionary(uniqueKeysWithValues: (0..<r.int(0...30)).map { ("Key\($0)_\(r.int(0...9))", r.uint64()) }),
                       pressure: Dictionary(uniqueKeysWithValues: ["cpu", "memory", "io"].prefix(r.int(0...3)).map { name in
                           (name, PressureStall(some: r.maybe { r in .init(avg10: r.double(), avg60: r.double(), avg300: r.double(), totalMicroseconds: r.uint64()) },
                                                full: r.maybe { r in .init(avg10: r.double(), avg60: r.double(), avg300: r.double(), totalMicroseconds: r.uint64()) }))
                       }),
                       oomKills: r.maybe { $0.uint64() })
        }
        let filesystems = (0..<r.int(0...6)).map { _ in
            FilesystemUsage(mountPoint: r.text(), device: r.text(), fsType: r.text(), readOnly: r.chance(50), sizeBytes: r.uint64(),
                            usedBytes: r.uint64(), availableBytes: r.uint64(), usedPercent: r.double(), inodesTotal: r.uint64(),
                            inodesUsed: r.uint64(), inodesUsedPercent: r.double())
        }
        let processes = (0..<r.int(0...12)).map { _ in
            ProcessRecord(pid: r.int(-5...4_000_000), ppid: r.int(0...4_000_000), uid: r.chance(10) ? Int.min : r.int(0...70_000),
                          user: r.maybe { $0.text() }, state: r.text(), name: r.text(), commandLine: r.text(), threads: r.int(0...5000),
                          rssBytes: r.uint64(), startTime: r.maybe { $0.date() }, cpuPercent: r.double(), topCPU: r.chance(50), topMemory: r.chance(50))
        }
        let units = (0..<r.int(0...4)).map { _ in
            UnitRecord(name: r.text(), description: r.text(), loadState: r.text(), activeState: r.text(), subState: r.text(),
                       since: r.maybe { $0.date() }, restarts: r.maybe { $0.chance(5) ? Int.max : $0.int(0...1000) }, result: r.maybe { $0.text() })
        }
        return Heartbeat(schemaVersion: r.int(0...3), host: HostIdentity(hostID: r.maybe { $0.text() }, hostname: r.text(), machineID: r.maybe { $0.text() },
                                                                          bootID: r.maybe { $0.text() }),
                         sentAt: r.date(), agentVersion: r.text(), system: system, memory: memory, filesystems: filesystems,
                         topProcesses: processes, failedUnits: units, spooledBundles: r.chance(10) ? Int.max : r.int(0...100))
    }

    static func foundation(_ bytes: [UInt8]) -> Heartbeat? {
        try? BundleJSON.decoder().decode(Heartbeat.self, from: Data(bytes))
    }

    @Test func agreesWithFoundationOnWhatTheEncoderWrites() throws {
        var r = Rand(state: 42)
        for round in 0..<2000 {
            let beat = Self.heartbeat(&r)
            let encoder = BundleJSON.encoder(pretty: round % 3 == 0)
            let bytes = [UInt8](try encoder.encode(beat))
            let fast = HeartbeatJSON.decode(bytes)
            #expect(fast == beat, "round \(round): \(String(decoding: bytes, as: UTF8.self).prefix(400))")
            #expect(Self.foundation(bytes) == beat, "round \(round): Foundation does not read its own output back")
            if fast != beat { return }
        }
    }

    /// Bytes the strict subset leaves to Foundation (nil), with the reason each is outside it.
    @Test func leavesEverythingOutsideTheSubsetToFoundation() throws {
        let base = #"{"schemaVersion":1,"host":{"hostname":"h"},"sentAt":"2026-12-01T10:00:00Z","agentVersion":"1","filesystems":[],"topProcesses":[],"failedUnits":[],"spooledBundles":0}"#
        #expect(HeartbeatJSON.decode(Array(base.utf8)) != nil, "the base document is inside the subset")
        let outside: [(String, String)] = [
            ("unknown top-level key", base.replacingOccurrences(of: #""spooledBundles":0"#, with: #""spooledBundles":0,"extra":1"#)),
            ("unknown nested key", base.replacingOccurrences(of: #"{"hostname":"h"}"#, with: #"{"hostname":"h","x":null}"#)),
            ("duplicate key", base.replacingOccurrences(of: #""agentVersion":"1""#, with: #""agentVersion":"1","agentVersion":"2""#)),
            ("fraction in an integer", base.replacingOccurrences(of: #""spooledBundles":0"#, with: #""spooledBundles":1.0"#)),
            ("exponent in an integer", base.replacingOccurrences(of: #""spooledBundles":0"#, with: #""spooledBundles":1e2"#)),
            ("integer past Int.max", base.replacingOccurrences(of: #""spooledBundles":0"#, with: #""spooledBundles":9223372036854775808"#)),
            ("1e400", base.replacingOccurrences(of: #""spooledBundles":0"#, with: #""spooledBundles":1e400"#)),
            ("a double that underflows", base.replacingOccurrences(of: #""sentAt""#, with: #""system":{"hostname":"h","uptimeSeconds":8e-3500},"sentAt""#)),
            ("zero with an exponent (Foundation refuses 0e3)", base.replacingOccurrences(of: #""sentAt""#, with: #""system":{"hostname":"h","uptimeSeconds":0e3},"sentAt""#)),
            ("negative zero", base.replacingOccurrences(of: #""sentAt""#, with: #""system":{"hostname":"h","uptimeSeconds":-0.0},"sentAt""#)),
            ("a subnormal double", base.replacingOccurrences(of: #""sentAt""#, with: #""system":{"hostname":"h","uptimeSeconds":4e-320},"sentAt""#)),
            ("a double that overflows", base.replacingOccurrences(of: #""sentAt""#, with: #""system":{"hostname":"h","uptimeSeconds":2e308},"sentAt""#)),
            ("-0", base.replacingOccurrences(of: #""spooledBundles":0"#, with: #""spooledBundles":-0"#)),
            ("leading zero", base.replacingOccurrences(of: #""spooledBundles":0"#, with: #""spooledBundles":01"#)),
            ("string for an integer", base.replacingOccurrences(of: #""spooledBundles":0"#, with: #""spooledBundles":"many""#)),
            ("null for a required member", base.replacingOccurrences(of: #""agentVersion":"1""#, with: #""agentVersion":null"#)),
            ("missing member", base.replacingOccurrences(of: #","spooledBundles":0"#, with: "")),
            ("year 300000", base.replacingOccurrences(of: "2026-12-01T10:00:00Z", with: "300000-01-01T00:00:00Z")),
            ("year 0001", base.replacingOccurrences(of: "2026-12-01T10:00:00Z", with: "0001-01-01T00:00:00Z")),
            ("leap second", base.replacingOccurrences(of: "2026-12-01T10:00:00Z", with: "2016-12-31T23:59:60Z")),
            ("30 February", base.replacingOccurrences(of: "2026-12-01T10:00:00Z", with: "2024-02-30T00:00:00Z")),
            ("offset instead of Z", base.replacingOccurrences(of: "2026-12-01T10:00:00Z", with: "2026-12-01T10:00:00+01:00")),
            ("fractional seconds", base.replacingOccurrences(of: "2026-12-01T10:00:00Z", with: "2026-12-01T10:00:00.5Z")),
            ("escaped key", base.replacingOccurrences(of: #""agentVersion""#, with: #""agent\u0056ersion""#)),
            ("lone surrogate", base.replacingOccurrences(of: #""agentVersion":"1""#, with: #""agentVersion":"\ud800""#)),
            ("control character in text", base.replacingOccurrences(of: #""agentVersion":"1""#, with: "\"agentVersion\":\"a\u{1}b\"")),
            ("trailing bytes", base + "x"),
            ("two documents", base + base),
            ("byte order mark", "\u{FEFF}" + base),
            ("array at the top", "[" + base + "]"),
            ("cut short", String(base.dropLast())),
            ("empty", ""),
            ("too many disks", base.replacingOccurrences(of: #""filesystems":[]"#, with: #""filesystems":["# + Array(repeating: "1", count: 5000).joined(separator: ",") + "]")),
        ]
        for (why, text) in outside {
            #expect(HeartbeatJSON.decode(Array(text.utf8)) == nil, "\(why) should be left to Foundation")
        }
        // Invalid UTF-8 inside a string.
        var bytes = Array(base.utf8)
        let at = bytes.firstIndex(of: UInt8(ascii: "h"))!
        bytes[at] = 0xC3
        #expect(HeartbeatJSON.decode(bytes) == nil)
        #expect(Self.foundation(bytes) == nil)
    }

    @Test func readsEscapesAndWhiteSpaceAsFoundationDoes() throws {
        let text = "{ \"schemaVersion\" : 1 ,\n\t\"host\" : { \"hostname\" : \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude42\\u0000\" , \"hostID\" : null },\r\n"
            + "\"sentAt\":\"2000-02-29T23:59:59Z\",\"agentVersion\":\"\",\"filesystems\":[ ],\"topProcesses\":[],\"failedUnits\":[],\"spooledBundles\":-9223372036854775808 } \n"
        let fast = try #require(HeartbeatJSON.decode(Array(text.utf8)))
        #expect(fast.host.hostname == "a\"b\\c/d\u{8}\u{C}\n\r\té🙂\u{0}")
        #expect(fast.spooledBundles == Int.min)
        // Zeros and whole numbers written as Python writes them are exact.
        let python = text.replacingOccurrences(of: #""hostID" : null"#, with: #""hostID" : null"#)
            .replacingOccurrences(of: #""agentVersion":"""#, with: #""agentVersion":"","system":{"hostname":"p","uptimeSeconds":2520720.0,"loadAverage":[0.0,0.000,1.50]}"#)
        let read = try #require(HeartbeatJSON.decode(Array(python.utf8)))
        #expect(read.system?.loadAverage == [0, 0, 1.5])
        #expect(read.system?.uptimeSeconds == 2_520_720)
        #expect(read == Self.foundation(Array(python.utf8)))
        #expect(fast == Self.foundation(Array(text.utf8)))
    }

    /// Random damage to real documents: whatever the fast reader still accepts, Foundation
    /// must decode to the same heartbeat (the unit-test slice of the `heartbeat-json` fuzz target).
    @Test func damagedDocumentsAreReadAsFoundationReadsThemOrLeftToIt() throws {
        var r = Rand(state: 7)
        let alphabet = Array(#"{}[]:,"\ 0123456789.-+eEtrufalsn/Z"#.utf8) + [0x00, 0x80, 0xC3, 0xFF]
        var accepted = 0
        for round in 0..<6000 {
            var bytes = [UInt8](try BundleJSON.encoder().encode(Self.heartbeat(&r)))
            for _ in 0..<r.int(1...3) {
                let at = r.int(0...(bytes.count - 1))
                switch r.int(0...2) {
                case 0: bytes[at] = alphabet[r.int(0...(alphabet.count - 1))]
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet[r.int(0...(alphabet.count - 1))], at: at)
                }
            }
            guard let fast = HeartbeatJSON.decode(bytes) else { continue }
            accepted += 1
            #expect(Self.foundation(bytes) == fast, "round \(round): \(String(decoding: bytes, as: UTF8.self).prefix(600))")
        }
        #expect(accepted > 100, "so few damaged documents were still inside the subset (\(accepted)) that the check says little")
    }

    /// The range `decodeLocatingProcesses` answers is exactly the `topProcesses` array: its
    /// bytes decode as the heartbeat's processes, and the document with `[]` in their place
    /// decodes as the same heartbeat without them (what the collector stores), in compact and
    /// pretty output and with white space around the array.
    @Test func theProcessesRangeIsTheArrayAndCuttingItLeavesTheRest() throws {
        var r = Rand(state: 7)
        var withProcesses = 0
        for round in 0..<500 {
            let beat = Self.heartbeat(&r)
            var bytes = [UInt8](try BundleJSON.encoder(pretty: round % 2 == 0).encode(beat))
            let key = Array(#""topProcesses""#.utf8)
            if round % 5 == 0, let at = bytes.indices.first(where: { bytes[$0...].starts(with: key) }),
               let colon = bytes[at...].firstIndex(of: UInt8(ascii: ":")) {
                bytes.insert(contentsOf: Array(" \n\t ".utf8), at: colon + 1)
            }
            let found = try #require(bytes.withUnsafeBytes { HeartbeatJSON.decodeLocatingProcesses($0) }, "round \(round)")
            #expect(found.heartbeat == beat)
            let array = Array(bytes[found.processes])
            #expect(array.first == UInt8(ascii: "[") && array.last == UInt8(ascii: "]"), "round \(round)")
            #expect(try BundleJSON.decoder().decode([ProcessRecord].self, from: Data(array)) == beat.topProcesses, "round \(round)")
            let cut = Array(bytes[..<found.processes.lowerBound]) + Array("[]".utf8) + Array(bytes[found.processes.upperBound...])
            var without = beat
            without.topProcesses = []
            #expect(HeartbeatJSON.decode(cut) == without, "round \(round)")
            if !beat.topProcesses.isEmpty { withProcesses += 1 }
        }
        #expect(withProcesses > 300)
        // Outside the subset there is no range either.
        #expect(Array(#"{"schemaVersion":1}"#.utf8).withUnsafeBytes { HeartbeatJSON.decodeLocatingProcesses($0) } == nil)
    }
}

/// What a heartbeat carries of the processes probe.
@Suite struct HeartbeatProcessesTests {
    static func process(_ pid: Int, command: String, top: Bool) -> ProcessRecord {
        ProcessRecord(pid: pid, ppid: 1, uid: 1000, user: "dev", state: "R", name: "swift-frontend", commandLine: command,
                      threads: 4, rssBytes: 1 << 30, cpuPercent: 95, topCPU: top, topMemory: false)
    }

    /// Ten compilers with 40 KiB command lines made a real heartbeat 77 KB, over the
    /// collector's 64 KiB `max_heartbeat_bytes`: the heartbeat was refused whole.
    @Test func commandLinesAreCutAndOnlyTopProcessesGo() throws {
        let long = String(repeating: "-Xfrontend -o /tmp/x/é.o ", count: 1_700)
        let all = (0..<10).map { Self.process($0, command: long, top: true) } + [Self.process(99, command: "idle", top: false)]
        let top = Heartbeat.topProcesses(of: all)
        #expect(top.map(\.pid) == Array(0..<10))
        #expect(top.allSatisfy { $0.commandLine == String(long.prefix(Heartbeat.commandLineCharacters)) })
        let beat = Heartbeat(host: HostIdentity(hostID: "h", hostname: "dev"), sentAt: Date(timeIntervalSince1970: 1_800_000_000),
                             agentVersion: "1", topProcesses: top)
        let bytes = try BundleJSON.encoder().encode(beat).count
        #expect(bytes < 20_000, "\(bytes) bytes")
        #expect(Heartbeat.topProcesses(of: [Self.process(1, command: "short", top: true)]).first?.commandLine == "short")
    }

}
