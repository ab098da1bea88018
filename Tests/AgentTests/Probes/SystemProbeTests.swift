import Foundation
import Shared
import Testing
@testable import Agent

@Test func systemProbeOnLaptopFixture() throws {
    let out = try SystemProbe().collect(fixtureContext(fixturePath("sysroot-laptop")))
    #expect(out.status == .ok)
    #expect(out.member == BundleMember.system)
    let s = try decode(SystemInfo.self, out)
    #expect(s.hostname == "t14-alice")
    #expect(s.machineID == "5f3c1b2a9d8e4f7a8b6c5d4e3f2a1b0c")
    #expect(s.bootID == "9a7d5c3e-1b2f-4e6a-8c0d-2f4b6a8c0e1d")
    #expect(s.osRelease == SystemInfo.OSRelease(id: "debian", versionID: "12", prettyName: "Debian GNU/Linux 12 (bookworm)"))
    #expect(s.kernel == SystemInfo.Kernel(sysname: "Linux", release: "6.1.0-18-amd64",
                                          version: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)", machine: "x86_64"))
    #expect(s.uptimeSeconds == 93784.12)
    #expect(s.cpuModel == "11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz")
    #expect(s.cpuCount == 8)
    #expect(s.loadAverage == [2.14, 1.71, 1.25])
    #expect(s.timezone == "Europe/Paris")
    #expect(s.virtualization == "none")
    #expect(s.container == nil)
}

@Test func systemProbeFallbacksAndContainerInSysroot() throws {
    let tree = try FixtureCopy("sysroot-laptop")
    defer { tree.cleanup() }
    // No /etc/os-release → /usr/lib/os-release; no /etc/timezone → the /etc/localtime link;
    // no kernel hostname → /etc/hostname; no arch file → machine unknown.
    try tree.remove("/etc/os-release")
    try tree.write("/usr/lib/os-release", "ID=ubuntu\nVERSION_ID=\"24.04\"\n")
    try tree.remove("/etc/timezone")
    try FileManager.default.createSymbolicLink(atPath: tree.path("/etc/localtime"),
                                               withDestinationPath: "../usr/share/zoneinfo/America/New_York")
    try tree.remove("/proc/sys/kernel/hostname")
    try tree.remove("/proc/sys/kernel/arch")
    try tree.write("/.dockerenv", "")
    try tree.write("/sys/class/dmi/id/sys_vendor", "QEMU\n")
    try tree.write("/sys/class/dmi/id/product_name", "Standard PC (i440FX + PIIX, 1996)\n")
    let s = try decode(SystemInfo.self, SystemProbe().collect(fixtureContext(tree.root)))
    #expect(s.osRelease?.id == "ubuntu")
    #expect(s.osRelease?.versionID == "24.04")
    #expect(s.timezone == "America/New_York")
    #expect(s.hostname == "t14-alice")
    #expect(s.kernel?.machine == "unknown")
    #expect(s.container == "docker")
    #expect(s.virtualization == "qemu")
}

@Test func systemProbeUnreadableSourceIsPartial() throws {
    let tree = try FixtureCopy("sysroot-laptop")
    defer { tree.cleanup() }
    try tree.makeUnreadable("/etc/machine-id")
    try tree.makeUnreadable("/proc/1/environ")   // root-only on real systems: not reported
    let out = try SystemProbe().collect(fixtureContext(tree.root))
    #expect(out.status == .partial)
    #expect(out.unreadable == ["/etc/machine-id"])
    #expect(try decode(SystemInfo.self, out).machineID == nil)
}

@Test func systemProbeOnLiveSystem() throws {
    let out = try SystemProbe().collect(liveContext())
    let s = try decode(SystemInfo.self, out)
    var u = utsname()
    uname(&u)
    let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    #expect(s.kernel?.release == release)
    #expect((s.cpuCount ?? 0) == ProcessInfo.processInfo.processorCount)
    #expect(!s.hostname.isEmpty)
}
