/// `/proc/uptime`: `seconds-up seconds-idle-summed-over-cpus`.
enum Uptime {
    /// Seconds since boot, or nil when the text is not a number.
    static func parse(_ text: String) -> Double? {
        guard let first = text.split(whereSeparator: \.isWhitespace).first,
              let seconds = Double(first), seconds.isFinite, seconds >= 0 else { return nil }
        return seconds
    }
}
