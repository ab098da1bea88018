/// A line's UTF-8 bytes, as the scanners read them.
typealias LineBytes = UnsafeBufferPointer<UInt8>

/// Byte classes the scanners need. All ASCII: bytes ≥ 0x80 (parts of other characters) are
/// never letters, digits or separators here, so a span never starts or ends inside a character.
enum ASCII {
    /// `0`…`9`.
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 48 < 10 }
    /// `A`…`Z`, `a`…`z`.
    @inline(__always) static func isLetter(_ b: UInt8) -> Bool { (b | 0x20) &- 97 < 26 }
    /// `A`…`Z`.
    @inline(__always) static func isUpper(_ b: UInt8) -> Bool { b &- 65 < 26 }
    /// `a`…`z`.
    @inline(__always) static func isLower(_ b: UInt8) -> Bool { b &- 97 < 26 }
    /// Letters and digits.
    @inline(__always) static func isAlnum(_ b: UInt8) -> Bool { isDigit(b) || isLetter(b) }
    /// Hexadecimal digits, either case.
    @inline(__always) static func isHex(_ b: UInt8) -> Bool { isDigit(b) || (b | 0x20) &- 97 < 6 }
    /// Space or tab.
    @inline(__always) static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
    /// Space, tab, newline, carriage return, vertical tab, form feed.
    @inline(__always) static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || (b &- 9) < 5 }
    /// Letters, digits, `_` and any non-ASCII byte: what a whole-word match must not touch.
    @inline(__always) static func isWordByte(_ b: UInt8) -> Bool { isAlnum(b) || b == 0x5F || b >= 0x80 }
    /// `b` lower-cased when it is an ASCII capital.
    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { isUpper(b) ? b | 0x20 : b }
    /// The UTF-8 bytes of `s`, lower-cased (ASCII only).
    static func lowered(_ s: String) -> [UInt8] { s.utf8.map(lower) }
}

/// Byte-string searches over a line, exact or ignoring ASCII case.
extension UnsafeBufferPointer where Element == UInt8 {
    /// Whether `literal` occurs at `i`, byte for byte.
    @inline(__always)
    func has(_ literal: [UInt8], at i: Int) -> Bool {
        guard i >= 0, i + literal.count <= count else { return false }
        for k in 0..<literal.count where self[i + k] != literal[k] { return false }
        return true
    }

    /// Whether `literal` (lower-case ASCII) occurs at `i`, ignoring ASCII case.
    @inline(__always)
    func hasIgnoringCase(_ literal: [UInt8], at i: Int) -> Bool {
        guard i >= 0, i + literal.count <= count else { return false }
        for k in 0..<literal.count where ASCII.lower(self[i + k]) != literal[k] { return false }
        return true
    }

    /// First index at or after `from` where `literal` occurs, byte for byte.
    func firstIndex(of literal: [UInt8], from: Int) -> Int? {
        guard let first = literal.first, literal.count <= count else { return nil }
        var i = Swift.max(from, 0)
        let last = count - literal.count
        while i <= last {
            if self[i] == first && has(literal, at: i) { return i }
            i += 1
        }
        return nil
    }

    /// First index at or after `from` where `literal` (lower-case ASCII) occurs, ignoring ASCII case.
    func firstIndex(ofIgnoringCase literal: [UInt8], from: Int) -> Int? {
        guard let first = literal.first, literal.count <= count else { return nil }
        var i = Swift.max(from, 0)
        let last = count - literal.count
        while i <= last {
            if ASCII.lower(self[i]) == first && hasIgnoringCase(literal, at: i) { return i }
            i += 1
        }
        return nil
    }

    /// The byte at `i`, or 0 outside the line (0 is never a letter, digit or separator).
    @inline(__always)
    func at(_ i: Int) -> UInt8 { i >= 0 && i < count ? self[i] : 0 }
}
