import Foundation
import Testing
@testable import Agent
@testable import Shared

/// `helpline collect` on the laptop fixture and a journal of the same boot: every member
/// is there, opens with GNU tar, and holds what the fixture planted.
@Suite(.serialized) struct FullBundleTests {
    static let boot = "9a7d5c3e1b2f4e6a8c0d2f4b6a8c0e1d"

    @Test func everyMemberOfTheLaptopFixture() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        try JournalFixture.write([
            .init(realtime: ago(3 * 3600, from: now), bootID: Self.boot, [("MESSAGE", "nvme nvme0: I/O 23 QID 4 timeout, aborting"),
                                                                          ("PRIORITY", "4"), ("_TRANSPORT", "kernel")]),
            .init(realtime: ago(120, from: now), bootID: Self.boot, [("MESSAGE", "cups.service: Failed with result 'exit-code'."),
                                                                     ("PRIORITY", "3"), ("SYSLOG_IDENTIFIER", "systemd"), ("_SYSTEMD_UNIT", "init.scope")]),
        ], to: dir.file("journal"))
        let helpline = productsDirectory + "/helpline"
        let r = try run(helpline, ["collect", "--sysroot", fixturePath("sysroot-laptop"), "--journal-directory", dir.file("journal"),
                                   "--output", dir.file("b.tar.gz"), "--note", "laptop is slow"])
        #expect(r.status == 0, "\(r.error)")
        try FileManager.default.createDirectory(atPath: dir.file("x"), withIntermediateDirectories: true)
        #expect(try run("/usr/bin/tar", ["xzf", dir.file("b.tar.gz"), "-C", dir.file("x")]).status == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.file("x")).sorted()
        #expect(names == ["disks.json", "journal.jsonl", "manifest.json", "memory.json", "network.json", "note.txt",
                          "processes.json", "system.json", "units.json"])
        func load<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
            try BundleJSON.decoder().decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: dir.file("x/" + name))))
        }
        let manifest = try load(Manifest.self, "manifest.json")
        #expect(manifest.probes.map(\.name) == ["journal", "system", "memory", "disks", "processes", "units", "network"])
        #expect(manifest.host.hostname == "t14-alice")
        #expect(manifest.host.bootID == Self.boot)
        let system = try load(SystemInfo.self, "system.json")
        #expect(system.hostname == "t14-alice")
        #expect(system.osRelease?.id == "debian")
        let disks = try load(DiskInfo.self, "disks.json")
        #expect(disks.filesystems.first { $0.mountPoint == "/" }?.usedPercent == 97.0)
        let processes = try load(ProcessList.self, "processes.json")
        let hog = try #require(processes.processes.max { $0.cpuPercent < $1.cpuPercent })
        #expect(hog.name == "cc1plus")
        #expect(hog.topCPU)
        let units = try load(UnitsInfo.self, "units.json")
        #expect(units.failed.map(\.name).contains("cups.service"))
        _ = try load(MemoryInfo.self, "memory.json")
        _ = try load(NetworkInfo.self, "network.json")
        // Kernel message of this boot from 3 h ago is in (kernel messages of the current boot).
        let journal = try String(contentsOfFile: dir.file("x/journal.jsonl"), encoding: .utf8)
        #expect(journal.contains("nvme nvme0: I/O 23 QID 4 timeout"))
        #expect(journal.contains("cups.service: Failed with result"))
        // The collector's reader agrees with tar.
        let contents = try BundleReader.read(path: dir.file("b.tar.gz"))
        #expect(contents.units == units)
        #expect(contents.disks == disks)
        #expect(contents.note == "laptop is slow")
    }
}
