import Foundation
import GRDB
import Shared
import Testing

/// The hand-written timestamps of the heartbeat route against what they stand in for:
/// GRDB's stored `Date` text and `JSONEncoder`'s ISO 8601 date, byte for byte.
@Suite struct UTCTimestampTests {
    /// Edges of the range, of months, leap days, and of millisecond rounding.
    static let edges: [Double] = [
        0, 0.0005, 0.001, 0.999, 0.9995, 0.9999999, 59.999, 86_399.999, 86_400,
        951_782_400,          // 2000-02-29
        951_868_799.999,      // 2000-02-29T23:59:59.999
        4_107_542_400,        // 2100-03-01 (2100 is not a leap year)
        1_764_633_600.123,    // 2025-12-02T00:00:00.123
        1_798_761_599.9999,   // 2026-12-31T23:59:59.9999
        253_402_300_799,      // 9999-12-31T23:59:59
        253_402_300_799.998,
    ]

    @Test func sqliteTextIsGRDBs() throws {
        var generator = SystemRandomNumberGenerator()
        var samples = Self.edges
        for _ in 0..<20_000 { samples.append(Double.random(in: 0..<253_402_300_800, using: &generator)) }
        for _ in 0..<5_000 { samples.append(Double.random(in: 1_700_000_000..<1_900_000_000, using: &generator)) }
        for t in samples {
            let date = Date(timeIntervalSince1970: t)
            let fast = try #require(UTCTimestamp(date), "\(t) is in range")
            #expect(fast.sqlite.databaseValue == date.databaseValue, "\(t)")
        }
    }

    @Test func ackIsJSONEncoders() throws {
        var samples = Self.edges
        for _ in 0..<5_000 { samples.append(Double.random(in: 0..<253_402_300_799)) }
        let ids = ["6f1c3e0a-9d2b-4c57-8a41-0e4b5c2d7f90", "", "quote\"back\\slash/ctl\u{01}\u{1F}\t\n\r\u{08}\u{0C}", "é ünïcode 🚀", "\u{7F}"]
        for (n, t) in samples.enumerated() {
            let ack = HeartbeatAck(hostID: ids[n % ids.count], receivedAt: Date(timeIntervalSince1970: t))
            let fast = try #require(ack.fastJSON)
            let foundation = Array(try BundleJSON.encoder().encode(ack))
            #expect(fast == foundation, "\(t): \(String(decoding: fast, as: UTF8.self)) vs \(String(decoding: foundation, as: UTF8.self))")
        }
    }

    @Test func outsideTheRangeFoundationDecides() {
        for t in [-0.001, -86_400, 253_402_300_799.999, -62_135_596_800, 253_402_300_800, 1e15, .infinity, -.infinity, .nan, .greatestFiniteMagnitude] {
            #expect(UTCTimestamp(Date(timeIntervalSince1970: t)) == nil, "\(t)")
            #expect(HeartbeatAck(hostID: "h", receivedAt: Date(timeIntervalSince1970: t)).fastJSON == nil, "\(t)")
        }
    }
}
