import Foundation
import Shared

/// The typed members of one bundle that pages show (each nil when absent or unreadable).
struct BundleSnapshot: Sendable {
    var system: SystemInfo?
    var memory: MemoryInfo?
    var disks: DiskInfo?
    var units: UnitsInfo?
    var processes: ProcessList?
    var network: NetworkInfo?

    /// Member names it reads.
    static let names: Set<String> = [BundleMember.system, BundleMember.memory, BundleMember.disks, BundleMember.units,
                                     BundleMember.processes, BundleMember.network]

    /// Decodes what `BundleArchive.members` found; a member that does not decode is left out.
    init(_ members: [String: [UInt8]]) {
        func decode<T: Decodable>(_ type: T.Type, _ name: String) -> T? {
            guard let bytes = members[name] else { return nil }
            return try? BundleJSON.decoder().decode(T.self, from: Data(bytes))
        }
        system = decode(SystemInfo.self, BundleMember.system)
        memory = decode(MemoryInfo.self, BundleMember.memory)
        disks = decode(DiskInfo.self, BundleMember.disks)
        units = decode(UnitsInfo.self, BundleMember.units)
        processes = decode(ProcessList.self, BundleMember.processes)
        network = decode(NetworkInfo.self, BundleMember.network)
    }

    /// The host summary: OS, kernel, uptime, memory and disks as meters, failed units.
    func summary(from: String) -> HostSummaryView {
        let os = system?.osRelease?.prettyName ?? system?.osRelease?.id ?? "—"
        let kernel = system?.kernel.map { "\($0.sysname) \($0.release) \($0.machine)" } ?? "—"
        var memoryMeter: MeterView?
        var swapMeter: MeterView?
        if let m = memory, m.totalBytes > 0 {
            let used = Double(m.totalBytes - min(m.availableBytes, m.totalBytes)) / Double(m.totalBytes) * 100
            memoryMeter = MeterView(label: "Memory", detail: "\(WebFormat.bytes(m.availableBytes)) available of \(WebFormat.bytes(m.totalBytes))",
                                    value: WebFormat.meter(used), percent: WebFormat.percent(used), high: used >= 90)
            if m.swapTotalBytes > 0 {
                let swapUsed = Double(m.swapTotalBytes - min(m.swapFreeBytes, m.swapTotalBytes)) / Double(m.swapTotalBytes) * 100
                swapMeter = MeterView(label: "Swap", detail: "\(WebFormat.bytes(m.swapFreeBytes)) free of \(WebFormat.bytes(m.swapTotalBytes))",
                                      value: WebFormat.meter(swapUsed), percent: WebFormat.percent(swapUsed), high: swapUsed >= 90)
            }
        }
        let disks = (disks?.filesystems ?? []).prefix(32).map { f in
            MeterView(label: WebFormat.untrusted(f.mountPoint, max: 200),
                      detail: "\(WebFormat.bytes(f.availableBytes)) free of \(WebFormat.bytes(f.sizeBytes)) · \(WebFormat.untrusted(f.fsType, max: 40))\(f.readOnly ? " · read-only" : "")",
                      value: WebFormat.meter(f.usedPercent), percent: WebFormat.percent(f.usedPercent), high: f.usedPercent >= 90 || f.readOnly)
        }
        let load = system?.loadAverage.map { $0.prefix(3).map { $0.isFinite ? String(format: "%.2f", $0) : "—" }.joined(separator: " ") } ?? "—"
        let cpu = [system?.cpuModel.map { WebFormat.untrusted($0, max: 120) }, system?.cpuCount.map { "\($0) CPUs" }]
            .compactMap { $0 }.joined(separator: " · ")
        return HostSummaryView(os: WebFormat.untrusted(os, max: 200), kernel: WebFormat.untrusted(kernel, max: 200),
                               uptime: WebFormat.duration(system?.uptimeSeconds), cpu: cpu.isEmpty ? "—" : cpu, load: load,
                               memory: memoryMeter, swap: swapMeter, disks: Array(disks),
                               failedUnits: (units?.failed ?? []).prefix(50).map { WebFormat.untrusted($0.name, max: 200) },
                               hasFailedUnits: !(units?.failed ?? []).isEmpty, from: from)
    }

    /// What changed from `previous` (the same host's bundle before) to this one: failed units
    /// that appeared or cleared, disks that filled or emptied by a point or more, memory.
    func changes(since previous: BundleSnapshot) -> [String] {
        var out: [String] = []
        let now = Set((units?.failed ?? []).map(\.name))
        let before = Set((previous.units?.failed ?? []).map(\.name))
        for name in now.subtracting(before).sorted().prefix(20) { out.append("New failed unit: \(WebFormat.untrusted(name, max: 200))") }
        for name in before.subtracting(now).sorted().prefix(20) { out.append("No longer failed: \(WebFormat.untrusted(name, max: 200))") }
        let oldDisks = Dictionary((previous.disks?.filesystems ?? []).map { ($0.mountPoint, $0) }, uniquingKeysWith: { a, _ in a })
        for f in (disks?.filesystems ?? []).prefix(64) {
            guard let old = oldDisks[f.mountPoint], f.usedPercent.isFinite, old.usedPercent.isFinite else { continue }
            let delta = f.usedPercent - old.usedPercent
            if abs(delta) >= 1 {
                out.append("\(WebFormat.untrusted(f.mountPoint, max: 200)): \(WebFormat.percent(old.usedPercent)) → \(WebFormat.percent(f.usedPercent)) used")
            }
            if f.readOnly && !old.readOnly { out.append("\(WebFormat.untrusted(f.mountPoint, max: 200)) became read-only") }
        }
        if let m = memory, let o = previous.memory, m.totalBytes > 0, o.totalBytes > 0 {
            let now = Double(m.availableBytes) / Double(m.totalBytes) * 100
            let then = Double(o.availableBytes) / Double(o.totalBytes) * 100
            if abs(now - then) >= 5 {
                out.append("Memory available: \(WebFormat.percent(then)) → \(WebFormat.percent(now))")
            }
            if (m.oomKills ?? 0) > (o.oomKills ?? 0) {
                out.append("Out-of-memory kills: \(o.oomKills ?? 0) → \(m.oomKills ?? 0)")
            }
        }
        if let k = system?.kernel?.release, let ok = previous.system?.kernel?.release, k != ok {
            out.append("Kernel: \(WebFormat.untrusted(ok, max: 100)) → \(WebFormat.untrusted(k, max: 100))")
        }
        if let u = system?.uptimeSeconds, let pu = previous.system?.uptimeSeconds, u < pu {
            out.append("Rebooted since (uptime \(WebFormat.duration(u)))")
        }
        return out
    }
}
