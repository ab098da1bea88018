import Foundation
import Shared

/// `system.json`: OS release, kernel, host identity, uptime, CPU, load, time zone and
/// virtualization.
///
/// `/proc/1/environ` (container detection) is read best-effort: only root may read it, so
/// failing to is normal and not reported as unreadable.
struct SystemProbe: Probe {
    /// `system`.
    let name = "system"
    /// What it gathers, for `helpline preview`.
    let summary = "OS release, kernel, hostname, machine and boot id, uptime, CPU, load, time zone, virtualization"
    /// Reads a few small files.
    let timeout: Duration = .seconds(5)

    /// Reads the sources under `context.sysroot`.
    func collect(_ context: ProbeContext) throws -> ProbeOutput {
        var unreadable: [String] = []
        func read(_ p: String) -> String? { context.text(p, unreadable: &unreadable) }
        func line(_ p: String) -> String? {
            read(p).map { String($0.trimmingWhitespace) }.flatMap { $0.isEmpty ? nil : $0 }
        }

        let osRelease = (read("/etc/os-release") ?? read("/usr/lib/os-release")).map(OSRelease.parse)
        let hostname = line("/proc/sys/kernel/hostname") ?? line("/etc/hostname") ?? ""
        let cpu = read("/proc/cpuinfo").map(CPUInfo.parse)
        let kernelRelease = line("/proc/sys/kernel/osrelease")

        let info = SystemInfo(
            hostname: context.redactor.redact(hostname),
            machineID: line("/etc/machine-id"),
            bootID: line("/proc/sys/kernel/random/boot_id"),
            osRelease: osRelease,
            kernel: kernel(context, line: line),
            uptimeSeconds: read("/proc/uptime").flatMap(Uptime.parse),
            cpuModel: cpu?.model,
            cpuCount: cpu.flatMap { $0.count > 0 ? $0.count : nil },
            loadAverage: read("/proc/loadavg").flatMap(Loadavg.parse),
            timezone: timezone(context, line: line),
            virtualization: Virtualization.hypervisor(
                sysVendor: line("/sys/class/dmi/id/sys_vendor"), productName: line("/sys/class/dmi/id/product_name"),
                hypervisorType: line("/sys/hypervisor/type"), cpuHypervisorFlag: cpu?.hypervisorFlag ?? false),
            container: Virtualization.container(
                systemdContainer: line("/run/systemd/container"), pid1Environ: context.source("/proc/1/environ").text,
                containerenv: context.exists("/run/.containerenv"), dockerenv: context.exists("/.dockerenv"),
                kernelRelease: kernelRelease))
        return try .json(BundleMember.system, info, items: 1, status: unreadable.isEmpty ? .ok : .partial,
                         error: unreadable.isEmpty ? nil : "some sources could not be read", unreadable: unreadable)
    }

    /// `uname` on the live system. Under a sysroot, `/proc/sys/kernel/{ostype,osrelease,version,arch}`:
    /// the live `uname` would describe the wrong machine, so `machine` is `unknown` when
    /// `arch` is absent.
    private func kernel(_ context: ProbeContext, line: (String) -> String?) -> SystemInfo.Kernel? {
        if context.sysroot.isEmpty {
            var u = utsname()
            guard uname(&u) == 0 else { return nil }
            func field<T>(_ value: inout T) -> String {
                withUnsafeBytes(of: &value) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
            }
            return SystemInfo.Kernel(sysname: field(&u.sysname), release: field(&u.release),
                                     version: field(&u.version), machine: field(&u.machine))
        }
        guard let release = line("/proc/sys/kernel/osrelease") else { return nil }
        return SystemInfo.Kernel(sysname: line("/proc/sys/kernel/ostype") ?? "Linux", release: release,
                                 version: line("/proc/sys/kernel/version") ?? "",
                                 machine: line("/proc/sys/kernel/arch") ?? "unknown")
    }

    /// `/etc/timezone` (Debian), else the zone named by the `/etc/localtime` link target
    /// after `zoneinfo/`.
    private func timezone(_ context: ProbeContext, line: (String) -> String?) -> String? {
        if let tz = line("/etc/timezone") { return tz }
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: context.path("/etc/localtime")),
              let r = target.range(of: "zoneinfo/") else { return nil }
        let zone = String(target[r.upperBound...])
        return zone.isEmpty ? nil : zone
    }
}
