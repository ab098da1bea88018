import Shared

/// `/proc/pressure/{cpu,memory,io}` (PSI):
/// `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` and a `full` line.
enum Pressure {
    /// The `some` and `full` lines; a line that does not parse is left nil. Returns nil when
    /// neither parses.
    static func parse(_ text: String) -> PressureStall? {
        var stall = PressureStall()
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ")
            guard let kind = fields.first else { continue }
            var values: [Substring: Substring] = [:]
            for field in fields.dropFirst() {
                let pair = field.split(separator: "=", maxSplits: 1)
                if pair.count == 2 { values[pair[0]] = pair[1] }
            }
            guard let a10 = values["avg10"].flatMap({ Double($0) }),
                  let a60 = values["avg60"].flatMap({ Double($0) }),
                  let a300 = values["avg300"].flatMap({ Double($0) }),
                  let total = values["total"].flatMap({ UInt64($0) }) else { continue }
            let parsed = PressureStall.Line(avg10: a10, avg60: a60, avg300: a300, totalMicroseconds: total)
            switch kind {
            case "some": stall.some = parsed
            case "full": stall.full = parsed
            default: continue
            }
        }
        return stall.some == nil && stall.full == nil ? nil : stall
    }
}
