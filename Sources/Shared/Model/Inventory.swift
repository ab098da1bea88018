import Foundation

/// One installed Debian package.
public struct InstalledPackage: Sendable, Codable, Equatable {
    public var name: String
    public var version: String
    /// `amd64`, `all`…
    public var architecture: String

    public init(name: String, version: String, architecture: String) {
        self.name = name; self.version = version; self.architecture = architecture
    }
}

/// What is installed on a host and what it runs on: sent by the daemon once a day or when it
/// changes (`POST /api/v1/inventory`), kept as rows for fleet queries.
public struct Inventory: Sendable, Codable, Equatable {
    public var schemaVersion: Int
    public var collectedAt: Date
    /// Running kernel release.
    public var kernel: String?
    /// `/sys/class/dmi/id/sys_vendor`, `product_name`, `bios_vendor`, `bios_version`.
    public var systemVendor: String?
    public var productName: String?
    public var biosVendor: String?
    public var biosVersion: String?
    /// Installed packages (dpkg), by name.
    public var packages: [InstalledPackage]

    public init(schemaVersion: Int = 1, collectedAt: Date, kernel: String? = nil, systemVendor: String? = nil, productName: String? = nil,
                biosVendor: String? = nil, biosVersion: String? = nil, packages: [InstalledPackage] = []) {
        self.schemaVersion = schemaVersion; self.collectedAt = collectedAt; self.kernel = kernel; self.systemVendor = systemVendor
        self.productName = productName; self.biosVendor = biosVendor; self.biosVersion = biosVersion; self.packages = packages
    }

    /// A fingerprint of everything but the time (FNV-1a, 64 bits): the daemon sends the
    /// inventory again only when it changes (or once a day).
    public var fingerprint: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String?) {
            for b in (s ?? "\u{0}").utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
            hash = (hash ^ 0x1f) &* 0x100_0000_01b3
        }
        for s in [kernel, systemVendor, productName, biosVendor, biosVersion] { mix(s) }
        for p in packages { mix(p.name); mix(p.version); mix(p.architecture) }
        return String(hash, radix: 16)
    }
}

/// The answer to `POST /api/v1/inventory`.
public struct InventoryAck: Sendable, Codable, Equatable {
    /// Packages stored.
    public var packages: Int
    public init(packages: Int) { self.packages = packages }
}
