@testable import Shared

/// The journal line parser as it was before the fast paths (byte-by-byte scans,
/// `String(validating:as:)`), kept verbatim as the reference the new one must agree with:
/// same entries for good lines, same error messages (byte offsets included) for bad ones.
enum ReferenceJournalLineCodec {
    /// Parses one line (without its newline) into an entry.
    /// Unknown keys are skipped, so newer agents' lines still read.
    /// - Throws: `BundleError.invalidJSON` when the line is not a JSON object with a `ts` number.
    static func parse(_ line: UnsafeRawBufferPointer) throws -> JournalEntry {
        var p = Parser(bytes: line)
        var entry = JournalEntry(realtime: 0)
        var sawTimestamp = false
        try p.skipSpace()
        try p.expect(UInt8(ascii: "{"))
        try p.skipSpace()
        if try p.peek() == UInt8(ascii: "}") {
            p.index += 1
        } else {
            while true {
                try p.skipSpace()
                let key = try p.parseString()
                try p.skipSpace()
                try p.expect(UInt8(ascii: ":"))
                try p.skipSpace()
                switch key {
                case "ts":
                    let ts = Int64(try p.parseInt())
                    guard JournalEntry.realtimeRange.contains(ts) else {
                        throw p.error("\"ts\" \(ts) is outside \(JournalEntry.realtimeRange.lowerBound)…\(JournalEntry.realtimeRange.upperBound) (microseconds from 1970 to the end of year 9999); check the workstation's clock")
                    }
                    entry.realtime = ts; sawTimestamp = true
                case "boot": entry.bootID = try p.parseOptionalString()
                case "prio": entry.priority = try p.parseOptionalInt()
                case "fac": entry.facility = try p.parseOptionalInt()
                case "ident": entry.identifier = try p.parseOptionalString()
                case "unit": entry.unit = try p.parseOptionalString()
                case "uunit": entry.userUnit = try p.parseOptionalString()
                case "pid": entry.pid = try p.parseOptionalInt()
                case "comm": entry.comm = try p.parseOptionalString()
                case "exe": entry.exe = try p.parseOptionalString()
                case "transport": entry.transport = try p.parseOptionalString()
                case "msgid": entry.messageID = try p.parseOptionalString()
                case "msg": entry.message = try p.parseOptionalString()
                case "msg_b64": entry.messageBase64 = try p.parseOptionalString()
                case "cursor": entry.cursor = try p.parseOptionalString()
                case "coredump": entry.coredump = try p.parseStringMap()
                default: try p.skipValue(depth: 0)
                }
                try p.skipSpace()
                let c = try p.next()
                if c == UInt8(ascii: "}") { break }
                guard c == UInt8(ascii: ",") else { throw p.error("expected ',' or '}'") }
            }
        }
        try p.skipSpace()
        guard p.index == p.bytes.count else { throw p.error("trailing characters after the object") }
        guard sawTimestamp else { throw p.error("no \"ts\" field") }
        return entry
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func error(_ what: String) -> BundleError {
            BundleError(.invalidJSON, "\(what) at byte \(index)")
        }
        func peek() throws -> UInt8 {
            guard index < bytes.count else { throw error("unexpected end of line") }
            return bytes[index]
        }
        mutating func next() throws -> UInt8 {
            let c = try peek()
            index += 1
            return c
        }
        mutating func expect(_ c: UInt8) throws {
            guard try next() == c else { throw error("expected '\(Character(Unicode.Scalar(c)))'") }
        }
        mutating func skipSpace() throws {
            while index < bytes.count, [0x20, 0x09, 0x0D, 0x0A].contains(bytes[index]) { index += 1 }
        }
        mutating func parseInt() throws -> Int {
            var negative = false
            if try peek() == UInt8(ascii: "-") { negative = true; index += 1 }
            var value = 0
            var digits = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int(bytes[index] - 0x30))
                guard !o1, !o2 else { throw error("number out of range") }
                value = s
                index += 1
                digits += 1
            }
            guard digits > 0 else { throw error("expected a number") }
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
                throw error("expected an integer")
            }
            return negative ? -value : value
        }
        mutating func parseOptionalInt() throws -> Int? {
            if try peek() == UInt8(ascii: "n") { try literal("null"); return nil }
            return try parseInt()
        }
        mutating func parseOptionalString() throws -> String? {
            if try peek() == UInt8(ascii: "n") { try literal("null"); return nil }
            return try parseString()
        }
        mutating func literal(_ word: StaticString) throws {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw error("expected \(word)") }
            for i in 0..<count where bytes[index + i] != word.utf8Start[i] { throw error("expected \(word)") }
            index += count
        }
        mutating func parseString() throws -> String {
            try expect(UInt8(ascii: "\""))
            let start = index
            // Fast path: no escapes.
            while index < bytes.count {
                let c = bytes[index]
                if c == UInt8(ascii: "\"") {
                    let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    guard let s = String(validating: slice, as: UTF8.self) else { throw error("string is not valid UTF-8") }
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw error("control character in string") }
                index += 1
            }
            var out = [UInt8](bytes[start..<index])
            while true {
                let c = try next()
                switch c {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: out, as: UTF8.self) else { throw error("string is not valid UTF-8") }
                    return s
                case UInt8(ascii: "\\"):
                    let e = try next()
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            try expect(UInt8(ascii: "\\"))
                            try expect(UInt8(ascii: "u"))
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw error("bad surrogate pair") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw error("bad \\u escape") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default:
                        throw error("bad escape")
                    }
                default:
                    if c < 0x20 { throw error("control character in string") }
                    out.append(c)
                }
            }
        }
        mutating func hex4() throws -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = try next()
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw error("bad hex digit")
                }
                v = v * 16 + d
            }
            return v
        }
        mutating func parseStringMap() throws -> [String: String]? {
            if try peek() == UInt8(ascii: "n") { try literal("null"); return nil }
            try expect(UInt8(ascii: "{"))
            var map: [String: String] = [:]
            try skipSpace()
            if try peek() == UInt8(ascii: "}") { index += 1; return map }
            while true {
                try skipSpace()
                let k = try parseString()
                try skipSpace()
                try expect(UInt8(ascii: ":"))
                try skipSpace()
                map[k] = try parseString()
                try skipSpace()
                let c = try next()
                if c == UInt8(ascii: "}") { return map }
                guard c == UInt8(ascii: ",") else { throw error("expected ',' or '}'") }
            }
        }
        mutating func skipValue(depth: Int) throws {
            guard depth < 32 else { throw error("nested too deeply") }
            let c = try peek()
            switch c {
            case UInt8(ascii: "\""): _ = try parseString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                index += 1
                try skipSpace()
                if try peek() == close { index += 1; return }
                while true {
                    try skipSpace()
                    if c == UInt8(ascii: "{") {
                        _ = try parseString()
                        try skipSpace()
                        try expect(UInt8(ascii: ":"))
                        try skipSpace()
                    }
                    try skipValue(depth: depth + 1)
                    try skipSpace()
                    let n = try next()
                    if n == close { return }
                    guard n == UInt8(ascii: ",") else { throw error("expected ',' in a nested value") }
                }
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default:
                // Numbers, including fractions and exponents.
                let start = index
                while index < bytes.count, "+-.0123456789eE".utf8.contains(bytes[index]) { index += 1 }
                guard index > start else { throw error("unexpected character") }
            }
        }
    }
}
