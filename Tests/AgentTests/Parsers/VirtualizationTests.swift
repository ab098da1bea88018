import Testing
@testable import Agent

@Test func virtualizationHypervisorFromDMI() {
    #expect(Virtualization.hypervisor(sysVendor: "QEMU\n", productName: "Standard PC (Q35 + ICH9, 2009)\n", hypervisorType: nil, cpuHypervisorFlag: true) == "qemu")
    #expect(Virtualization.hypervisor(sysVendor: "QEMU", productName: "KVM Virtual Machine", hypervisorType: nil, cpuHypervisorFlag: true) == "kvm")
    #expect(Virtualization.hypervisor(sysVendor: "VMware, Inc.", productName: "VMware7,1", hypervisorType: nil, cpuHypervisorFlag: true) == "vmware")
    #expect(Virtualization.hypervisor(sysVendor: "innotek GmbH", productName: "VirtualBox", hypervisorType: nil, cpuHypervisorFlag: true) == "oracle")
    #expect(Virtualization.hypervisor(sysVendor: "Microsoft Corporation", productName: "Virtual Machine", hypervisorType: nil, cpuHypervisorFlag: true) == "microsoft")
    #expect(Virtualization.hypervisor(sysVendor: "Microsoft Corporation", productName: "Surface Laptop 5", hypervisorType: nil, cpuHypervisorFlag: false) == "none")
    #expect(Virtualization.hypervisor(sysVendor: nil, productName: nil, hypervisorType: "xen\n", cpuHypervisorFlag: true) == "xen")
    #expect(Virtualization.hypervisor(sysVendor: nil, productName: nil, hypervisorType: nil, cpuHypervisorFlag: true) == "vm-other")
    #expect(Virtualization.hypervisor(sysVendor: "LENOVO", productName: "20W000T9US", hypervisorType: nil, cpuHypervisorFlag: false) == "none")
}

@Test func virtualizationContainerMarkers() {
    #expect(Virtualization.container(systemdContainer: "systemd-nspawn\n", pid1Environ: "container=lxc\0", containerenv: true, dockerenv: true, kernelRelease: nil) == "systemd-nspawn")
    #expect(Virtualization.container(systemdContainer: nil, pid1Environ: "PATH=/bin\0container=podman\0", containerenv: false, dockerenv: false, kernelRelease: nil) == "podman")
    #expect(Virtualization.container(systemdContainer: nil, pid1Environ: nil, containerenv: true, dockerenv: false, kernelRelease: nil) == "podman")
    #expect(Virtualization.container(systemdContainer: nil, pid1Environ: "container=\0", containerenv: false, dockerenv: true, kernelRelease: nil) == "docker")
    #expect(Virtualization.container(systemdContainer: nil, pid1Environ: nil, containerenv: false, dockerenv: false, kernelRelease: "5.15.153.1-microsoft-standard-WSL2") == "wsl")
    #expect(Virtualization.container(systemdContainer: "", pid1Environ: "HOME=/\0", containerenv: false, dockerenv: false, kernelRelease: "6.1.0-18-amd64") == nil)
}
