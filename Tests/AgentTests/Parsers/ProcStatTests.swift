import Testing
@testable import Agent

@Test func procStatBootTime() {
    #expect(ProcStat.parse("cpu  1 2 3 4\nbtime 1717400000\nprocesses 5\n").bootTime == 1_717_400_000)
    #expect(ProcStat.parse("cpu 1 2 3\n").bootTime == nil)
}
