/// `/proc/loadavg`: `0.52 0.58 0.59 2/1024 12345`.
enum Loadavg {
    /// The 1, 5 and 15 minute load averages, or nil when the text is not in that shape.
    static func parse(_ text: String) -> [Double]? {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count >= 3 else { return nil }
        let values = fields.prefix(3).compactMap { Double($0) }
        guard values.count == 3, values.allSatisfy({ $0 >= 0 && $0.isFinite }) else { return nil }
        return values
    }
}
