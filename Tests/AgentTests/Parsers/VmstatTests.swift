import Testing
@testable import Agent

@Test func vmstatCounters() {
    let v = Vmstat.parse("nr_free_pages 153085\noom_kill 2\nbroken\nneg -1\n")
    #expect(v["oom_kill"] == 2)
    #expect(v["nr_free_pages"] == 153_085)
    #expect(v.count == 2)
}
