import Foundation

/// The `contains` needles of every matcher in one index bucket (the kernel's, sshd's, the
/// matchers without identifier or transport…), found in one pass over a message instead of one
/// `memchr` scan per needle. With 30 matchers and 80 needles on kernel lines, one pass replaces
/// 80 scans.
///
/// The pass is Wu–Manber's: a window as long as the shortest needle (`minLength`, m) slides
/// over the message; the two bytes at its end say, through `shift`, how far it can move without
/// stepping over the start of any needle (up to m − 1 bytes: most positions are never looked
/// at). Only where the shift is 0 are the needles whose first m bytes end with those two bytes
/// compared, at the window's start.
final class NeedleSet: Sendable {
    /// Slots of the two-byte tables (a hash of the two bytes; a collision only costs a smaller
    /// shift or one more `memcmp`).
    static let slots = 4096
    /// The shortest needle of two bytes or more (one-byte needles go to `memchr`).
    private let minLength: Int
    /// How far the window may move when its last two bytes fall in slot `s`.
    private let shift: [UInt8]
    /// `slotStart[s]..<slotStart[s + 1]` are the needles whose bytes `minLength - 2`,
    /// `minLength - 1` fall in slot `s` (compared when the window's last two bytes do).
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
        let m = needles.joined().filter { $0.count >= 2 }.map(\.count).min() ?? 2
        // The window moves at most m − 1 bytes (255 at most, as shifts are bytes).
        let cap = min(m - 1, Int(UInt8.max))
        var shift = [UInt8](repeating: UInt8(cap), count: Self.slots)
        for (o, list) in needles.enumerated() {
            for n in list where !n.isEmpty {
                if n.count == 1 { singles.append((n[0], Int32(o))); continue }
                start.append(Int32(bytes.count)); length.append(Int32(n.count)); owner.append(Int32(o))
                slotOf.append(Self.slot(n[m - 2], n[m - 1]))
                // The two bytes at j, j + 1 of the needle's first m end a window that must move
                // m − 2 − j bytes to put the needle's start at the window's start.
                for j in 0...(m - 2) {
                    let s = Self.slot(n[j], n[j + 1])
                    shift[s] = min(shift[s], UInt8(min(m - 2 - j, cap)))
                }
                bytes += n
            }
        }
        minLength = m
        self.shift = shift
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
        let m = minLength
        guard hay.count >= m else { return }
        shift.withUnsafeBufferPointer { shift in
        slotStart.withUnsafeBufferPointer { slotStart in
        slotNeedles.withUnsafeBufferPointer { slotNeedles in
        bytes.withUnsafeBufferPointer { bytes in
        needleStart.withUnsafeBufferPointer { needleStart in
        needleLength.withUnsafeBufferPointer { needleLength in
        needleOwner.withUnsafeBufferPointer { needleOwner in
            let n = hay.count
            var p = 0  // the window is hay[p ..< p + m]
            while p <= n - m {
                let s = Self.slot(base[p + m - 2], base[p + m - 1])
                let skip = Int(shift[s])
                if skip > 0 { p += skip; continue }
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
        }}}}}}}
    }
}
