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
        /// Some trigger starts with this byte (internal to the pass).
        static let triggerStart = Features(rawValue: 1 << 0)
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
        /// Longest run of digits, counting single spaces or dashes between digits as part of it.
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
    private let pairs: UnsafeMutablePointer<UInt64>     // 65536 bits: folded first two bytes of a trigger
    private let bucket: UnsafeMutablePointer<Int32>     // 257: triggers by folded first byte
    private let entryOffset: UnsafeMutablePointer<Int32>
    private let entryLength: UnsafeMutablePointer<Int32>
    private let entryScanner: UnsafeMutablePointer<Int32>
    private let literals: UnsafeMutablePointer<UInt8>
    private let entryCount: Int

    /// A prefilter for `triggers` over `scannerCount` scanners (triggers must not be empty).
    init(triggers: [Trigger], scannerCount: Int) {
        let triggers = triggers.filter { !$0.literal.isEmpty }
            .map { Trigger(literal: $0.literal.map(ASCII.lower), scanner: $0.scanner) }
            .sorted { $0.literal[0] < $1.literal[0] }
        wordCount = Swift.max(1, (scannerCount + 63) / 64)
        flags = .allocate(capacity: 256)
        fold = .allocate(capacity: 256)
        pairs = .allocate(capacity: 1024)
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
        pairs.initialize(repeating: 0, count: 1024)
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
            let first = Int(lit[0])
            flags[first] |= Features.triggerStart.rawValue
            if ASCII.isLower(lit[0]) { flags[first - 32] |= Features.triggerStart.rawValue }
            if lit.count == 1 {
                for second in 0..<256 { setPair(first, second) }
            } else {
                setPair(first, Int(lit[1]))
            }
        }
    }

    deinit {
        flags.deallocate()
        fold.deallocate()
        pairs.deallocate()
        bucket.deallocate()
        entryOffset.deallocate()
        entryLength.deallocate()
        entryScanner.deallocate()
        literals.deallocate()
    }

    private func setPair(_ first: Int, _ second: Int) {
        let index = first << 8 | second
        pairs[index >> 6] |= 1 << UInt64(index & 63)
    }

    /// Scans `line`, setting in `active` the bit of every scanner whose trigger occurs.
    func scan(_ line: LineBytes, into active: UnsafeMutableBufferPointer<UInt64>) -> Result {
        let n = line.count
        guard let p = line.baseAddress, n > 0 else { return Result() }
        let triggerStart = Features.triggerStart.rawValue
        let digit = Features.digit.rawValue
        let groupSeparator = Features.space.rawValue | Features.dash.rawValue
        var seen: UInt8 = 0
        var run = 0
        var longest = 0
        var i = 0
        while i < n {
            let b = p[i]
            let f = flags[Int(b)]
            if f == 0 {
                run = 0
                i &+= 1
                continue
            }
            seen |= f
            if f & digit != 0 {
                run &+= 1
                if run > longest { longest = run }
            } else if f & groupSeparator == 0 || run == 0 || i + 1 >= n || !ASCII.isDigit(p[i + 1]) {
                run = 0
            }
            if f & triggerStart != 0 {
                let first = Int(fold[Int(b)])
                let second = i + 1 < n ? Int(fold[Int(p[i + 1])]) : 0
                let pair = first << 8 | second
                if pairs[pair >> 6] & (1 << UInt64(pair & 63)) != 0 {
                    matchTriggers(p, n, at: i, first: first, into: active)
                }
            }
            i &+= 1
        }
        return Result(features: Features(rawValue: seen), longestDigitGroup: longest)
    }

    @inline(__always)
    private func matchTriggers(_ p: UnsafePointer<UInt8>, _ n: Int, at i: Int, first: Int,
                               into active: UnsafeMutableBufferPointer<UInt64>) {
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
