import Foundation

/// The index buckets under one kind of key (identifier, transport, MESSAGE_ID), found by a cheap
/// hash of the key's UTF-8 bytes: every entry looks up three keys, and `Dictionary`'s seeded
/// SipHash cost more than the rest of an unmatched entry's offer. Built once per engine; a
/// lookup hashes a few bytes and compares them once.
///
/// Only ASCII keys are looked up by bytes: `String` equality is canonical equivalence (the
/// Kelvin sign equals "K"), so a non-ASCII key, or any key when a rule's key is not ASCII, goes
/// to the dictionary, which compares as it always did.
struct BucketTable: Sendable {
    private let dictionary: [String: MatcherIndex.Bucket]
    /// True when some key is not ASCII: then every lookup goes to `dictionary`.
    private let dictionaryOnly: Bool
    private let keys: [[UInt8]]
    private let buckets: [MatcherIndex.Bucket]
    /// Open addressing: an index into `keys`, or -1 for an empty slot; twice as many slots as keys.
    private let slots: [Int32]
    private let mask: Int

    /// A table of every bucket of `dictionary`.
    init(_ dictionary: [String: MatcherIndex.Bucket]) {
        var size = 8
        while size < dictionary.count * 2 { size <<= 1 }
        var slots = [Int32](repeating: -1, count: size)
        var keys: [[UInt8]] = [], buckets: [MatcherIndex.Bucket] = []
        for (key, bucket) in dictionary {
            let bytes = Array(key.utf8)
            // Non-ASCII keys are found through `dictionary` only.
            guard let hash = bytes.withUnsafeBufferPointer({ Self.hash($0) }) else { continue }
            var s = hash & (size - 1)
            while slots[s] >= 0 { s = (s + 1) & (size - 1) }
            slots[s] = Int32(keys.count)
            keys.append(bytes)
            buckets.append(bucket)
        }
        self.dictionary = dictionary
        dictionaryOnly = keys.count != dictionary.count
        self.keys = keys; self.buckets = buckets; self.slots = slots; mask = size - 1
    }

    /// The bucket under `key`, if any.
    @inline(__always)
    func bucket(_ key: String) -> MatcherIndex.Bucket? {
        if dictionaryOnly { return dictionary[key] }
        if let found = key.utf8.withContiguousStorageIfAvailable({ lookup($0) }) { return found ?? dictionary[key] }
        var copy = key
        return copy.withUTF8 { lookup($0) } ?? dictionary[key]
    }

    /// The bucket under the ASCII `key` (`.some(nil)` when none), or nil when `key` is not ASCII.
    private func lookup(_ key: UnsafeBufferPointer<UInt8>) -> MatcherIndex.Bucket?? {
        guard let hash = Self.hash(key) else { return nil }
        var s = hash & mask
        while true {
            let k = Int(slots[s])
            if k < 0 { return .some(nil) }
            let same = keys[k].withUnsafeBufferPointer { stored in
                stored.count == key.count && (key.isEmpty || memcmp(stored.baseAddress!, key.baseAddress!, key.count) == 0)
            }
            if same { return .some(buckets[k]) }
            s = (s + 1) & mask
        }
    }

    /// FNV-1a (keys are short names, a few bytes each), or nil when a byte is not ASCII.
    @inline(__always)
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        var high: UInt8 = 0
        for b in bytes {
            h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3
            high |= b
        }
        guard high < 0x80 else { return nil }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }
}
