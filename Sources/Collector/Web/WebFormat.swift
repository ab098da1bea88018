import Foundation
import Shared

/// How pages write times, sizes and figures: UTC, short and the same everywhere.
enum WebFormat {
    /// `2026-12-01 14:03:07 UTC`; dates outside years 1–9999 are written as `—`.
    static func time(_ date: Date?) -> String {
        guard let date else { return "—" }
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, seconds > -62_135_596_800, seconds < 253_402_300_800 else { return "—" }
        var t = time_t(seconds.rounded(.down))
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return "—" }
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    /// A journal timestamp (µs since 1970) with milliseconds: `2026-12-01 14:03:07.123 UTC`.
    static func journalTime(_ microseconds: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(microseconds / 1_000_000))
        let base = time(date)
        guard base != "—" else { return base }
        let ms = (microseconds % 1_000_000 + 1_000_000) % 1_000_000 / 1000
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return base.replacingOccurrences(of: " UTC", with: ".\(msText) UTC")
    }

    /// How long ago, roughly: `40 s`, `12 min`, `5 h`, `3 d`.
    static func age(_ date: Date?, now: Date) -> String {
        guard let date else { return "—" }
        let s = now.timeIntervalSince(date)
        guard s.isFinite else { return "—" }
        if s < 0 { return "in the future" }
        if s < 90 { return "\(Int(s)) s" }
        if s < 90 * 60 { return "\(Int(s / 60)) min" }
        if s < 48 * 3600 { return "\(Int(s / 3600)) h" }
        return "\(min(Int(s / 86400), 99_999_999)) d"
    }

    /// A duration in seconds: `3 d 4 h`, `5 h 12 min`, `40 s`.
    static func duration(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite, seconds >= 0 else { return "—" }
        let s = Int(min(seconds, 1e12))
        if s >= 86400 { return "\(s / 86400) d \(s % 86400 / 3600) h" }
        if s >= 3600 { return "\(s / 3600) h \(s % 3600 / 60) min" }
        if s >= 60 { return "\(s / 60) min" }
        return "\(s) s"
    }

    /// Bytes in binary units: `512 B`, `3.4 MiB`, `1.2 TiB`.
    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: value < 10 ? "%.1f" : "%.0f", value) + " " + units[unit]
    }

    /// Bytes of a signed size.
    static func bytes(_ n: Int) -> String { bytes(UInt64(max(n, 0))) }

    /// A percentage with one decimal below 10: `97 %`, `4.5 %`; `—` for NaN or infinities.
    static func percent(_ value: Double) -> String {
        guard value.isFinite else { return "—" }
        let v = min(max(value, -1e9), 1e9)
        return abs(v) < 10 ? String(format: "%.1f %%", v) : String(format: "%.0f %%", v)
    }

    /// A figure clamped into a meter's 0–100 range.
    static func meter(_ value: Double) -> Double {
        guard value.isFinite else { return 0 }
        return min(max(value, 0), 100)
    }

    /// A journal priority's name.
    static func priority(_ p: Int?) -> String {
        switch p {
        case 0: "emerg"
        case 1: "alert"
        case 2: "crit"
        case 3: "err"
        case 4: "warning"
        case 5: "notice"
        case 6: "info"
        case 7: "debug"
        default: "—"
        }
    }

    /// Text a page shows from a bundle: control characters (but tab and newline) become
    /// U+FFFD-free visible escapes so a hostile line cannot fake layout; bounded in length.
    static func untrusted(_ text: String?, max: Int = 4096) -> String {
        guard let text else { return "" }
        var out = ""
        out.reserveCapacity(min(text.utf8.count, max))
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= max {
                out += "…"
                break
            }
            let v = scalar.value
            if v == 0x09 || v == 0x0A {
                out.unicodeScalars.append(scalar)
            } else if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) {
                // Control characters and bidirectional overrides are shown, not obeyed.
                out += "\\u{\(String(v, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
