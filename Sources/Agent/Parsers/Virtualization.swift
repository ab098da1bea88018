/// Hypervisor and container detection from what `/proc`, `/sys` and marker files show, in
/// the spirit of `systemd-detect-virt`, whose identifiers it uses (`kvm`, `qemu`, `vmware`,
/// `oracle` for VirtualBox, `microsoft` for Hyper-V, `xen`, `amazon`, `vm-other`).
enum Virtualization {
    /// The container runtime, or nil when not in a container. The explicit markers come
    /// first: `/run/systemd/container`, then `container=` in PID 1's environment, then the
    /// files runtimes drop (`/run/.containerenv` → podman, `/.dockerenv` → docker), then a
    /// WSL kernel.
    /// - Parameters:
    ///   - systemdContainer: text of `/run/systemd/container`.
    ///   - pid1Environ: text of `/proc/1/environ` (NUL-separated).
    ///   - containerenv: `/run/.containerenv` exists.
    ///   - dockerenv: `/.dockerenv` exists.
    ///   - kernelRelease: `/proc/sys/kernel/osrelease`.
    static func container(systemdContainer: String?, pid1Environ: String?, containerenv: Bool, dockerenv: Bool,
                          kernelRelease: String?) -> String? {
        if let s = systemdContainer?.trimmingWhitespace, !s.isEmpty { return String(s) }
        if let env = pid1Environ {
            for entry in env.split(separator: "\0") where entry.hasPrefix("container=") {
                let v = entry.dropFirst("container=".count)
                if !v.isEmpty { return String(v) }
            }
        }
        if containerenv { return "podman" }
        if dockerenv { return "docker" }
        if let r = kernelRelease?.lowercased(), r.contains("microsoft") || r.contains("wsl") { return "wsl" }
        return nil
    }

    /// The hypervisor, or `none`. DMI names the product when firmware exposes it; the CPU's
    /// `hypervisor` flag alone gives `vm-other`.
    /// - Parameters:
    ///   - sysVendor: `/sys/class/dmi/id/sys_vendor`.
    ///   - productName: `/sys/class/dmi/id/product_name`.
    ///   - hypervisorType: `/sys/hypervisor/type` (`xen`).
    ///   - cpuHypervisorFlag: `/proc/cpuinfo` lists the `hypervisor` flag.
    static func hypervisor(sysVendor: String?, productName: String?, hypervisorType: String?,
                           cpuHypervisorFlag: Bool) -> String {
        let vendor = sysVendor.map { String($0.trimmingWhitespace) } ?? ""
        let product = productName.map { String($0.trimmingWhitespace) } ?? ""
        // systemd checks the product before the vendor: KVM guests often say "QEMU" as vendor.
        let dmi: [(String, String)] = [
            ("KVM", "kvm"), ("OpenStack", "kvm"), ("Amazon EC2", "amazon"), ("QEMU", "qemu"),
            ("VMware", "vmware"), ("VMW", "vmware"), ("innotek GmbH", "oracle"), ("VirtualBox", "oracle"),
            ("Oracle Corporation", "oracle"), ("Xen", "xen"), ("Bochs", "bochs"), ("Parallels", "parallels"),
            ("BHYVE", "bhyve"), ("Apple Virtualization", "apple"), ("Google Compute Engine", "google"),
        ]
        for field in [product, vendor] where !field.isEmpty {
            for (prefix, id) in dmi where field.hasPrefix(prefix) { return id }
        }
        if vendor.hasPrefix("Microsoft Corporation") && product.hasPrefix("Virtual Machine") { return "microsoft" }
        if let t = hypervisorType?.trimmingWhitespace, t == "xen" { return "xen" }
        return cpuHypervisorFlag ? "vm-other" : "none"
    }
}
