import Foundation
import Shared
import Testing
@testable import Agent

@Test func networkProbeOnLaptopFixture() throws {
    let out = try NetworkProbe().collect(fixtureContext(fixturePath("sysroot-laptop")))
    #expect(out.status == .ok)
    let n = try decode(NetworkInfo.self, out)
    #expect(n.interfaces == [
        NetworkInterface(name: "enp0s31f6", state: "down", mac: "8c:16:45:3a:9d:e1", mtu: 1500, addresses: []),
        NetworkInterface(name: "lo", state: "unknown", mac: nil, mtu: 65536, addresses: ["127.0.0.1/8", "::1/128"]),
        NetworkInterface(name: "wlp2s0", state: "up", mac: "a4:c3:f0:85:1e:2b", mtu: 1500,
                         addresses: ["192.168.1.42/24", "2001:db8:1234:5678:a1b:2c3d:4e5f:6071/64",
                                     "fe80::a6c3:f0ff:fe85:1e2b/64"]),
    ])
    #expect(n.routes == [
        NetworkRoute(destination: "default", gateway: "192.168.1.1", interface: "wlp2s0", metric: 600),
        NetworkRoute(destination: "192.168.1.0/24", gateway: nil, interface: "wlp2s0", metric: 600),
        NetworkRoute(destination: "2001:db8:1234:5678::/64", gateway: nil, interface: "wlp2s0", metric: 600),
        NetworkRoute(destination: "default", gateway: "fe80::1", interface: "wlp2s0", metric: 600),
    ])
    #expect(n.dns == [
        DNSConfig(servers: ["127.0.0.53"], searchDomains: ["corp.example.com"], source: "/etc/resolv.conf"),
        DNSConfig(servers: ["192.168.1.1", "2001:db8:1234:5678::1"], searchDomains: ["corp.example.com", "home.arpa"],
                  source: "systemd-resolved"),
    ])
}

@Test func networkProbeUnreadableRouteIsPartial() throws {
    let tree = try FixtureCopy("sysroot-laptop")
    defer { tree.cleanup() }
    try tree.makeUnreadable("/proc/net/route")
    try tree.remove("/run/systemd/resolve")
    let out = try NetworkProbe().collect(fixtureContext(tree.root))
    #expect(out.status == .partial)
    #expect(out.unreadable == ["/proc/net/route"])
    let n = try decode(NetworkInfo.self, out)
    // Without the IPv4 routes, the IPv4 address cannot be placed on an interface.
    #expect(n.interfaces.first { $0.name == "wlp2s0" }?.addresses.contains("192.168.1.42/24") == false)
    #expect(n.routes.count == 2)
    #expect(n.dns.map(\.source) == ["/etc/resolv.conf"])
}

@Test func networkProbeOnLiveSystem() throws {
    let n = try decode(NetworkInfo.self, NetworkProbe().collect(liveContext()))
    let lo = try #require(n.interfaces.first { $0.name == "lo" })
    #expect(lo.addresses.contains("127.0.0.1/8"))
    #expect(lo.mtu == 65536)
}
