/// `/proc/vmstat`: `name value` lines of kernel VM counters.
enum Vmstat {
    /// Every counter by name; lines that do not parse are skipped.
    static func parse(_ text: String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let f = line.split(whereSeparator: \.isWhitespace)
            guard f.count == 2, let v = UInt64(f[1]) else { continue }
            out[String(f[0])] = v
        }
        return out
    }
}
