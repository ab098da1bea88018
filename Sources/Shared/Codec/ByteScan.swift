#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-level helpers for the reader's hot loops: finding a byte and checking UTF-8 without
/// going through the standard library's generic `String(validating:as:)`, whose generic
/// metadata lookups cost more than the check itself on short journal fields.
enum ByteScan {
    /// The index of the first `byte` in `bytes` at or after `from`, or nil (`memchr`).
    @inline(__always)
    static func index(of byte: UInt8, in bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard from < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let hit = memchr(base + from, Int32(byte), bytes.count - from) else { return nil }
        return UnsafeRawPointer(hit) - base
    }

    /// True when `a` and `b` hold the same bytes (`memcmp`).
    @inline(__always)
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return true }
        return memcmp(pa, pb, a.count) == 0
    }

    /// True when `bytes` is well-formed UTF-8 (Unicode 15, table 3-7): no overlong forms,
    /// no surrogates, nothing past U+10FFFF, no truncated sequence. Accepts exactly what
    /// `String(validating:as: UTF8.self)` accepts.
    static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let n = bytes.count
        var i = 0
        while i < n {
            // Eight ASCII bytes at a time: journal text is mostly ASCII.
            while i + 8 <= n, bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 { i += 8 }
            guard i < n else { return true }
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            if b0 < 0xC2 { return false }  // a continuation byte first, or an overlong 2-byte form
            if b0 < 0xE0 {
                guard i + 1 < n, bytes[i + 1] & 0xC0 == 0x80 else { return false }
                i += 2
                continue
            }
            if b0 < 0xF0 {
                guard i + 2 < n else { return false }
                let b1 = bytes[i + 1]
                let low: UInt8 = b0 == 0xE0 ? 0xA0 : 0x80     // E0: no overlong forms
                let high: UInt8 = b0 == 0xED ? 0x9F : 0xBF    // ED: no surrogates
                guard b1 >= low, b1 <= high, bytes[i + 2] & 0xC0 == 0x80 else { return false }
                i += 3
                continue
            }
            if b0 < 0xF5 {
                guard i + 3 < n else { return false }
                let b1 = bytes[i + 1]
                let low: UInt8 = b0 == 0xF0 ? 0x90 : 0x80     // F0: no overlong forms
                let high: UInt8 = b0 == 0xF4 ? 0x8F : 0xBF    // F4: nothing past U+10FFFF
                guard b1 >= low, b1 <= high, bytes[i + 2] & 0xC0 == 0x80, bytes[i + 3] & 0xC0 == 0x80 else { return false }
                i += 4
                continue
            }
            return false
        }
        return true
    }

    /// A `String` of bytes already known to be valid UTF-8. `String(decoding:)` on a typed
    /// buffer is specialised and skips the generic path; it repairs nothing here because the
    /// caller validated first.
    @inline(__always)
    static func string(ofValidUTF8 bytes: UnsafeRawBufferPointer) -> String {
        bytes.withMemoryRebound(to: UInt8.self) { String(decoding: $0, as: UTF8.self) }
    }
}
