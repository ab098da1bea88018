/// `/proc/net/if_inet6`: `address ifindex prefixlen scope flags name`, hex fields.
enum IfInet6 {
    /// One IPv6 address of an interface.
    struct Entry: Sendable, Equatable {
        /// Interface name (`wlp2s0`).
        var interface: String
        /// CIDR, e.g. `fe80::1/64`.
        var cidr: String
    }

    /// Every well-formed line.
    static func parse(_ text: String) -> [Entry] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let f = line.split(whereSeparator: \.isWhitespace)
            guard f.count >= 6, let addr = HexAddress.ipv6(hex: f[0]), let plen = Int(f[2], radix: 16) else { return nil }
            return Entry(interface: String(f[5]), cidr: "\(addr)/\(plen)")
        }
    }
}
