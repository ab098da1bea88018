/// A small direct-mapped cache of recently made strings, so the fields that repeat on every
/// journal line (boot id, unit, executable…) share one heap string instead of allocating
/// one per entry.
///
/// Strings of at most `maxBytes` are cached (longer ones rarely repeat). Short ones (up to
/// 15 bytes, Swift's inline small strings) cost no allocation, but a hit still skips the
/// UTF-8 check and the standard library's string construction. A slot holds the last string
/// that hashed to it, so the cache's memory is bounded by `slots × maxBytes` whatever the
/// input.
struct StringInterner: Sendable {
    /// Longest string kept.
    static let maxBytes = 128
    private var slots: [String]
    private let mask: Int

    /// A cache of `capacity` slots (rounded up to a power of two); 0 caches nothing.
    init(capacity: Int) {
        guard capacity > 0 else { slots = []; mask = 0; return }
        var size = 1
        while size < capacity { size <<= 1 }
        slots = [String](repeating: "", count: size)
        mask = size - 1
    }

    /// The cached string equal to `bytes`, if any. A hit needs no UTF-8 check: the bytes
    /// equal a string's, so they are valid.
    @inline(__always)
    func lookup(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard !slots.isEmpty, bytes.count > 0, bytes.count <= Self.maxBytes else { return nil }
        let candidate = slots[Self.hash(bytes) & mask]
        let same = candidate.utf8.withContiguousStorageIfAvailable { stored in
            ByteScan.equal(UnsafeRawBufferPointer(stored), bytes)
        }
        return same == true ? candidate : nil
    }

    /// Makes a string of `bytes` (valid UTF-8, checked by the caller) and caches it.
    @inline(__always)
    mutating func store(_ bytes: UnsafeRawBufferPointer) -> String {
        let s = ByteScan.string(ofValidUTF8: bytes)
        if !slots.isEmpty, bytes.count > 0, bytes.count <= Self.maxBytes {
            slots[Self.hash(bytes) & mask] = s
        }
        return s
    }

    /// A cheap mix of the bytes, eight at a time (only spreads strings over slots; a
    /// collision just evicts).
    @inline(__always)
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(bytes.count)
        var i = 0
        while i + 8 <= bytes.count {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 29
            i += 8
        }
        while i < bytes.count {
            h = (h ^ UInt64(bytes[i])) &* 0x0000_0100_0000_01B3
            i += 1
        }
        h ^= h >> 32
        return Int(truncatingIfNeeded: h)
    }
}
