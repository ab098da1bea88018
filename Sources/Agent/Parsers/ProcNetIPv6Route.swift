import Shared

/// `/proc/net/ipv6_route`: `dest plen src splen nexthop metric refcnt use flags iface`,
/// addresses as 32 hex digits, numbers in hex.
enum ProcNetIPv6Route {
    private static let up: UInt32 = 0x0000_0001          // RTF_UP
    private static let reject: UInt32 = 0x0000_0200      // RTF_REJECT
    private static let cache: UInt32 = 0x0100_0000       // RTF_CACHE
    private static let local: UInt32 = 0x8000_0000       // RTF_LOCAL

    /// The routes `ip -6 route` shows: up, not rejecting, not cached, not the local table's
    /// own-address entries, not multicast (`ff00::/8`) and not the per-link `fe80::/64`.
    static func parse(_ text: String) -> [NetworkRoute] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let f = line.split(whereSeparator: \.isWhitespace)
            guard f.count >= 10, let dest = HexAddress.ipv6(hex: f[0]), let plen = Int(f[1], radix: 16),
                  let hop = HexAddress.ipv6(hex: f[4]), let metric = UInt32(f[5], radix: 16),
                  let flags = UInt32(f[8], radix: 16) else { return nil }
            guard flags & up != 0, flags & (reject | cache | local) == 0,
                  !f[0].hasPrefix("ff"), !(f[0].hasPrefix("fe80") && plen == 64) else { return nil }
            return NetworkRoute(destination: plen == 0 && dest == "::" ? "default" : "\(dest)/\(plen)",
                                gateway: hop == "::" ? nil : hop, interface: String(f[9]), metric: Int(metric))
        }
    }
}
