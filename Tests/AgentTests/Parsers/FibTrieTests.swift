import Testing
@testable import Agent

@Test func fibTrieLocalAddressesAssignedByRoutes() throws {
    let trie = """
    Main:
      +-- 0.0.0.0/0 3 0 5
         |-- 0.0.0.0
            /0 universe UNICAST
         +-- 127.0.0.0/8 2 0 2
            +-- 127.0.0.0/31 1 0 0
               |-- 127.0.0.0
                  /8 host LOCAL
               |-- 127.0.0.1
                  /32 host LOCAL
            |-- 127.255.255.255
               /32 link BROADCAST
         +-- 10.8.0.0/16 2 0 2
            |-- 10.8.3.7
               /32 host LOCAL
         |-- 192.0.2.2
            /32 host LOCAL
         |-- 198.51.100.9
            /32 host LOCAL
    Local:
         |-- 192.0.2.2
            /32 host LOCAL
    """
    let local = FibTrie.localAddresses(trie)
    #expect(local.map(HexAddress.ipv4(networkOrder:)) == ["127.0.0.1", "10.8.3.7", "192.0.2.2", "198.51.100.9"])
    let routes = ProcNetRoute.parse("""
    Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
    tun0\t0000080A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
    tun0\t0003080A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
    """)
    let assigned = FibTrie.assign(local, routes: routes)
    #expect(assigned.map(\.interface) == ["lo", "tun0", "eth0"])
    // Longest prefix wins; the address no connected route explains is left out.
    #expect(assigned.map(\.cidr) == ["127.0.0.1/8", "10.8.3.7/24", "192.0.2.2/24"])
}
