/// The cheap first look at a line: which scanners might find something in it.
///
/// Each scanner declares literal triggers (`pass`, `token`, `://`…), matched ignoring ASCII
/// case over the UTF-8 bytes, and may ask for byte features instead (an `@`, a `:`, a group of
/// 13 or more digits). One pass over the line sets a bit per scanner whose trigger occurs; an
/// ordinary line sets none and costs this pass only.
final class TriggerPrefilter: @unchecked Sendable {
    // @unchecked: the tables are raw buffers written only in `init` and read-only afterwards,
    // so sharing the prefilter between threads is safe; `deinit` frees them.

    /// Byte features the pass reports besides triggers.
    struct Features: OptionSet, Sendable {
        /// The raw flag bits.
        let rawValue: UInt8
        /// Creates features from flag bits.
        init(rawValue: UInt8) { self.rawValue = rawValue }
        /// A digit.
        static let digit = Features(rawValue: 1 << 1)
        /// An `@`.
        static let at = Features(rawValue: 1 << 2)
        /// A `:`.
        static let colon = Features(rawValue: 1 << 3)
        /// A `.`.
        static let dot = Features(rawValue: 1 << 4)
        /// A `-`.
        static let dash = Features(rawValue: 1 << 5)
        /// A space (card-number group separator).
        static let space = Features(rawValue: 1 << 6)
    }

    /// What one pass found besides triggers.
    struct Result {
        /// Features present somewhere in the line.
        var features: Features = []
        /// Longest run of digits, spaces and dashes that starts with a digit (an upper bound
        /// of the longest card-shaped digit group).
        var longestDigitGroup = 0
    }

    /// A literal that wakes a scanner.
    struct Trigger {
        /// The literal; matched ignoring ASCII case.
        var literal: [UInt8]
        /// Index of the scanner it wakes.
        var scanner: Int
    }

    /// Number of `UInt64` words a scanner bit set needs.
    let wordCount: Int
    private let flags: UnsafeMutablePointer<UInt8>      // 256: Features per byte
    private let fold: UnsafeMutablePointer<UInt8>       // 256: ASCII lower-casing
    private let trigrams: UnsafeMutablePointer<UInt64>  // 32768 bits: hashes of triggers' first three bytes
    private let bucket: UnsafeMutablePointer<Int32>     // 257: triggers by folded first byte
    private let entryOffset: UnsafeMutablePointer<Int32>
    private let entryLength: UnsafeMutablePointer<Int32>
    private let entryScanner: UnsafeMutablePointer<Int32>
    private let literals: UnsafeMutablePointer<UInt8>
    private let entryCount: Int

    private static let trigramBits = 1 << 15

    /// The 15-bit hash of three bytes: their low five bits, which ASCII case does not change.
    @inline(__always)
    private static func trigram(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> Int {
        Int(a & 31) << 10 | Int(b & 31) << 5 | Int(c & 31)
    }

    /// A prefilter for `triggers` over `scannerCount` scanners.
    init(triggers: [Trigger], scannerCount: Int) {
        let triggers = triggers.filter { !$0.literal.isEmpty }
            .map { Trigger(literal: $0.literal.map(ASCII.lower), scanner: $0.scanner) }
            .sorted { $0.literal[0] < $1.literal[0] }
        wordCount = Swift.max(1, (scannerCount + 63) / 64)
        flags = .allocate(capacity: 256)
        fold = .allocate(capacity: 256)
        trigrams = .allocate(capacity: Self.trigramBits / 64)
        bucket = .allocate(capacity: 257)
        entryCount = triggers.count
        entryOffset = .allocate(capacity: Swift.max(1, entryCount))
        entryLength = .allocate(capacity: Swift.max(1, entryCount))
        entryScanner = .allocate(capacity: Swift.max(1, entryCount))
        let literalTotal = triggers.reduce(0) { $0 + $1.literal.count }
        literals = .allocate(capacity: Swift.max(1, literalTotal))

        for b in 0..<256 {
            let byte = UInt8(b)
            fold[b] = ASCII.lower(byte)
            var f: Features = []
            if ASCII.isDigit(byte) { f.insert(.digit) }
            switch byte {
            case UInt8(ascii: "@"): f.insert(.at)
            case UInt8(ascii: ":"): f.insert(.colon)
            case UInt8(ascii: "."): f.insert(.dot)
            case UInt8(ascii: "-"): f.insert(.dash)
            case UInt8(ascii: " "): f.insert(.space)
            default: break
            }
            flags[b] = f.rawValue
        }
        trigrams.initialize(repeating: 0, count: Self.trigramBits / 64)
        var offset = 0
        var next = 0
        for b in 0..<257 {
            while next < triggers.count && Int(triggers[next].literal[0]) < b { next += 1 }
            bucket[b] = Int32(next)
        }
        for (k, trigger) in triggers.enumerated() {
            let lit = trigger.literal
            for (j, byte) in lit.enumerated() { literals[offset + j] = byte }
            entryOffset[k] = Int32(offset)
            entryLength[k] = Int32(lit.count)
            entryScanner[k] = Int32(trigger.scanner)
            offset += lit.count
            // Shorter triggers match whatever follows them (the line end reads as zero bytes).
            let seconds: [UInt8] = lit.count >= 2 ? [lit[1]] : Array(0..<32)
            let thirds: [UInt8] = lit.count >= 3 ? [lit[2]] : Array(0..<32)
            for second in seconds {
                for third in thirds {
                    let h = Self.trigram(lit[0], second, third)
                    trigrams[h >> 6] |= 1 << UInt64(h & 63)
                }
            }
        }
    }

    deinit {
        flags.deallocate()
        fold.deallocate()
        trigrams.deallocate()
        bucket.deallocate()
        entryOffset.deallocate()
        entryLength.deallocate()
        entryScanner.deallocate()
        literals.deallocate()
    }

    /// Scans `line`, setting in `active` the bit of every scanner whose trigger occurs.
    ///
    /// Per byte: a rolling hash of the last three bytes is looked up in a 4 KiB bitmap of the
    /// triggers' first three bytes; only on a hit are the triggers starting there compared.
    /// Features are OR-ed in; the digit-group length (a space or dash keeps a group going, a
    /// loose upper bound that never misses a card) needs no branch.
    func scan(_ line: LineBytes, into active: UnsafeMutableBufferPointer<UInt64>) -> Result {
        let n = line.count
        guard let p = line.baseAddress, n > 0 else { return Result() }
        let digit = Features.digit.rawValue
        let groupSeparator = Features.space.rawValue | Features.dash.rawValue
        var seen: UInt8 = 0
        var run = 0
        var longest = 0
        var hash = 0
        let mask = Self.trigramBits - 1
        // The first two bytes only start the hash.
        hash = Int(p[0] & 31)
        seen = flags[Int(p[0])]
        run = seen & digit != 0 ? 1 : 0
        longest = run
        if n > 1 {
            let f = flags[Int(p[1])]
            seen |= f
            run = f & digit != 0 ? run &+ 1 : (f & groupSeparator != 0 ? run : 0)
            longest = Swift.max(longest, run)
            hash = hash << 5 | Int(p[1] & 31)
        }
        var i = 2
        while i < n {
            let b = p[i]
            let f = flags[Int(b)]
            seen |= f
            run = f & digit != 0 ? run &+ 1 : (f & groupSeparator != 0 ? run : 0)
            longest = Swift.max(longest, run)
            hash = (hash << 5 | Int(b & 31)) & mask
            if trigrams[hash >> 6] & (1 << UInt64(hash & 63)) != 0 {
                matchTriggers(p, n, at: i - 2, into: active)
            }
            i &+= 1
        }
        // Two zero bytes after the line complete the hashes of its last two positions.
        for k in Swift.max(n - 2, 0)..<n {
            let h = Self.trigram(p[k], k + 1 < n ? p[k + 1] : 0, 0)
            if trigrams[h >> 6] & (1 << UInt64(h & 63)) != 0 {
                matchTriggers(p, n, at: k, into: active)
            }
        }
        return Result(features: Features(rawValue: seen), longestDigitGroup: longest)
    }

    @inline(__always)
    private func matchTriggers(_ p: UnsafePointer<UInt8>, _ n: Int, at i: Int,
                               into active: UnsafeMutableBufferPointer<UInt64>) {
        let first = Int(fold[Int(p[i])])
        var k = Int(bucket[first])
        let end = Int(bucket[first + 1])
        while k < end {
            let length = Int(entryLength[k])
            if i + length <= n {
                let lit = literals + Int(entryOffset[k])
                var j = 1
                while j < length && fold[Int(p[i + j])] == lit[j] { j &+= 1 }
                if j == length {
                    let s = Int(entryScanner[k])
                    active[s >> 6] |= 1 << UInt64(s & 63)
                }
            }
            k &+= 1
        }
    }
}
