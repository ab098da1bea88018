import Foundation

/// A time of day in the machine's local time zone as `HH:MM:SS`, through the C library.
///
/// For the daemon's own status lines: `Date.formatted` goes through ICU's locale data, and
/// touching it once kept ~3 MB more resident in the idle daemon (BENCHMARKS.md, "Agent
/// daemon at rest, small"). A status line read by a technician needs no locale.
enum ClockTime {
    /// `date` as local `HH:MM:SS` (24-hour), or `--:--:--` if the C library cannot convert it.
    static func local(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return "--:--:--" }
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }
}
