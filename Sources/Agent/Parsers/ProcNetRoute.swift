import Shared

/// `/proc/net/route`: the IPv4 main routing table, a header line then
/// `Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT` in hex.
enum ProcNetRoute {
    /// One IPv4 route with its raw values, for matching addresses to interfaces.
    struct Entry: Sendable, Equatable {
        /// Outgoing interface.
        var interface: String
        /// Destination in host arithmetic order.
        var destination: UInt32
        /// Next hop in host arithmetic order, 0 when directly connected.
        var gateway: UInt32
        /// `RTF_*` flags.
        var flags: UInt32
        /// Route metric (lower is preferred).
        var metric: Int
        /// Netmask in host arithmetic order.
        var mask: UInt32

        /// `RTF_GATEWAY`: traffic goes through `gateway`.
        var viaGateway: Bool { flags & 0x2 != 0 }

        /// The route as a bundle record (`default` for 0.0.0.0/0).
        var record: NetworkRoute {
            let dest: String
            if destination == 0 && mask == 0 {
                dest = "default"
            } else {
                let len = HexAddress.prefixLength(mask: mask).map(String.init) ?? HexAddress.ipv4(networkOrder: mask)
                dest = HexAddress.ipv4(networkOrder: destination) + "/" + len
            }
            return NetworkRoute(destination: dest, gateway: gateway == 0 ? nil : HexAddress.ipv4(networkOrder: gateway),
                                interface: interface, metric: metric)
        }
    }

    /// Every well-formed route line; the header and malformed lines are skipped.
    static func parse(_ text: String) -> [Entry] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let f = line.split(whereSeparator: \.isWhitespace)
            guard f.count >= 8, f[0] != "Iface",
                  let dest = HexAddress.ipv4Value(littleEndianHex: f[1]),
                  let gw = HexAddress.ipv4Value(littleEndianHex: f[2]),
                  let flags = UInt32(f[3], radix: 16), let metric = Int(f[6]),
                  let mask = HexAddress.ipv4Value(littleEndianHex: f[7]) else { return nil }
            return Entry(interface: String(f[0]), destination: dest, gateway: gw, flags: flags, metric: metric, mask: mask)
        }
    }
}
