import Testing
@testable import Agent

@Test func meminfoConvertsKilobytesAndKeepsCounts() {
    let text = """
    MemTotal:       16035748 kB
    Active(anon):    6521064 kB
    HugePages_Total:       0
    HugePages_Free:       12
    VmallocTotal:   34359738367 kB
    Garbage line
    Weird:          12 parsecs
    """
    let m = Meminfo.parse(text)
    #expect(m["MemTotal"] == 16_035_748 * 1024)
    #expect(m["Active(anon)"] == 6_521_064 * 1024)
    #expect(m["HugePages_Free"] == 12)
    #expect(m["VmallocTotal"] == 34_359_738_367 * 1024)
    #expect(m["Weird"] == nil)
    #expect(m.count == 5)
}

@Test func meminfoSaturatesInsteadOfOverflowing() {
    #expect(Meminfo.parse("Huge: 18446744073709551615 kB")["Huge"] == UInt64.max)
}
