import Foundation
import Testing
@testable import Agent

/// `RestingMemory`: which lines of /proc/PID/maps are the executable's, and that a release
/// leaves every mapping of it advised (the kernel shows `rr`, random read, in its VmFlags).
@Suite struct RestingMemoryTests {
    @Test func mapsLinesOfTheExecutableAreFoundOthersAreNot() {
        let exe = "/usr/bin/helpline"
        #expect(RestingMemory.range(ofMappingLine: "00400000-018af000 r-xp 00000000 fd:01 123   /usr/bin/helpline\n", of: exe) == 0x400000..<0x18af000)
        #expect(RestingMemory.range(ofMappingLine: "018b0000-03d72000 rw-p 014af000 fd:01 123  /usr/bin/helpline", of: exe) == 0x18b0000..<0x3d72000)
        // A path with spaces, and one replaced by an upgrade, are matched whole.
        #expect(RestingMemory.range(ofMappingLine: "1000-2000 r--p 0 0:1 9 /opt/my tools/helpline\n", of: "/opt/my tools/helpline") == 0x1000..<0x2000)
        #expect(RestingMemory.range(ofMappingLine: "1000-2000 r--p 0 0:1 9 /usr/bin/helpline (deleted)\n", of: "/usr/bin/helpline (deleted)") != nil)
        #expect(RestingMemory.range(ofMappingLine: "1000-2000 r--p 0 0:1 9 /usr/bin/helpline (deleted)\n", of: exe) == nil)
        // Other files, anonymous memory, a longer name, nonsense.
        #expect(RestingMemory.range(ofMappingLine: "7f00-7f10 r-xp 0 fd:01 5 /usr/lib/x86_64-linux-gnu/libc.so.6\n", of: exe) == nil)
        #expect(RestingMemory.range(ofMappingLine: "7f00-7f10 rw-p 00000000 00:00 0 \n", of: exe) == nil)
        #expect(RestingMemory.range(ofMappingLine: "7f00-7f10 rw-p 00000000 00:00 0   [heap]\n", of: exe) == nil)
        #expect(RestingMemory.range(ofMappingLine: "1000-2000 r--p 0 0:1 9 /usr/bin/helpline-collector\n", of: exe) == nil)
        #expect(RestingMemory.range(ofMappingLine: "zz-2000 r--p 0 0:1 9 /usr/bin/helpline\n", of: exe) == nil)
        #expect(RestingMemory.range(ofMappingLine: "2000-1000 r--p 0 0:1 9 /usr/bin/helpline\n", of: exe) == nil)
    }

    /// Runs in this test process, which is position-independent: its relocated read-only data
    /// (RELRO) must survive the advice, or the next call through it would crash.
    @Test func aReleaseAdvisesEveryMappingOfTheExecutableAndItsResidentPagesGo() throws {
        // Pages of this (test) executable that running the tests so far made resident.
        let before = try executableMappings(pid: getpid()).map(\.rssKB).reduce(0, +)
        let released = RestingMemory.release()
        let after = try executableMappings(pid: getpid())
        #expect(released.mappings > 0 && released.bytes > 0, "\(released)")
        #expect(after.count == released.mappings, "\(after)")
        #expect(after.allSatisfy { $0.flags.contains("rr") }, "a mapping of the executable without MADV_RANDOM: \(after)")
        // What this test ran since comes back, a few pages; what the earlier work touched does not.
        let rss = after.map(\.rssKB).reduce(0, +)
        #expect(rss < before / 2, "resident pages of the executable: \(before) kB before, \(rss) kB after")
    }
}

/// Each mapping of process `pid`'s executable: its VmFlags and resident kB, from /proc/PID/smaps.
func executableMappings(pid: pid_t) throws -> [(flags: [String], rssKB: Int)] {
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
    var mappings: [(flags: [String], rssKB: Int)] = []
    var inExecutable = false
    for line in try String(contentsOfFile: "/proc/\(pid)/smaps", encoding: .utf8).split(separator: "\n") {
        if let first = line.split(separator: " ").first, first.contains("-"), !first.hasSuffix(":") {
            inExecutable = RestingMemory.range(ofMappingLine: String(line), of: exe) != nil
            if inExecutable { mappings.append(([], 0)) }
        } else if inExecutable, line.hasPrefix("Rss:") {
            mappings[mappings.count - 1].rssKB = Int(line.split(separator: " ")[1]) ?? 0
        } else if inExecutable, line.hasPrefix("VmFlags:") {
            mappings[mappings.count - 1].flags = line.split(separator: " ").dropFirst().map(String.init)
        }
    }
    return mappings
}
