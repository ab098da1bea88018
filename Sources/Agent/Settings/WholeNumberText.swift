import Foundation

/// Counts as people type them (`retries = 3`, `--max-journal-entries 50000`): an optional
/// sign and ASCII digits, nothing else.
enum WholeNumberText {
    /// What a text spells.
    enum Reading: Equatable {
        /// A whole number that fits an `Int` (negative ones included, for the range check to name).
        case count(Int)
        /// Not a whole number (`many`, `1.5`, `1e3`, `inf`).
        case malformed
        /// Digits, but more than an `Int` holds.
        case tooLarge
    }

    /// Reads `text`.
    static func read(_ text: String) -> Reading {
        let t = text.trimmingCharacters(in: .whitespaces)
        let digits = t.hasPrefix("-") || t.hasPrefix("+") ? t.dropFirst() : Substring(t)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return .malformed }
        // A negative number beyond Int reads as Int.min: below every range, so "too small".
        guard let n = Int(t) else { return t.hasPrefix("-") ? .count(Int.min) : .tooLarge }
        return .count(n)
    }

    /// The count `text` spells, if it lies in `range`.
    /// - Throws: `InputValueError` naming `name`, the text and the range.
    static func parse(_ text: String, for name: String, in range: ClosedRange<Int>) throws(InputValueError) -> Int {
        let allowed = "give \(range.lowerBound) to \(range.upperBound)"
        switch read(text) {
        case .malformed:
            throw InputValueError(name: name, value: text, problem: "is not a whole number; \(allowed)")
        case .tooLarge:
            throw InputValueError(name: name, value: text, problem: "is too large; \(allowed)")
        case .count(let n):
            return try InputValueError.checked(n, in: range, name: name, text: text, allowed: allowed)
        }
    }
}
