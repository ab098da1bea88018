import Testing
@testable import Agent

@Test func registryOrder() {
    #expect(ProbeRegistry.all.map(\.name) == ["system", "memory", "disks", "processes", "units", "network"])
    #expect(ProbeRegistry.all.allSatisfy { !$0.summary.isEmpty })
}
