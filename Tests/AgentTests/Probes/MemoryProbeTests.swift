import Foundation
import Shared
import Testing
@testable import Agent

@Test func memoryProbeOnLaptopFixture() throws {
    let out = try MemoryProbe().collect(fixtureContext(fixturePath("sysroot-laptop")))
    #expect(out.status == .ok)
    let m = try decode(MemoryInfo.self, out)
    #expect(m.totalBytes == 16_035_748 * 1024)
    #expect(m.availableBytes == 3_984_512 * 1024)
    #expect(m.freeBytes == 612_340 * 1024)
    #expect(m.buffersBytes == 287_644 * 1024)
    #expect(m.cachedBytes == 4_021_988 * 1024)
    #expect(m.swapTotalBytes == 999_420 * 1024)
    #expect(m.swapFreeBytes == 402_316 * 1024)
    #expect(m.meminfo.count == 54)
    #expect(m.meminfo["HugePages_Total"] == 0)
    #expect(m.meminfo["Hugepagesize"] == 2048 * 1024)
    #expect(Set(m.pressure.keys) == ["cpu", "memory", "io"])
    #expect(m.pressure["memory"]?.some?.avg10 == 3.21)
    #expect(m.pressure["memory"]?.full?.totalMicroseconds == 23_456_789)
    #expect(m.pressure["cpu"]?.some?.avg300 == 4.02)
    #expect(m.oomKills == 2)
    #expect(out.items == 54)
}

@Test func memoryProbeWithoutPSIAndWithUnreadableVmstat() throws {
    let tree = try FixtureCopy("sysroot-laptop")
    defer { tree.cleanup() }
    try tree.remove("/proc/pressure")
    try tree.makeUnreadable("/proc/vmstat")
    let out = try MemoryProbe().collect(fixtureContext(tree.root))
    #expect(out.status == .partial)
    #expect(out.unreadable == ["/proc/vmstat"])
    let m = try decode(MemoryInfo.self, out)
    #expect(m.pressure.isEmpty)
    #expect(m.oomKills == nil)
}

@Test func memoryProbeWithoutMeminfoFails() throws {
    let tree = try FixtureCopy()
    defer { tree.cleanup() }
    #expect(throws: ProbeError.self) { try MemoryProbe().collect(fixtureContext(tree.root)) }
    try tree.write("/proc/meminfo", "not meminfo\n")
    let error = #expect(throws: ProbeError.self) { try MemoryProbe().collect(fixtureContext(tree.root)) }
    #expect(error?.message.contains("MemTotal") == true)
}

@Test func memoryProbeOnLiveSystem() throws {
    let m = try decode(MemoryInfo.self, MemoryProbe().collect(liveContext()))
    #expect(m.totalBytes > 0)
    #expect(m.availableBytes <= m.totalBytes)
}
