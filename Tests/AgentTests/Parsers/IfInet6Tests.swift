import Testing
@testable import Agent

@Test func ifInet6Addresses() {
    let e = IfInet6.parse("00000000000000000000000000000001 01 80 10 80       lo\nfe80000000000000a6c3f0fffe851e2b 03 40 20 80   wlp2s0\nbad\n")
    #expect(e == [IfInet6.Entry(interface: "lo", cidr: "::1/128"),
                  IfInet6.Entry(interface: "wlp2s0", cidr: "fe80::a6c3:f0ff:fe85:1e2b/64")])
}
