import Foundation
/// `/proc/meminfo`: `Key:   value kB` lines, some without a unit (`HugePages_Total`).
enum Meminfo {
    /// Every line as key → bytes (`kB` is KiB, as the kernel means it); unit-less lines
    /// keep their plain count. Lines that do not parse are skipped.
    static func parse(_ text: String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.lastIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let rest = line[line.index(after: colon)...].split(whereSeparator: \.isWhitespace)
            guard !key.isEmpty, let first = rest.first, let number = UInt64(first) else { continue }
            if rest.count >= 2 {
                guard let multiplier = unit(rest[1]) else { continue }
                let (bytes, overflow) = number.multipliedReportingOverflow(by: multiplier)
                out[key] = overflow ? UInt64.max : bytes
            } else {
                out[key] = number
            }
        }
        return out
    }

    private static func unit(_ s: Substring) -> UInt64? {
        switch s.lowercased() {
        case "b": 1
        case "kb": 1024
        case "mb": 1024 * 1024
        case "gb": 1024 * 1024 * 1024
        default: nil
        }
    }
}
