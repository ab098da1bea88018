import Foundation

/// A `Date` as UTC calendar fields, and the two timestamp texts the collector writes on its
/// hottest paths, without a `DateFormatter` or `JSONEncoder` (ICU's formatter was a few
/// percent of the CPU of every heartbeat).
///
/// Only 1970-01-01 through 9999-12-31 is handled (where the proleptic Gregorian calendar,
/// ICU's and Foundation's agree and years have four digits); every function answers nil
/// outside it, and callers then use Foundation as before. Tested side by side with the
/// formatters they stand in for.
public struct UTCTimestamp: Sendable, Equatable {
    public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
    /// Milliseconds (the whole time is rounded to the nearest millisecond first, so
    /// 00:00:00.9996 is 00:00:01.000).
    public var millisecond: Int

    /// How a time between two milliseconds becomes one.
    public enum Rounding: Sendable {
        /// To the nearest millisecond, as `DateFormatter` (and so GRDB) does.
        case nearestMillisecond
        /// Down, as `JSONEncoder`'s `.iso8601` does with the seconds it writes.
        case down
    }

    /// The fields of `date`, or nil outside 1970–9999 (or not finite).
    public init?(_ date: Date, rounding: Rounding = .nearestMillisecond) {
        let t = date.timeIntervalSince1970
        // 253402300800 is 10000-01-01T00:00:00Z; the last half millisecond would round into it.
        guard t.isFinite, t >= 0, t < 253_402_300_799.999 else { return nil }
        let totalMilliseconds = Int(rounding == .down ? (t * 1000).rounded(.down) : (t * 1000).rounded())
        let seconds = totalMilliseconds / 1000
        millisecond = totalMilliseconds % 1000
        let days = seconds / 86_400
        let inDay = seconds % 86_400
        hour = inDay / 3600
        minute = inDay % 3600 / 60
        second = inDay % 60
        // Hinnant's civil_from_days.
        let z = days + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, as `JSONEncoder`'s `.iso8601` writes it.
    public var iso8601: String {
        var out = dateAndTime(separator: 0x54, capacity: 20)
        out.append(0x5A)
        return String(decoding: out, as: UTF8.self)
    }

    /// `YYYY-MM-DD HH:MM:SS.SSS`, as GRDB stores a `Date` in SQLite.
    public var sqlite: String {
        var out = dateAndTime(separator: 0x20, capacity: 23)
        out.append(0x2E); digits(millisecond, 3, &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `YYYY-MM-DD` `separator` `HH:MM:SS`.
    private func dateAndTime(separator: UInt8, capacity: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(capacity)
        digits(year, 4, &out); out.append(0x2D); digits(month, 2, &out); out.append(0x2D); digits(day, 2, &out)
        out.append(separator)
        digits(hour, 2, &out); out.append(0x3A); digits(minute, 2, &out); out.append(0x3A); digits(second, 2, &out)
        return out
    }

    private func digits(_ value: Int, _ width: Int, _ out: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var v = value
        while divisor > 0 {
            out.append(0x30 + UInt8(v / divisor))
            v %= divisor
            divisor /= 10
        }
    }
}

extension HeartbeatAck {
    /// The acknowledgement as `BundleJSON.encoder()` writes it (sorted keys, ISO 8601 date),
    /// built by hand for the heartbeat route; nil when the date is outside `UTCTimestamp`'s
    /// range (encode with `BundleJSON.encoder()` then).
    public var fastJSON: [UInt8]? {
        guard let at = UTCTimestamp(receivedAt, rounding: .down) else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(hostID.utf8.count + 48)
        out.append(contentsOf: #"{"hostID":"#.utf8)
        JSONText.appendQuoted(hostID, to: &out)
        out.append(contentsOf: #","receivedAt":""#.utf8)
        out.append(contentsOf: at.iso8601.utf8)
        out.append(contentsOf: #""}"#.utf8)
        return out
    }
}

/// JSON string literals as Foundation's `JSONEncoder` writes them with
/// `.withoutEscapingSlashes`.
public enum JSONText {
    /// Appends `text` quoted and escaped.
    public static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        out.append(0x22)
        for b in text.utf8 {
            switch b {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, 0x62])
            case 0x0C: out.append(contentsOf: [0x5C, 0x66])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
            default: out.append(b)
            }
        }
        out.append(0x22)
    }
}
