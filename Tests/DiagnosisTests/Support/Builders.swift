import Foundation
@testable import Shared
@testable import Diagnosis

/// Fixed "now" for unit tests.
let testNow = Date(timeIntervalSince1970: 1_790_000_000)

/// Typed members with nothing wrong in them; tests change one figure at a time.
func healthyContents(now: Date = testNow) -> BundleContents {
    let manifest = Manifest(bundleID: UUID().uuidString.lowercased(), createdAt: now, agentVersion: "test",
                            host: HostIdentity(hostname: "laptop-42"), reason: .userRequest, probes: [])
    let root = FilesystemUsage(mountPoint: "/", device: "/dev/nvme0n1p2", fsType: "ext4", readOnly: false, sizeBytes: 250_000_000_000,
                               usedBytes: 100_000_000_000, availableBytes: 137_000_000_000, usedPercent: 42, inodesTotal: 15_000_000,
                               inodesUsed: 1_000_000, inodesUsedPercent: 6.7)
    return BundleContents(
        manifest: manifest,
        system: SystemInfo(hostname: "laptop-42", cpuCount: 8, loadAverage: [0.5, 0.4, 0.3]),
        memory: MemoryInfo(totalBytes: 16_000_000_000, availableBytes: 8_000_000_000, freeBytes: 2_000_000_000, buffersBytes: 0,
                           cachedBytes: 4_000_000_000, swapTotalBytes: 2_000_000_000, swapFreeBytes: 1_900_000_000,
                           pressure: ["memory": PressureStall(some: .init(avg10: 0, avg60: 0.5, avg300: 0, totalMicroseconds: 0),
                                                              full: .init(avg10: 0, avg60: 0.1, avg300: 0, totalMicroseconds: 0)),
                                      "io": PressureStall(some: .init(avg10: 0, avg60: 1, avg300: 0, totalMicroseconds: 0),
                                                          full: .init(avg10: 0, avg60: 0.5, avg300: 0, totalMicroseconds: 0)),
                                      "cpu": PressureStall(some: .init(avg10: 0, avg60: 3, avg300: 0, totalMicroseconds: 0))],
                           oomKills: 0),
        disks: DiskInfo(filesystems: [root], blockDevices: []),
        processes: ProcessList(sampleIntervalMS: 500, processes: [
            ProcessRecord(pid: 1523, ppid: 1490, uid: 1000, user: "alice", state: "S", name: "gnome-shell",
                          commandLine: "/usr/bin/gnome-shell", threads: 23, rssBytes: 400_000_000, cpuPercent: 4),
        ]),
        network: nil, units: UnitsInfo(failed: []), note: nil, journalEntries: 0, members: [], compressedBytes: 0, uncompressedBytes: 0)
}

/// A journal entry `secondsAgo` before `testNow`.
func logLine(_ message: String, identifier: String? = nil, transport: String = "journal", unit: String? = nil, priority: Int = 6,
           messageID: String? = nil, secondsAgo: Double = 60, coredump: [String: String]? = nil) -> JournalEntry {
    JournalEntry(realtime: Int64((testNow.timeIntervalSince1970 - secondsAgo) * 1_000_000), bootID: "b0", priority: priority,
                 identifier: transport == "kernel" ? "kernel" : identifier, unit: unit, transport: transport, messageID: messageID,
                 message: message, coredump: coredump)
}

/// A kernel journal entry.
func kernelEntry(_ message: String, secondsAgo: Double = 60, priority: Int = 3) -> JournalEntry {
    logLine(message, transport: "kernel", priority: priority, secondsAgo: secondsAgo)
}

/// One engine for all unit tests (loading and compiling rules once).
let sharedEngine: DiagnosisEngine = {
    do { return try DiagnosisEngine() } catch { preconditionFailure("built-in rules do not load: \(error)") }
}()
