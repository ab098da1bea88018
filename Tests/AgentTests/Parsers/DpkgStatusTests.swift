import Foundation
import Testing
@testable import Agent
@testable import Shared

@Test func dpkgStatusKeepsOnlyInstalledPackages() throws {
    let text = try String(contentsOfFile: fixturePath("sysroot-laptop") + "/var/lib/dpkg/status", encoding: .utf8)
    let packages = DpkgStatus.parse(text)
    // Removed-but-configured, half-installed and a "Package:" inside a description are not packages.
    #expect(packages == [
        InstalledPackage(name: "adduser", version: "3.134", architecture: "all"),
        InstalledPackage(name: "firefox-esr", version: "115.5.0esr-1~deb12u1", architecture: "amd64"),
        InstalledPackage(name: "openssl", version: "3.0.11-1~deb12u2", architecture: "amd64"),
    ])
    #expect(DpkgStatus.parse("").isEmpty)
    #expect(DpkgStatus.parse("Package: x\r\nStatus: install ok installed\r\nVersion: 1\r\n").map(\.name) == ["x"], "CRLF and no final blank line")
    #expect(DpkgStatus.parse("Package: nov\nStatus: install ok installed\n\n").isEmpty, "no version, no package")
}

@Test func inventoryReadsPackagesKernelAndFirmwareAndFingerprintsChanges() {
    let inventory = InventoryReader.read(sysroot: fixturePath("sysroot-laptop"), now: Date(timeIntervalSince1970: 1_790_000_000))
    #expect(inventory.packages.map(\.name) == ["adduser", "firefox-esr", "openssl"])
    #expect(inventory.systemVendor == "LENOVO" && inventory.productName == "21AHCTO1WW" && inventory.biosVersion == "N3MET18W (1.17 )")
    #expect(inventory.kernel?.isEmpty == false)
    var later = inventory
    later.collectedAt = Date()
    #expect(later.fingerprint == inventory.fingerprint, "the time is not part of the fingerprint")
    later.packages[2].version = "3.0.13-1~deb12u1"
    #expect(later.fingerprint != inventory.fingerprint, "an upgrade is a change")
    let empty = InventoryReader.read(sysroot: "/nonexistent-sysroot")
    #expect(empty.packages.isEmpty && empty.productName == nil)
}
