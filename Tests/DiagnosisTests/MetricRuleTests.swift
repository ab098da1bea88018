import Foundation
import Testing
@testable import Diagnosis
@testable import Shared

/// Each metric rule on typed values, at and around its thresholds.
struct MetricRuleTests {
    let config = DiagnosisConfiguration()

    func filesystem(_ mount: String = "/", size: UInt64 = 100_000_000_000, usedPercent: Double, available: UInt64? = nil,
                    inodesPercent: Double = 5, readOnly: Bool = false, type: String = "ext4") -> FilesystemUsage {
        let avail = available ?? UInt64(Double(size) * (100 - usedPercent) / 100)
        return FilesystemUsage(mountPoint: mount, device: "/dev/sda1", fsType: type, readOnly: readOnly, sizeBytes: size,
                               usedBytes: size - avail, availableBytes: avail, usedPercent: usedPercent, inodesTotal: 1_000_000,
                               inodesUsed: UInt64(inodesPercent * 10_000), inodesUsedPercent: inodesPercent)
    }

    func disk(_ fs: FilesystemUsage...) -> BundleContents {
        var c = healthyContents(); c.disks = DiskInfo(filesystems: fs, blockDevices: []); return c
    }

    @Test func healthyMembersRaiseNothing() {
        for rule in MetricRules.builtIn {
            #expect(rule.evaluate(healthyContents(), configuration: config).isEmpty, "\(rule.description.id)")
        }
    }

    @Test func diskSpaceThresholdsAreInclusive() {
        let rule = DiskSpaceRule()
        #expect(rule.evaluate(disk(filesystem(usedPercent: 89.99)), configuration: config).isEmpty)
        #expect(rule.evaluate(disk(filesystem(usedPercent: 90)), configuration: config).first?.severity == .high)
        #expect(rule.evaluate(disk(filesystem(usedPercent: 96.99)), configuration: config).first?.severity == .high)
        let critical = rule.evaluate(disk(filesystem(usedPercent: 97)), configuration: config)
        #expect(critical.first?.severity == .critical)
        #expect(critical.first?.title.contains("/ is 97 % full") == true)
        #expect(critical.first?.evidence.first?.label == "disk./.usedPercent")
    }

    @Test func diskSpaceLowFreeBytesOnlyOnLargeDisks() {
        let rule = DiskSpaceRule()
        // 500 GB at 89.9 % with 900 MB free: under the 1 GB floor.
        let large = filesystem(size: 500_000_000_000, usedPercent: 89.9, available: 900_000_000)
        #expect(rule.evaluate(disk(large), configuration: config).first?.severity == .high)
        let exactlyFloor = filesystem(size: 500_000_000_000, usedPercent: 89.9, available: 1 << 30)
        #expect(rule.evaluate(disk(exactlyFloor), configuration: config).isEmpty)
        // A 512 MB EFI partition with 100 MB free is fine.
        let small = filesystem("/boot/efi", size: 512_000_000, usedPercent: 80, available: 100_000_000, type: "vfat")
        #expect(rule.evaluate(disk(small), configuration: config).isEmpty)
        // Read-only images never count.
        #expect(rule.evaluate(disk(filesystem("/snap/x/1", usedPercent: 100, type: "squashfs")), configuration: config).isEmpty)
    }

    @Test func inodes() {
        let rule = InodeRule()
        #expect(rule.evaluate(disk(filesystem(usedPercent: 10, inodesPercent: 89.9)), configuration: config).isEmpty)
        #expect(rule.evaluate(disk(filesystem(usedPercent: 10, inodesPercent: 90)), configuration: config).first?.severity == .high)
        #expect(rule.evaluate(disk(filesystem(usedPercent: 10, inodesPercent: 97)), configuration: config).first?.severity == .critical)
    }

    @Test func readOnlyRootButNotUSBStick() {
        let rule = ReadOnlyFilesystemRule()
        let f = rule.evaluate(disk(filesystem(usedPercent: 10, readOnly: true),
                                   filesystem("/media/alice/USB DISK", usedPercent: 10, readOnly: true, type: "vfat")), configuration: config)
        #expect(f.count == 1)
        #expect(f.first?.severity == .critical)
        #expect(f.first?.category == .storage)
    }

    func memory(_ change: (inout MemoryInfo) -> Void) -> BundleContents {
        var c = healthyContents(); change(&c.memory!); return c
    }

    @Test func memoryPressure() {
        let rule = MemoryPressureRule()
        #expect(rule.evaluate(memory { $0.pressure["memory"]!.some!.avg60 = 9.99 }, configuration: config).isEmpty)
        #expect(rule.evaluate(memory { $0.pressure["memory"]!.some!.avg60 = 10 }, configuration: config).first?.severity == .medium)
        #expect(rule.evaluate(memory { $0.pressure["memory"]!.full!.avg60 = 5 }, configuration: config).first?.severity == .high)
        var noPSI = healthyContents(); noPSI.memory!.pressure = [:]
        #expect(rule.evaluate(noPSI, configuration: config).isEmpty)
    }

    @Test func availableMemory() {
        let rule = LowAvailableMemoryRule()
        #expect(rule.evaluate(memory { $0.availableBytes = 1_600_000_000 }, configuration: config).isEmpty)  // exactly 10 %
        #expect(rule.evaluate(memory { $0.availableBytes = 1_599_999_999 }, configuration: config).first?.severity == .high)
        #expect(rule.evaluate(memory { $0.availableBytes = 400_000_000 }, configuration: config).first?.severity == .critical)
    }

    @Test func swap() {
        let rule = SwapExhaustionRule()
        #expect(rule.evaluate(memory { $0.swapFreeBytes = 200_000_001 }, configuration: config).isEmpty)
        #expect(rule.evaluate(memory { $0.swapFreeBytes = 200_000_000 }, configuration: config).first?.severity == .high)  // 90 %
        #expect(rule.evaluate(memory { $0.swapFreeBytes = 0; $0.availableBytes = 500_000_000 }, configuration: config).first?.severity == .critical)
        // A token 100 MB swap file that is full says nothing.
        #expect(rule.evaluate(memory { $0.swapTotalBytes = 100_000_000; $0.swapFreeBytes = 0 }, configuration: config).isEmpty)
    }

    @Test func oomCounter() {
        let rule = OOMKillCounterRule()
        #expect(rule.evaluate(memory { $0.oomKills = 0 }, configuration: config).isEmpty)
        #expect(rule.evaluate(memory { $0.oomKills = 1 }, configuration: config).first?.severity == .medium)
        #expect(rule.evaluate(memory { $0.oomKills = 3 }, configuration: config).first?.severity == .high)
    }

    @Test func failedUnits() {
        let rule = FailedUnitsRule()
        var c = healthyContents()
        c.units = UnitsInfo(failed: [
            UnitRecord(name: "cups.service", description: "CUPS Scheduler", loadState: "loaded", activeState: "failed", subState: "failed", restarts: 4, result: "exit-code"),
            UnitRecord(name: "nas.mount", description: "", loadState: "loaded", activeState: "failed", subState: "failed"),
            UnitRecord(name: "foo.service", description: "Foo", loadState: "loaded", activeState: "failed", subState: "failed", restarts: 5, result: "exit-code"),
            UnitRecord(name: "bar.service", description: "Bar", loadState: "loaded", activeState: "failed", subState: "failed", restarts: 0, result: "start-limit-hit"),
        ])
        let f = rule.evaluate(c, configuration: config)
        #expect(f.map(\.severity) == [.medium, .medium, .high, .high])
        #expect(f[0].title == "CUPS Scheduler (cups.service) failed")
        #expect(f[3].detail.contains("start-limit-hit"))
    }

    func processes(_ p: ProcessRecord...) -> BundleContents {
        var c = healthyContents(); c.processes = ProcessList(sampleIntervalMS: 500, processes: p); return c
    }
    func proc(_ name: String, cpu: Double = 0, rss: UInt64 = 1_000_000) -> ProcessRecord {
        ProcessRecord(pid: 4100, ppid: 1, uid: 1000, user: "alice", state: "R", name: name, commandLine: "/usr/bin/\(name)", threads: 1,
                      rssBytes: rss, cpuPercent: cpu)
    }

    @Test func cpuHog() {
        let rule = CPUHogRule()
        #expect(rule.evaluate(processes(proc("cc1plus", cpu: 89.9)), configuration: config).isEmpty)
        let f = rule.evaluate(processes(proc("cc1plus", cpu: 90)), configuration: config)
        #expect(f.first?.severity == .medium)
        #expect(f.first?.title.contains("cc1plus") == true)
        #expect(rule.evaluate(processes(proc("stress", cpu: 720)), configuration: config).first?.severity == .high)  // 8 CPUs × 90 %
        #expect(rule.evaluate(processes(proc("helpline", cpu: 95)), configuration: config).isEmpty, "the agent collecting is not a hog")
    }

    @Test func memoryHog() {
        let rule = MemoryHogRule()
        #expect(rule.evaluate(processes(proc("firefox", rss: 6_399_999_999)), configuration: config).isEmpty)
        #expect(rule.evaluate(processes(proc("firefox", rss: 6_400_000_000)), configuration: config).first?.severity == .medium)  // 40 %
    }

    @Test func load() {
        let rule = HighLoadRule()
        func with(_ l: [Double]) -> BundleContents { var c = healthyContents(); c.system!.loadAverage = l; return c }
        #expect(rule.evaluate(with([11.9, 12, 3]), configuration: config).isEmpty)
        #expect(rule.evaluate(with([12, 12, 3]), configuration: config).first?.severity == .medium)  // 1.5 per CPU
        #expect(rule.evaluate(with([24, 30, 9]), configuration: config).first?.severity == .high)
        #expect(rule.evaluate(with([40, 2, 1]), configuration: config).isEmpty)  // a one-minute spike
    }

    @Test func ioAndCPUPressure() {
        #expect(IOPressureRule().evaluate(memory { $0.pressure["io"]!.some!.avg60 = 19.9 }, configuration: config).isEmpty)
        #expect(IOPressureRule().evaluate(memory { $0.pressure["io"]!.some!.avg60 = 20 }, configuration: config).first?.severity == .medium)
        #expect(CPUPressureRule().evaluate(memory { $0.pressure["cpu"]!.some!.avg60 = 40 }, configuration: config).first?.severity == .medium)
    }

    @Test func configurationChangesThresholds() {
        var strict = DiagnosisConfiguration()
        strict.diskHighPercent = 50
        #expect(DiskSpaceRule().evaluate(disk(filesystem(usedPercent: 60)), configuration: strict).first?.severity == .high)
    }
}
