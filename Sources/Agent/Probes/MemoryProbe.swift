import Foundation
import Shared

/// `memory.json`: `/proc/meminfo` in bytes, swap, pressure stall information and OOM kills.
struct MemoryProbe: Probe {
    /// `memory`.
    let name = "memory"
    /// What it gathers, for `helpline preview`.
    let summary = "RAM and swap (/proc/meminfo), memory/CPU/IO pressure (PSI), OOM kills"
    /// Reads a few small files.
    let timeout: Duration = .seconds(5)

    /// PSI resources read from `/proc/pressure`.
    static let pressureResources = ["cpu", "memory", "io"]

    /// Reads `/proc/meminfo` (required), `/proc/pressure/*` (absent without PSI) and `/proc/vmstat`.
    /// - Throws: `ProbeError` when `/proc/meminfo` cannot be read or holds no `MemTotal`.
    func collect(_ context: ProbeContext) throws -> ProbeOutput {
        var unreadable: [String] = []
        let meminfoPath = "/proc/meminfo"
        let meminfo: [String: UInt64]
        switch context.source(meminfoPath) {
        case .text(let t): meminfo = Meminfo.parse(t)
        case .missing: throw ProbeError("\(context.path(meminfoPath)) does not exist; is /proc mounted?")
        case .unreadable(let e):
            throw ProbeError("cannot read \(context.path(meminfoPath)): \(String(cString: strerror(e)))")
        }
        guard let total = meminfo["MemTotal"] else {
            throw ProbeError("\(context.path(meminfoPath)) has no MemTotal line; it is not a meminfo file")
        }

        var pressure: [String: PressureStall] = [:]
        for resource in Self.pressureResources {
            if let t = context.text("/proc/pressure/" + resource, unreadable: &unreadable), let p = Pressure.parse(t) {
                pressure[resource] = p
            }
        }
        let oomKills = context.text("/proc/vmstat", unreadable: &unreadable).flatMap { Vmstat.parse($0)["oom_kill"] }

        let free = meminfo["MemFree"] ?? 0
        let info = MemoryInfo(
            totalBytes: total,
            // Kernels before 3.14 have no MemAvailable; free memory is the honest lower bound.
            availableBytes: meminfo["MemAvailable"] ?? free,
            freeBytes: free, buffersBytes: meminfo["Buffers"] ?? 0, cachedBytes: meminfo["Cached"] ?? 0,
            swapTotalBytes: meminfo["SwapTotal"] ?? 0, swapFreeBytes: meminfo["SwapFree"] ?? 0,
            meminfo: meminfo, pressure: pressure, oomKills: oomKills)
        return try .json(BundleMember.memory, info, items: meminfo.count, status: unreadable.isEmpty ? .ok : .partial,
                         error: unreadable.isEmpty ? nil : "some sources could not be read", unreadable: unreadable)
    }
}
