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
