import Testing
@testable import Agent

@Test func uptimeIsTheFirstNumber() {
    #expect(Uptime.parse("93784.12 310245.88\n") == 93784.12)
    #expect(Uptime.parse("") == nil)
    #expect(Uptime.parse("nan 1") == nil)
}
