import Foundation
import Shared

/// What is installed and what the machine is: dpkg's packages, the running kernel, and the
/// DMI vendor, model and firmware. Read by the daemon for `POST /api/v1/inventory`.
enum InventoryReader {
    /// Most packages sent (a desktop has a few thousand).
    static let maxPackages = 50_000

    /// Reads the inventory under `sysroot` (`/` on a workstation; a fixture folder in tests).
    static func read(sysroot: String = "/", now: Date = Date()) -> Inventory {
        let root = sysroot.hasSuffix("/") ? String(sysroot.dropLast()) : sysroot
        func text(_ path: String) -> String? {
            if case .text(let t) = SourceFile.load(root + path) { return t }
            return nil
        }
        func line(_ path: String) -> String? {
            text(path).map { String($0.trimmingWhitespace.prefix(200)) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        let packages = DpkgStatus.parse(text("/var/lib/dpkg/status") ?? "").sorted { ($0.name, $0.architecture) < ($1.name, $1.architecture) }
        return Inventory(collectedAt: now, kernel: line("/proc/sys/kernel/osrelease"),
                         systemVendor: line("/sys/class/dmi/id/sys_vendor"), productName: line("/sys/class/dmi/id/product_name"),
                         biosVendor: line("/sys/class/dmi/id/bios_vendor"), biosVersion: line("/sys/class/dmi/id/bios_version"),
                         packages: Array(packages.prefix(maxPackages)))
    }
}
