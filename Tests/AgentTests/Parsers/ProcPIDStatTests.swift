import Testing
@testable import Agent

@Test func procPIDStatTakesCommUpToLastParenthesis() throws {
    let line = "3345 (my (weird) proc) S 1523 3345 3345 0 -1 4194560 1234 0 12 0 120 45 0 0 20 0 2 0 120034 26554368 2161 18446744073709551615 1 2 3 0 0 0 0 4096 134301435 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    let s = try #require(ProcPIDStat.parse(line))
    #expect(s.pid == 3345)
    #expect(s.comm == "my (weird) proc")
    #expect(s.state == "S")
    #expect(s.ppid == 1523)
    #expect(s.utime == 120)
    #expect(s.stime == 45)
    #expect(s.cpuTicks == 165)
    #expect(s.threads == 2)
    #expect(s.startTicks == 120_034)
    #expect(s.rssPages == 2161)
}

@Test func procPIDStatHostileNames() throws {
    // A name that itself looks like ") Z (" must not shift the fields.
    let line = "77 (a) Z (b) R 1 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 99 0 0 0"
    let s = try #require(ProcPIDStat.parse(line))
    #expect(s.comm == "a) Z (b")
    #expect(s.state == "R")
    #expect(s.utime == 5)
    #expect(ProcPIDStat.parse("12 (truncated) S 1 2") == nil)
    #expect(ProcPIDStat.parse("") == nil)
    #expect(ProcPIDStat.parse("x (y) S 1 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 99 0 0 0") == nil)
}
