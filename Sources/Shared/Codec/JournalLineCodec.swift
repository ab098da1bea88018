/// Writes and reads `journal.jsonl` lines fast, without Foundation's JSON coders.
///
/// The agent writes tens of thousands of lines per bundle and the collector parses them
/// for every diagnosis, so both sides use this hand-written codec; it produces and accepts
/// ordinary JSON (any JSON tool reads the lines, and `JSONDecoder` decodes `JournalEntry`).
public enum JournalLineCodec {
    /// Appends `entry` as one JSON line (with the trailing newline) to `out`.
    public static func append(_ entry: JournalEntry, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        out.append(contentsOf: #""ts":"#.utf8)
        appendInt(Int(entry.realtime), to: &out)
        func field(_ key: StaticString, _ value: String?) {
            guard let value else { return }
            out.append(UInt8(ascii: ","))
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
            out.append(contentsOf: #"":"#.utf8)
            appendString(value, to: &out)
        }
        func number(_ key: StaticString, _ value: Int?) {
            guard let value else { return }
            out.append(UInt8(ascii: ","))
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
            out.append(contentsOf: #"":"#.utf8)
            appendInt(value, to: &out)
        }
        field("boot", entry.bootID)
        number("prio", entry.priority)
        number("fac", entry.facility)
        field("ident", entry.identifier)
        field("unit", entry.unit)
        field("uunit", entry.userUnit)
        number("pid", entry.pid)
        field("comm", entry.comm)
        field("exe", entry.exe)
        field("transport", entry.transport)
        field("msgid", entry.messageID)
        field("msg", entry.message)
        field("msg_b64", entry.messageBase64)
        field("cursor", entry.cursor)
        // An empty map is written as `{}`, not left out, so what parses re-encodes to an equal entry.
        if let coredump = entry.coredump {
            out.append(contentsOf: #","coredump":{"#.utf8)
            for (i, key) in coredump.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendString(coredump[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
        out.append(UInt8(ascii: "\n"))
    }

    /// Appends `value` as a JSON string literal (quotes included).
    public static func appendString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes in
            var runStart = 0
            for i in 0..<bytes.count {
                let b = bytes[i]
                if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") { continue }
                if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                runStart = i + 1
                switch b {
                case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
                case 0x0A: out.append(contentsOf: #"\n"#.utf8)
                case 0x0D: out.append(contentsOf: #"\r"#.utf8)
                case 0x09: out.append(contentsOf: #"\t"#.utf8)
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: #"\u00"#.utf8)
                    out.append(hex[Int(b >> 4)])
                    out.append(hex[Int(b & 0xF)])
                }
            }
            if runStart < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendInt(_ value: Int, to out: inout [UInt8]) {
        if value == 0 { out.append(UInt8(ascii: "0")); return }
        var v = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buf in
            while v > 0 {
                buf[count] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                count += 1
            }
            if value < 0 { out.append(UInt8(ascii: "-")) }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(buf[i]) }
        }
    }

    /// Parses one line (without its newline) into an entry.
    /// Unknown keys are skipped, so newer agents' lines still read.
    /// - Throws: `BundleError.invalidJSON` when the line is not a JSON object with a `ts` number.
    public static func parse(_ line: UnsafeRawBufferPointer) throws -> JournalEntry {
        var strings = StringInterner(capacity: 0)
        return try parse(line, strings: &strings)
    }

    /// Calls `body` with each line of a complete `journal.jsonl` buffer, parsed.
    /// - Throws: `BundleError.invalidJSON` naming the line number.
    public static func forEachEntry(in bytes: UnsafeRawBufferPointer, _ body: (JournalEntry) throws -> Void) throws {
        var decoder = JournalLineDecoder()
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            lineNumber += 1
            let end = ByteScan.index(of: 0x0A, in: bytes, from: start) ?? bytes.count
            if end > start {
                let line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                do {
                    try body(try decoder.decode(line))
                } catch let error as BundleError {
                    throw BundleError(.invalidJSON, "journal.jsonl line \(lineNumber): \(error.message)")
                }
            }
            start = end + 1
        }
    }

    /// The keys this version knows, matched on raw bytes so no key becomes a `String`.
    private enum Field {
        case ts, boot, prio, fac, ident, unit, uunit, pid, comm, exe, transport, msgid, msg, msgB64, cursor, coredump

        init?(_ key: UnsafeRawBufferPointer) {
            guard key.count <= 9 else { return nil }
            var word: UInt64 = 0
            for i in 0..<min(key.count, 8) { word |= UInt64(key[i]) &<< UInt64(8 * i) }
            self.init(packed: word, count: key.count, ninth: key.count == 9 ? key[8] : 0)
        }

        /// The field whose key's first eight bytes, as a little-endian integer, are `word`
        /// (keys are at most 9 bytes; `ninth` is the last byte of a 9-byte one).
        @inline(__always)
        init?(packed word: UInt64, count: Int, ninth: UInt8) {
            switch word {
            case 0x7374: self = .ts                    // "ts"
            case 0x746f_6f62: self = .boot             // "boot"
            case 0x6f69_7270: self = .prio             // "prio"
            case 0x63_6166: self = .fac                // "fac"
            case 0x74_6e65_6469: self = .ident         // "ident"
            case 0x7469_6e75: self = .unit             // "unit"
            case 0x74_696e_7575: self = .uunit         // "uunit"
            case 0x64_6970: self = .pid                // "pid"
            case 0x6d6d_6f63: self = .comm             // "comm"
            case 0x65_7865: self = .exe                // "exe"
            case 0x64_6967_736d: self = .msgid         // "msgid"
            case 0x67_736d: self = .msg                // "msg"
            case 0x34_3662_5f67_736d: self = .msgB64   // "msg_b64"
            case 0x726f_7372_7563: self = .cursor      // "cursor"
            case 0x706d_7564_6572_6f63: self = .coredump // "coredump"
            case 0x726f_7073_6e61_7274: self = .transport // "transpor" + "t"
            default: return nil
            }
            // Keys hold no zero bytes (control characters are refused), so a word with a zero
            // top byte fixes the key's length; only the full words need checking: "coredump"
            // ends there, "transpor" must be followed by exactly "t".
            switch self {
            case .coredump: guard count == 8 else { return nil }
            case .transport: guard count == 9, ninth == UInt8(ascii: "t") else { return nil }
            default: break
            }
        }

        init?(_ key: String) {
            var key = key
            guard let field = key.withUTF8({ Field(UnsafeRawBufferPointer($0)) }) else { return nil }
            self = field
        }
    }

    /// Parses one line, sharing repeated field strings through `strings`.
    static func parse(_ line: UnsafeRawBufferPointer, strings: inout StringInterner) throws -> JournalEntry {
        var p = Parser(bytes: line)
        // Fields go to locals and into the entry once at the end: filling a `var entry` in
        // place made the optimiser copy (retain every field) and destroy it twice per line.
        var realtime: Int64?
        var bootID: String?, identifier: String?, unit: String?, userUnit: String?, comm: String?, exe: String?
        var transport: String?, messageID: String?, message: String?, messageBase64: String?, cursor: String?
        var priority: Int?, facility: Int?, pid: Int?
        var coredump: [String: String]?
        try p.skipSpace()
        try p.expect(UInt8(ascii: "{"))
        try p.skipSpace()
        if try p.peek() == UInt8(ascii: "}") {
            p.index += 1
        } else {
            while true {
                try p.skipSpace()
                let field = try p.parseKey()
                try p.skipSpace()
                try p.expect(UInt8(ascii: ":"))
                try p.skipSpace()
                switch field {
                case .ts?:
                    // Bounded like every other time the collector stores: a finding's first and last
                    // seen come from these, and a year past 9999 could not be read back from SQLite.
                    let ts = Int64(try p.parseInt())
                    guard JournalEntry.realtimeRange.contains(ts) else {
                        throw p.error("\"ts\" \(ts) is outside \(JournalEntry.realtimeRange.lowerBound)…\(JournalEntry.realtimeRange.upperBound) (microseconds from 1970 to the end of year 9999); check the workstation's clock")
                    }
                    realtime = ts
                case .boot?: bootID = try p.parseOptionalString(interning: &strings)
                case .prio?: priority = try p.parseOptionalInt()
                case .fac?: facility = try p.parseOptionalInt()
                case .ident?: identifier = try p.parseOptionalString(interning: &strings)
                case .unit?: unit = try p.parseOptionalString(interning: &strings)
                case .uunit?: userUnit = try p.parseOptionalString(interning: &strings)
                case .pid?: pid = try p.parseOptionalInt()
                case .comm?: comm = try p.parseOptionalString(interning: &strings)
                case .exe?: exe = try p.parseOptionalString(interning: &strings)
                case .transport?: transport = try p.parseOptionalString(interning: &strings)
                case .msgid?: messageID = try p.parseOptionalString(interning: &strings)
                case .msg?: message = try p.parseOptionalString()
                case .msgB64?: messageBase64 = try p.parseOptionalString()
                case .cursor?: cursor = try p.parseOptionalString()
                case .coredump?: coredump = try p.parseStringMap()
                case nil: try p.skipValue(depth: 0)
                }
                try p.skipSpace()
                let c = try p.next()
                if c == UInt8(ascii: "}") { break }
                guard c == UInt8(ascii: ",") else { throw p.error("expected ',' or '}'") }
            }
        }
        try p.skipSpace()
        guard p.index == p.bytes.count else { throw p.error("trailing characters after the object") }
        guard let realtime else { throw p.error("no \"ts\" field") }
        return JournalEntry(realtime: realtime, bootID: bootID, priority: priority, facility: facility, identifier: identifier,
                            unit: unit, userUnit: userUnit, pid: pid, comm: comm, exe: exe, transport: transport,
                            messageID: messageID, message: message, messageBase64: messageBase64, cursor: cursor,
                            coredump: coredump)
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func error(_ what: String) -> BundleError {
            BundleError(.invalidJSON, "\(what) at byte \(index)")
        }
        @inline(__always)
        func peek() throws -> UInt8 {
            guard index < bytes.count else { throw error("unexpected end of line") }
            return bytes[index]
        }
        @inline(__always)
        mutating func next() throws -> UInt8 {
            let c = try peek()
            index += 1
            return c
        }
        @inline(__always)
        mutating func expect(_ c: UInt8) throws {
            guard try next() == c else { throw error("expected '\(Character(Unicode.Scalar(c)))'") }
        }
        @inline(__always)
        mutating func skipSpace() throws {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0D, 0x0A: index += 1
                default: return
                }
            }
        }
        mutating func parseInt() throws -> Int {
            var negative = false
            if try peek() == UInt8(ascii: "-") { negative = true; index += 1 }
            var value = 0
            var digits = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                let digit = Int(bytes[index] - 0x30)
                if digits < 18 {
                    value = value &* 10 &+ digit  // 18 digits always fit in an Int
                } else {
                    let (m, o1) = value.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.addingReportingOverflow(digit)
                    guard !o1, !o2 else { throw error("number out of range") }
                    value = s
                }
                index += 1
                digits += 1
            }
            guard digits > 0 else { throw error("expected a number") }
            if index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): throw error("expected an integer")
                default: break
                }
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
        /// A string or `null`; a value seen recently comes from `strings` without a new allocation.
        mutating func parseOptionalString(interning strings: inout StringInterner) throws -> String? {
            if try peek() == UInt8(ascii: "n") { try literal("null"); return nil }
            return try parseString(interning: &strings)
        }
        mutating func literal(_ word: StaticString) throws {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw error("expected \(word)") }
            for i in 0..<count where bytes[index + i] != word.utf8Start[i] { throw error("expected \(word)") }
            index += count
        }

        /// How a string's raw run ended (see `scanRun`).
        enum Run {
            /// At the closing quote, now consumed; `ascii` tells whether the run needs a UTF-8 check.
            case closed(ascii: Bool)
            /// At a backslash (not consumed): the string has escapes.
            case escaped
        }

        /// Scans from `index` to the closing quote or the first backslash, rejecting control
        /// characters. Eight bytes at a time, jumping straight to the first special byte
        /// (quote, backslash, below 0x20, or non-ASCII until one was seen), so errors carry the
        /// same byte offsets as a byte-by-byte scan.
        @inline(__always)
        mutating func scanRun() throws -> Run {
            var ascii = true
            while index + 8 <= bytes.count {
                let w = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                let special = Self.specialBytes(w, ascii: ascii)
                if special == 0 { index += 8; continue }
                index += special.trailingZeroBitCount >> 3
                let c = bytes[index]
                if c == UInt8(ascii: "\"") { index += 1; return .closed(ascii: ascii) }
                if c == UInt8(ascii: "\\") { return .escaped }
                if c < 0x20 { throw error("control character in string") }
                ascii = false
                index += 1
            }
            while true {
                guard index < bytes.count else { throw error("unexpected end of line") }
                let c = bytes[index]
                if c == UInt8(ascii: "\"") { index += 1; return .closed(ascii: ascii) }
                if c == UInt8(ascii: "\\") { return .escaped }
                if c < 0x20 { throw error("control character in string") }
                if c >= 0x80 { ascii = false }
                index += 1
            }
        }

        /// The high bit of each byte of `w` (little-endian) that is a quote, a backslash, below
        /// 0x20 or, while `ascii`, non-ASCII. Higher bits may be set spuriously (borrows), but
        /// the lowest set bit is always the first such byte, which is all callers use.
        @inline(__always)
        static func specialBytes(_ w: UInt64, ascii: Bool) -> UInt64 {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let quote = w ^ (ones &* 0x22), backslash = w ^ (ones &* 0x5C)
            let zeroQuote = (quote &- ones) & ~quote
            let zeroBackslash = (backslash &- ones) & ~backslash
            let control = (w &- ones &* 0x20) & ~w
            return (zeroQuote | zeroBackslash | control | (ascii ? w : 0)) & 0x8080_8080_8080_8080
        }

        /// A key, as the field it names, or nil for keys this version does not know. Keys are
        /// short: usually the closing quote is within the next eight bytes, read as one word.
        @inline(__always)
        mutating func parseKey() throws -> Field? {
            try expect(UInt8(ascii: "\""))
            let start = index
            if index + 8 <= bytes.count {
                let w = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                let special = Self.specialBytes(w, ascii: true)
                let at = special.trailingZeroBitCount >> 3
                if special != 0, bytes[index + at] == UInt8(ascii: "\"") {
                    // A plain ASCII key of `at` bytes.
                    index += at + 1
                    return Field(packed: at == 0 ? 0 : w & (UInt64.max &>> (64 - 8 * at)), count: at, ninth: 0)
                }
            }
            var word: UInt64 = 0
            var ascii = true
            while true {
                guard index < bytes.count else { throw error("unexpected end of line") }
                let c = bytes[index]
                if c == UInt8(ascii: "\"") { break }
                if c == UInt8(ascii: "\\") {
                    // Rare: a key spelled with escapes reads as what it decodes to.
                    index = start - 1
                    return Field(try parseString())
                }
                if c < 0x20 { throw error("control character in string") }
                if c >= 0x80 { ascii = false }
                let at = index - start
                if at < 8 { word |= UInt64(c) &<< UInt64(8 * at) }
                index += 1
            }
            let count = index - start
            index += 1
            if !ascii {
                let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<(index - 1)])
                if !ByteScan.isValidUTF8(raw) { throw error("string is not valid UTF-8") }
                return nil
            }
            guard count <= 9 else { return nil }
            return Field(packed: word, count: count, ninth: count == 9 ? bytes[start + 8] : 0)
        }

        mutating func parseString() throws -> String {
            var none = StringInterner(capacity: 0)
            return try parseString(interning: &none)
        }

        /// A JSON string; without escapes, its bytes are checked in place and, when
        /// `strings` already holds them, not copied at all.
        mutating func parseString(interning strings: inout StringInterner) throws -> String {
            try expect(UInt8(ascii: "\""))
            let start = index
            // Fast path: no escapes, the string is the bytes between the quotes.
            if case .closed(let ascii) = try scanRun() {
                let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<(index - 1)])
                if let known = strings.lookup(raw) { return known }
                if !ascii, !ByteScan.isValidUTF8(raw) { throw error("string is not valid UTF-8") }
                return strings.store(raw)
            }
            var out = [UInt8](bytes[start..<index])
            while true {
                let c = try next()
                switch c {
                case UInt8(ascii: "\""):
                    let valid = out.withUnsafeBytes { ByteScan.isValidUTF8($0) }
                    guard valid else { throw error("string is not valid UTF-8") }
                    return out.withUnsafeBytes { ByteScan.string(ofValidUTF8: $0) }
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
                        UTF8.encode(u) { out.append($0) }
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
