import Foundation

/// The `contains` needles of every matcher in one index bucket (the kernel's, sshd's, the
/// matchers without identifier or transport…), found in one pass over a message instead of one
/// `memchr` scan per needle: a table keyed by each needle's first two bytes says which needles
/// can start at a position, and only those are compared. With 30 matchers and 80 needles on
/// kernel lines, one pass replaces 80 scans.
final class NeedleSet: Sendable {
    /// Slots of the two-byte table (a hash of the two bytes; a collision costs one `memcmp`).
    static let slots = 4096
    /// `slotStart[s]..<slotStart[s + 1]` are the needles starting with slot `s`'s two bytes.
    private let slotStart: [Int32]
    /// Needle ids by slot.
    private let slotNeedles: [Int32]
    /// Every needle's bytes laid end to end, its start and length, and the owner (the matcher's
    /// position in the bucket) it belongs to.
    private let bytes: [UInt8]
    private let needleStart: [Int32]
    private let needleLength: [Int32]
    private let needleOwner: [Int32]
    /// Owners with a one-byte needle (matched with `memchr`).
    private let singleBytes: [(byte: UInt8, owner: Int32)]
    /// How many owners (matchers) the set answers for.
    let ownerCount: Int

    /// A set over `needles[owner]` for each owner; owners without needles are never marked.
    /// Built by counting (no array per slot): engines are made per process and per request.
    init(_ needles: [[[UInt8]]]) {
        ownerCount = needles.count
        var bytes: [UInt8] = [], start: [Int32] = [], length: [Int32] = [], owner: [Int32] = [], slotOf: [Int] = []
        var singles: [(UInt8, Int32)] = []
        for (o, list) in needles.enumerated() {
            for n in list where !n.isEmpty {
                if n.count == 1 { singles.append((n[0], Int32(o))); continue }
                start.append(Int32(bytes.count)); length.append(Int32(n.count)); owner.append(Int32(o))
                slotOf.append(Self.slot(n[0], n[1]))
                bytes += n
            }
        }
        var slotStart = [Int32](repeating: 0, count: Self.slots + 1)
        for s in slotOf { slotStart[s + 1] += 1 }
        for s in 0..<Self.slots { slotStart[s + 1] += slotStart[s] }
        var next = slotStart
        var slotNeedles = [Int32](repeating: 0, count: slotOf.count)
        for (id, s) in slotOf.enumerated() { slotNeedles[Int(next[s])] = Int32(id); next[s] += 1 }
        self.slotStart = slotStart; self.slotNeedles = slotNeedles; self.bytes = bytes
        needleStart = start; needleLength = length; needleOwner = owner; singleBytes = singles
    }

    @inline(__always) static func slot(_ a: UInt8, _ b: UInt8) -> Int {
        (Int(a) &* 31 &+ Int(b)) & (slots - 1)
    }

    /// Sets `found[owner]` for every owner with a needle in `message` (`found` has `ownerCount`
    /// flags, all false on entry).
    func mark(_ message: String, _ found: UnsafeMutableBufferPointer<Bool>) {
        if message.utf8.withContiguousStorageIfAvailable({ scan($0, found) }) != nil { return }
        var copy = message
        copy.withUTF8 { scan($0, found) }
    }

    private func scan(_ hay: UnsafeBufferPointer<UInt8>, _ found: UnsafeMutableBufferPointer<Bool>) {
        guard let base = hay.baseAddress, hay.count > 0 else { return }
        for (b, o) in singleBytes where !found[Int(o)] {
            if memchr(base, Int32(b), hay.count) != nil { found[Int(o)] = true }
        }
        guard hay.count >= 2 else { return }
        slotStart.withUnsafeBufferPointer { slotStart in
        slotNeedles.withUnsafeBufferPointer { slotNeedles in
        bytes.withUnsafeBufferPointer { bytes in
        needleStart.withUnsafeBufferPointer { needleStart in
        needleLength.withUnsafeBufferPointer { needleLength in
        needleOwner.withUnsafeBufferPointer { needleOwner in
            let n = hay.count
            var p = 0
            while p < n - 1 {
                let s = Self.slot(base[p], base[p + 1])
                var i = Int(slotStart[s])
                let end = Int(slotStart[s + 1])
                while i < end {
                    let id = Int(slotNeedles[i])
                    let o = Int(needleOwner[id])
                    let len = Int(needleLength[id])
                    if !found[o], len <= n - p, memcmp(base + p, bytes.baseAddress! + Int(needleStart[id]), len) == 0 {
                        found[o] = true
                    }
                    i += 1
                }
                p += 1
            }
        }}}}}}
    }
}
