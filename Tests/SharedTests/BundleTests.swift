import Foundation
import Testing
@testable import Shared

/// The content of the committed golden bundle (Fixtures/golden-v1.tar.gz).
enum Golden {
    static let manifest = sampleManifest()
    static let system = SystemInfo(hostname: "laptop-42", machineID: "0123456789abcdef0123456789abcdef", bootID: "b00b",
                                   osRelease: .init(id: "debian", versionID: "12", prettyName: "Debian GNU/Linux 12 (bookworm)"),
                                   cpuModel: "Intel(R) Core(TM) i7-1185G7", cpuCount: 8, loadAverage: [0.5, 0.4, 0.3])
    static let disks = DiskInfo(filesystems: [FilesystemUsage(mountPoint: "/home", device: "/dev/nvme0n1p3", fsType: "ext4", readOnly: false,
                                                              sizeBytes: 100 << 30, usedBytes: 97 << 30, availableBytes: 3 << 30, usedPercent: 97,
                                                              inodesTotal: 1000, inodesUsed: 10, inodesUsedPercent: 1)],
                                blockDevices: [BlockDevice(name: "nvme0n1", sizeBytes: 512 << 30, rotational: false, removable: false, model: "Samsung SSD")])
    static var journal: [JournalEntry] {
        var bad = JournalEntry(realtime: 1_790_000_001_000_000, bootID: "b00b", priority: 3, identifier: "app", transport: "stdout")
        [UInt8]([0x6F, 0x6B, 0xC3, 0x28]).withUnsafeBytes { bad.setMessage(bytes: $0) }
        return [
            JournalEntry(realtime: 1_790_000_000_000_000, bootID: "b00b", priority: 2, facility: 0, identifier: "kernel",
                         transport: "kernel", message: "EXT4-fs error (device nvme0n1p3): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0"),
            bad,
        ]
    }
    static let note = "wifi keeps dropping"

    /// Writes the golden content with `BundleWriter` (journal streamed, the rest whole).
    static func write(to path: String) throws -> BundleWriter.Result {
        let writer = try BundleWriter(path: path, mtime: Date(timeIntervalSince1970: 1_790_000_000))
        try writer.addJSON(BundleMember.system, system)
        try writer.addJSON(BundleMember.disks, disks)
        let j = try writer.makeStreamingMember(BundleMember.journal)
        for e in journal {
            var line: [UInt8] = []
            JournalLineCodec.append(e, to: &line)
            try j.write(line)
        }
        try writer.append(j)
        try writer.add(BundleMember.note, bytes: Array(note.utf8))
        return try writer.finish(manifest: manifest)
    }
}

@Suite struct BundleRoundTripTests {
    @Test func writerOutputReadsBackIdentically() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let result = try Golden.write(to: dir.file("b.tar.gz"))
        #expect(result.members.map(\.name) == ["manifest.json", "system.json", "disks.json", "journal.jsonl", "note.txt"])
        #expect(dir.contents() == ["b.tar.gz"], "no temporary files may be left behind")
        var entries: [JournalEntry] = []
        let contents = try BundleReader.read(path: result.path) { entries.append($0) }
        #expect(contents.manifest == Golden.manifest)
        #expect(contents.system == Golden.system)
        #expect(contents.disks == Golden.disks)
        #expect(contents.note == Golden.note)
        #expect(entries == Golden.journal)
        #expect(contents.journalEntries == 2)
        #expect(contents.compressedBytes == result.bytes)
    }

    @Test func streamingMemberOfManyMegabytesKeepsMemoryFlat() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let writer = try BundleWriter(path: dir.file("big.tar.gz"), level: 1)
        let member = try writer.makeStreamingMember(BundleMember.journal)
        // 128 MiB of journal lines in 256 KiB chunks. A writer that held its members in memory
        // would grow by at least that; other tests run in this process at the same time, so
        // the bound is generous but still far below the data written.
        var chunk: [UInt8] = []
        var line: [UInt8] = []
        var n = 0
        while chunk.count < 256 * 1024 {
            line.removeAll(keepingCapacity: true)
            JournalLineCodec.append(JournalEntry(realtime: Int64(n), priority: 6, identifier: "gen", message: "entry \(n) of a long journal"), to: &line)
            chunk += line
            n += 1
        }
        let before = residentBytes()
        for _ in 0..<512 { try member.write(chunk) }
        try writer.append(member)
        _ = try writer.finish(manifest: sampleManifest())
        let growth = residentBytes() - before
        #expect(member.size == 512 * chunk.count)
        #expect(growth < 48 << 20, "writer grew by \(growth) bytes while writing \(member.size)")
        // GNU tar agrees on the member's size (reading 128 MiB of lines in a debug build is slow).
        let list = try run(["tar", "tzvf", dir.file("big.tar.gz")])
        #expect(list.output.contains(" \(member.size) "), "\(list.output)")
        _ = n
    }

    @Test func abandonedWriterLeavesNothing() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let writer = try BundleWriter(path: dir.file("x.tar.gz"))
        try writer.add("system.json", bytes: Array("{}".utf8))
        let m = try writer.makeStreamingMember(BundleMember.journal)
        try m.write(Array("{\"ts\":1}\n".utf8))
        writer.abandon()
        _ = m
        #expect(dir.contents().filter { !$0.contains(".journal.jsonl.") } == [])
    }

    @Test func duplicateMemberIsRefusedByTheWriter() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let writer = try BundleWriter(path: dir.file("x.tar.gz"))
        try writer.add("note.txt", bytes: [])
        #expect(throws: BundleError.self) { try writer.add("note.txt", bytes: []) }
        #expect(throws: BundleError.self) { try writer.add("manifest.json", bytes: []) }
        writer.abandon()
    }
}

@Suite struct GoldenAndInteropTests {
    @Test func committedGoldenBundleStillReads() throws {
        if let out = ProcessInfo.processInfo.environment["HELPLINE_WRITE_GOLDEN"] {
            _ = try Golden.write(to: out)
        }
        var entries: [JournalEntry] = []
        let contents = try BundleReader.read(path: fixturePath("golden-v1.tar.gz")) { entries.append($0) }
        #expect(contents.manifest == Golden.manifest)
        #expect(contents.system == Golden.system)
        #expect(contents.disks == Golden.disks)
        #expect(contents.note == Golden.note)
        #expect(entries == Golden.journal)
    }

    @Test func gnuTarListsAndExtractsWhatTheWriterWrote() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let result = try Golden.write(to: dir.file("b.tar.gz"))
        let list = try run(["tar", "tzf", result.path])
        #expect(list.status == 0, "\(list.error)")
        #expect(list.output.split(separator: "\n") == ["manifest.json", "system.json", "disks.json", "journal.jsonl", "note.txt"])
        try FileManager.default.createDirectory(atPath: dir.file("x"), withIntermediateDirectories: true)
        let extract = try run(["tar", "xzf", result.path, "-C", dir.file("x")])
        #expect(extract.status == 0, "\(extract.error)")
        #expect(try String(contentsOfFile: dir.file("x/note.txt"), encoding: .utf8) == Golden.note)
        let system = try BundleJSON.decoder().decode(SystemInfo.self, from: Data(contentsOf: URL(fileURLWithPath: dir.file("x/system.json"))))
        #expect(system == Golden.system)
        let lines = try String(contentsOfFile: dir.file("x/journal.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        // gzip -t checks every member's CRC.
        #expect(try run(["gzip", "-t", result.path]).status == 0)
    }

    @Test func readerReadsABundleMadeByTarFromPlainFiles() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let src = dir.file("src")
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        try Data(try manifestBytes()).write(to: URL(fileURLWithPath: src + "/manifest.json"))
        try BundleJSON.encoder().encode(Golden.system).write(to: URL(fileURLWithPath: src + "/system.json"))
        var lines: [UInt8] = []
        for e in Golden.journal { JournalLineCodec.append(e, to: &lines) }
        try Data(lines).write(to: URL(fileURLWithPath: src + "/journal.jsonl"))
        try Data("help".utf8).write(to: URL(fileURLWithPath: src + "/note.txt"))
        let made = try run(["tar", "czf", dir.file("t.tar.gz"), "manifest.json", "system.json", "journal.jsonl", "note.txt"], cwd: src)
        #expect(made.status == 0)
        var count = 0
        let contents = try BundleReader.read(path: dir.file("t.tar.gz")) { _ in count += 1 }
        #expect(contents.manifest.bundleID == Golden.manifest.bundleID)
        #expect(contents.system == Golden.system)
        #expect(contents.note == "help")
        #expect(count == 2)

        // The same with ./-prefixed names and a directory entry first, as `tar czf x -C dir .` makes.
        let dotted = try run(["tar", "czf", dir.file("d.tar.gz"), "--no-recursion", ".", "./manifest.json", "./note.txt"], cwd: src)
        #expect(dotted.status == 0)
        let d = try BundleReader.read(path: dir.file("d.tar.gz"))
        #expect(d.members.map(\.name) == ["manifest.json", "note.txt"])
    }
}

/// Resident set size of this process, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}
