import Testing
@testable import Agent

@Test func procPIDStatusUserThreadsRSS() {
    let s = ProcPIDStatus.parse("Name:\tfirefox\nUid:\t1000\t1000\t1000\t1000\nVmRSS:\t 1843212 kB\nThreads:\t112\n")
    #expect(s == ProcPIDStatus(uid: 1000, rssBytes: 1_843_212 * 1024, threads: 112))
}

@Test func procPIDStatusKernelThreadHasNoRSS() {
    let s = ProcPIDStatus.parse("Name:\tkthreadd\nState:\tS (sleeping)\nUid:\t0\t0\t0\t0\nThreads:\t1\n")
    #expect(s.uid == 0)
    #expect(s.rssBytes == nil)
}
