/// `/proc/net/fib_trie`: the kernel's IPv4 FIB as an indented tree. The machine's own
/// addresses are the leaves followed by a `/32 host LOCAL` line.
enum FibTrie {
    /// The machine's own IPv4 addresses (host arithmetic order), each once, in file order.
    static func localAddresses(_ text: String) -> [UInt32] {
        var out: [UInt32] = []
        var seen = Set<UInt32>()
        var leaf: UInt32?
        for line in text.split(whereSeparator: \.isNewline) {
            let t = line.trimmingWhitespace
            if t.hasPrefix("|-- ") {
                leaf = dotted(t.dropFirst(4))
            } else if t.hasPrefix("/32 host LOCAL"), let a = leaf, !seen.contains(a) {
                seen.insert(a)
                out.append(a)
            } else if !t.hasPrefix("/") {
                leaf = nil
            }
        }
        return out
    }

    /// Pairs each local address with the interface whose directly connected IPv4 route
    /// (`/proc/net/route`, no gateway) holds it, longest prefix first, giving `addr/len`.
    /// 127.0.0.0/8 addresses belong to `lo`. Addresses no route explains are left out.
    static func assign(_ addresses: [UInt32], routes: [ProcNetRoute.Entry]) -> [(interface: String, cidr: String)] {
        addresses.compactMap { a in
            if a >> 24 == 127 { return ("lo", HexAddress.ipv4(networkOrder: a) + "/8") }
            let match = routes
                .filter { !$0.viaGateway && $0.mask != 0 && a & $0.mask == $0.destination }
                .max { $0.mask.nonzeroBitCount < $1.mask.nonzeroBitCount }
            guard let m = match, let len = HexAddress.prefixLength(mask: m.mask) else { return nil }
            return (m.interface, HexAddress.ipv4(networkOrder: a) + "/\(len)")
        }
    }

    private static func dotted(_ s: Substring) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard let o = UInt8(p) else { return nil }
            v = v << 8 | UInt32(o)
        }
        return v
    }
}
