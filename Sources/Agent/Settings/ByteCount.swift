import Foundation

/// Sizes as people write them: `512MB`, `1GiB`, `64M`, `4096`. `KB`/`MB`/`GB`/`TB` are powers
/// of 1000; `KiB`…`TiB` and the bare `K`/`M`/`G`/`T` are powers of 1024. Whole numbers
/// only; the multiplication is checked.
enum ByteCount {
    /// Longest suffix first, so `GIB` is not read as `B`.
    private static let units: [(String, Int)] = [
        ("TIB", 1 << 40), ("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10),
        ("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000),
        ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1),
    ]

    /// The byte count `text` spells, or nil when it is not a size or does not fit an `Int`.
    static func parse(_ text: String) -> Int? {
        if case .count(let n) = read(text) { return n }
        return nil
    }

    /// The byte count `text` spells, if it lies in `range`.
    /// - Throws: `InputValueError` naming `name`, the text and the range.
    static func parse(_ text: String, for name: String, in range: ClosedRange<Int>) throws(InputValueError) -> Int {
        let allowed = "give \(format(range.lowerBound)) to \(format(range.upperBound))"
        switch read(text) {
        case .malformed:
            throw InputValueError(name: name, value: text, problem: "is not a size; write e.g. 4096, 64MB or 1GiB (\(allowed))")
        case .tooLarge:
            throw InputValueError(name: name, value: text, problem: "is too large; \(allowed)")
        case .count(let n):
            return try InputValueError.checked(n, in: range, name: name, text: text, allowed: allowed)
        }
    }

    /// Reads `text`: a whole number, then an optional unit.
    static func read(_ text: String) -> WholeNumberText.Reading {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            switch WholeNumberText.read(String(t.dropLast(suffix.count)).trimmingCharacters(in: .whitespaces)) {
            case .count(let n):
                let (bytes, overflow) = n.multipliedReportingOverflow(by: factor)
                // As in WholeNumberText, a negative beyond Int reads as Int.min ("too small").
                return overflow ? (n < 0 ? .count(Int.min) : .tooLarge) : .count(bytes)
            case let other: return other
            }
        }
        return WholeNumberText.read(t)
    }

    /// `n` in its largest whole binary unit: `1GiB`, `4KiB`, `1000 bytes`.
    static func format(_ n: Int) -> String {
        for (unit, size) in [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where n != 0 && n % size == 0 {
            return "\(n / size)\(unit)"
        }
        return "\(n) bytes"
    }
}
