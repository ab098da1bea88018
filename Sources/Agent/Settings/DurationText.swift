import Foundation

/// Durations as people type them: `90s`, `30m`, `2h`, `1d`, `1w`, `1h30m`, `500ms`; a bare
/// number is seconds. Whole numbers only; arithmetic is checked, so a huge value is reported
/// as too large instead of trapping or wrapping.
enum DurationText {
    /// What a text spells.
    enum Reading: Equatable {
        /// A duration (at most `Int64.max` milliseconds).
        case duration(Duration)
        /// Not a duration at all.
        case malformed
        /// Shaped like a duration, but larger than any the agent can hold.
        case tooLarge
    }

    /// The duration `text` spells, or nil when it is not one or is too large to hold.
    static func parse(_ text: String) -> Duration? {
        if case .duration(let d) = read(text) { return d }
        return nil
    }

    /// The duration `text` spells, if it lies in `range`.
    /// - Parameter name: the flag or setting, for the message.
    /// - Throws: `InputValueError` naming `name`, the text and the range.
    static func parse(_ text: String, for name: String, in range: ClosedRange<Duration>) throws(InputValueError) -> Duration {
        let allowed = "give \(format(range.lowerBound)) to \(format(range.upperBound))"
        switch read(text) {
        case .malformed:
            throw InputValueError(name: name, value: text, problem: "is not a duration; write e.g. 90s, 30m, 2h, 1d or 1h30m (\(allowed))")
        case .tooLarge:
            throw InputValueError(name: name, value: text, problem: "is too long; \(allowed)")
        case .duration(let d):
            return try InputValueError.checked(d, in: range, name: name, text: text, allowed: allowed, small: "is too short", large: "is too long")
        }
    }

    /// Reads `text`, keeping the total in whole milliseconds with overflow checks.
    static func read(_ text: String) -> Reading {
        let chars = Array(text.lowercased().trimmingCharacters(in: .whitespaces))
        guard !chars.isEmpty else { return .malformed }
        var totalMS: Int64 = 0
        var digits = ""
        var i = 0
        func add(_ digits: String, unitMS: Int64) -> Reading? {
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return .malformed }
            guard let n = Int64(digits) else { return .tooLarge }  // all digits: only too many of them
            let (ms, o1) = n.multipliedReportingOverflow(by: unitMS)
            let (sum, o2) = totalMS.addingReportingOverflow(ms)
            if o1 || o2 { return .tooLarge }
            totalMS = sum
            return nil
        }
        while i < chars.count {
            let c = chars[i]
            if c.isASCII && c.isNumber { digits.append(c); i += 1; continue }
            var unit = String(c)
            if c == "m", i + 1 < chars.count, chars[i + 1] == "s" { unit = "ms"; i += 1 }
            i += 1
            let unitMS: Int64
            switch unit {
            case "ms": unitMS = 1
            case "s": unitMS = 1000
            case "m": unitMS = 60_000
            case "h": unitMS = 3_600_000
            case "d": unitMS = 86_400_000
            case "w": unitMS = 604_800_000
            default: return .malformed
            }
            if let failure = add(digits, unitMS: unitMS) { return failure }
            digits = ""
        }
        if !digits.isEmpty, let failure = add(digits, unitMS: 1000) { return failure }  // a bare number means seconds
        return .duration(.milliseconds(totalMS))
    }

    /// `d` the way people write it, in its largest whole unit (weeks as days): `3650d`, `5s`, `10ms`.
    static func format(_ d: Duration) -> String {
        let (seconds, atto) = d.components
        if atto != 0 || seconds == 0 { return "\(seconds * 1000 + atto / 1_000_000_000_000_000)ms" }
        for (unit, size) in [("d", Int64(86_400)), ("h", 3600), ("m", 60)] where seconds % size == 0 {
            return "\(seconds / size)\(unit)"
        }
        return "\(seconds)s"
    }
}
