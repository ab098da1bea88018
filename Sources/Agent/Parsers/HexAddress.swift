import Foundation

/// Addresses as `/proc/net` prints them in hex.
enum HexAddress {
    /// An IPv4 address printed by the kernel as a native-endian (little-endian on every
    /// architecture Helpline ships for) 32-bit hex number: `010200C0` → `192.0.2.1`.
    static func ipv4(littleEndianHex hex: some StringProtocol) -> String? {
        guard let v = ipv4Value(littleEndianHex: hex) else { return nil }
        return ipv4(networkOrder: v)
    }

    /// The address as a 32-bit value in host arithmetic order (`192.0.2.1` → 0xC0000201).
    static func ipv4Value(littleEndianHex hex: some StringProtocol) -> UInt32? {
        guard hex.count == 8, let raw = UInt32(hex, radix: 16) else { return nil }
        return raw.byteSwapped
    }

    /// Dotted quad of a value in host arithmetic order (0xC0000201 → `192.0.2.1`).
    static func ipv4(networkOrder v: UInt32) -> String {
        "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
    }

    /// Prefix length of a contiguous netmask in host arithmetic order; nil when not contiguous.
    static func prefixLength(mask: UInt32) -> Int? {
        let ones = (~mask).leadingZeroBitCount
        let expected: UInt32 = ones == 0 ? 0 : ~UInt32(0) << (32 - ones)
        return mask == expected ? ones : nil
    }

    /// An IPv6 address printed as 32 hex digits in network order, in RFC 5952 text
    /// (`fe800000000000000000000000000001` → `fe80::1`).
    static func ipv6(hex: some StringProtocol) -> String? {
        guard hex.count == 32 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        var i = hex.startIndex
        for k in 0..<16 {
            let j = hex.index(i, offsetBy: 2)
            guard let b = UInt8(hex[i..<j], radix: 16) else { return nil }
            bytes[k] = b
            i = j
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { src in
            inet_ntop(AF_INET6, src.baseAddress, &text, socklen_t(text.count)) != nil
        }
        guard ok else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
