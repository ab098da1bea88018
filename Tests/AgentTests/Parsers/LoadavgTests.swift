import Testing
@testable import Agent

@Test func loadavgParsesThreeAverages() {
    #expect(Loadavg.parse("2.14 1.71 1.25 3/1187 48213\n") == [2.14, 1.71, 1.25])
    #expect(Loadavg.parse("0.00 0.01") == nil)
    #expect(Loadavg.parse("a b c d e") == nil)
    #expect(Loadavg.parse("-1 0 0 1/1 1") == nil)
}
