import Testing
@testable import Agent

@Test func hexAddressIPv4LittleEndian() {
    #expect(HexAddress.ipv4(littleEndianHex: "0101A8C0") == "192.168.1.1")
    #expect(HexAddress.ipv4(littleEndianHex: "00000000") == "0.0.0.0")
    #expect(HexAddress.ipv4(littleEndianHex: "0101A8") == nil)
    #expect(HexAddress.ipv4(littleEndianHex: "ZZZZZZZZ") == nil)
}

@Test func hexAddressPrefixLengths() {
    #expect(HexAddress.prefixLength(mask: 0xFFFF_FF00) == 24)
    #expect(HexAddress.prefixLength(mask: 0) == 0)
    #expect(HexAddress.prefixLength(mask: 0xFFFF_FFFF) == 32)
    #expect(HexAddress.prefixLength(mask: 0xFF00_FF00) == nil)
}

@Test func hexAddressIPv6Compressed() {
    #expect(HexAddress.ipv6(hex: "fe800000000000000000000000000001") == "fe80::1")
    #expect(HexAddress.ipv6(hex: "00000000000000000000000000000000") == "::")
    #expect(HexAddress.ipv6(hex: "20010db8123456780a1b2c3d4e5f6071") == "2001:db8:1234:5678:a1b:2c3d:4e5f:6071")
    #expect(HexAddress.ipv6(hex: "fe80") == nil)
}
