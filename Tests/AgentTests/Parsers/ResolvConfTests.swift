import Testing
@testable import Agent

@Test func resolvConfServersAndLastSearchWins() {
    let s = ResolvConf.parse("""
    # generated
    ; also a comment
    nameserver 127.0.0.53
    nameserver fe80::1%wlp2s0
    nameserver
    domain old.example
    search corp.example.com lab.example.com
    options edns0 trust-ad
    """)
    #expect(s.servers == ["127.0.0.53", "fe80::1%wlp2s0"])
    #expect(s.searchDomains == ["corp.example.com", "lab.example.com"])
    #expect(ResolvConf.parse("search a.example\ndomain b.example\n").searchDomains == ["b.example"])
    #expect(ResolvConf.parse("") == ResolvConf.Settings())
}
