import Testing
@testable import Agent

@Test func cpuInfoCountsProcessorsAndFindsHypervisor() {
    let text = """
    processor\t: 0
    model name\t: Intel(R) Xeon(R) Processor
    flags\t\t: fpu vme hypervisor lahf_lm

    processor\t: 1
    model name\t: Intel(R) Xeon(R) Processor
    flags\t\t: fpu vme hypervisor lahf_lm

    """
    let c = CPUInfo.parse(text)
    #expect(c == CPUInfo(model: "Intel(R) Xeon(R) Processor", count: 2, hypervisorFlag: true))
}

@Test func cpuInfoArmHasNoModelName() {
    let text = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd\nCPU part\t: 0xd08\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
    let c = CPUInfo.parse(text)
    #expect(c.count == 1)
    #expect(c.model == "BCM2835")
    #expect(!c.hypervisorFlag)
    // "hypervisor" must be a whole flag, not a substring of another.
    #expect(!CPUInfo.parse("flags : nothypervisor\n").hypervisorFlag)
}
