/// A number a person typed (a flag, a config setting, a socket request) that is not a number
/// of the right kind or lies outside the range the agent accepts.
///
/// Flags turn it into a `ValidationError`, the config file into an `AgentConfigError` with
/// file and line; the text is the same: what was given, for what, and what to give instead.
struct InputValueError: Error, CustomStringConvertible, Equatable {
    /// The flag or setting, as the person wrote it: `--since`, `spool_max_bytes`.
    var name: String
    /// The text given.
    var value: String
    /// What is wrong and what to give instead.
    var problem: String

    var description: String { "\(name) '\(value)' \(problem)" }
}

extension InputValueError {
    /// `value` when it lies in `range`; otherwise the error saying it is too small or too
    /// large (in the input's own words, e.g. "too short" for durations) and what is `allowed`.
    static func checked<T: Comparable>(_ value: T, in range: ClosedRange<T>, name: String, text: String, allowed: String,
                                       small: String = "is too small", large: String = "is too large") throws(InputValueError) -> T {
        guard value >= range.lowerBound else { throw InputValueError(name: name, value: text, problem: "\(small); \(allowed)") }
        guard value <= range.upperBound else { throw InputValueError(name: name, value: text, problem: "\(large); \(allowed)") }
        return value
    }
}
