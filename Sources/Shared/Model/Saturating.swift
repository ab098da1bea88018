import Foundation

/// Conversions from floating point that cannot trap.
///
/// `Int64(x)` traps when `x` is NaN, infinite or outside Int64's range, and values from a
/// query string, a bundle or a config file can be all three (a `since` in the year 300000
/// is 9.4e18 µs: past Int64). Every conversion of such a value goes through here.
public enum Saturating {
    /// `value` rounded toward zero and clamped to Int64's range; NaN is 0.
    public static func int64(_ value: Double) -> Int64 {
        guard !value.isNaN else { return 0 }
        // 2^63 is exactly representable; anything at or past it saturates.
        if value >= 9_223_372_036_854_775_808.0 { return .max }
        if value <= -9_223_372_036_854_775_808.0 { return .min }
        return Int64(value)
    }

    /// `value` rounded toward zero and clamped to Int's range; NaN is 0.
    public static func int(_ value: Double) -> Int {
        Int(int64(value))
    }

    /// Microseconds since 1970 (the journal's `realtime` unit), clamped to Int64's range.
    public static func microseconds(since1970 date: Date) -> Int64 {
        int64(date.timeIntervalSince1970 * 1_000_000)
    }

    /// A whole-number percentage for titles (`97`), rounded as `rule` says; values that are
    /// not finite, or absurd (over 10^9), are shown as they are rather than trapping.
    public static func percentText(_ value: Double, rule: FloatingPointRoundingRule = .toNearestOrAwayFromZero) -> String {
        guard value.isFinite, abs(value) < 1e9 else { return String(describing: value) }
        return String(Int(value.rounded(rule)))
    }
}
