import Foundation

/// The journal view's text search: does a message contain the searched text, ignoring case.
///
/// One definition for both ways a page is answered (scanning the blob, or the SQLite index),
/// so both give the same entries. Case is ignored by mapping every Unicode scalar to its
/// lowercase form when that form is a single scalar (`A`→`a`, `Ä`→`ä`, `Σ`→`σ`, Kelvin
/// sign→`k`); scalars whose lowercase is several scalars (`İ`) are kept as they are. The
/// needle must then occur as a run of scalars: a substring, not words, and not dependent
/// on the server's locale (the blob scan used `localizedCaseInsensitiveContains`, whose ICU
/// matching also skips ignorable characters and cannot be reproduced by an index).
public enum JournalText {
    /// `text` with case folded as described above.
    public static func fold(_ text: String) -> String {
        // Most journal text is ASCII: fold it byte by byte.
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            guard text.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { return text }
            return String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.isASCII {
                out.append(scalar.value >= 0x41 && scalar.value <= 0x5A ? Unicode.Scalar(scalar.value | 0x20)! : scalar)
                continue
            }
            let lower = scalar.properties.lowercaseMapping.unicodeScalars
            if lower.count == 1, let only = lower.first { out.append(only) } else { out.append(scalar) }
        }
        return String(out)
    }

    /// Whether `message` contains `foldedNeedle` (already `fold`ed) ignoring case.
    /// An empty needle is contained in every message.
    public static func contains(_ message: String, foldedNeedle: String) -> Bool {
        if foldedNeedle.isEmpty { return true }
        var hay = fold(message)
        var needle = foldedNeedle
        // Both are valid UTF-8, so a byte substring is a scalar substring.
        return hay.withUTF8 { h in needle.withUTF8 { n in find(n, in: h) } }
    }

    /// Whether `n` (not empty) occurs in `h`: memchr for its first byte, then memcmp.
    private static func find(_ n: UnsafeBufferPointer<UInt8>, in h: UnsafeBufferPointer<UInt8>) -> Bool {
        guard n.count <= h.count, let hb = h.baseAddress, let nb = n.baseAddress else { return false }
        let last = h.count - n.count
        var i = 0
        while i <= last {
            guard let found = memchr(hb + i, Int32(nb[0]), last - i + 1) else { return false }
            let at = UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self))
            if memcmp(at, nb, n.count) == 0 { return true }
            i = at - hb + 1
        }
        return false
    }

    /// The longest run of printable ASCII in `foldedNeedle` (empty when it has none). Every
    /// message containing the needle contains the run, whether case is folded by `fold`,
    /// by FTS5, or by SQLite's `lower()` once the Kelvin sign is replaced by `k`: an ASCII
    /// character of a folded message comes from that character, its uppercase or the
    /// Kelvin sign (the only non-ASCII scalar whose single-scalar lowercase is ASCII; a test
    /// walks every scalar to keep that true), one scalar each. Control characters end a run:
    /// FTS5's query parser need not take them literally.
    public static func longestASCIIRun(_ foldedNeedle: String) -> String {
        var best: [Unicode.Scalar] = []
        var run: [Unicode.Scalar] = []
        for scalar in foldedNeedle.unicodeScalars {
            if scalar.value >= 0x20 && scalar.value < 0x7F {
                run.append(scalar)
            } else {
                if run.count > best.count { best = run }
                run.removeAll(keepingCapacity: true)
            }
        }
        if run.count > best.count { best = run }
        var text = String.UnicodeScalarView()
        text.append(contentsOf: best)
        return String(text)
    }

    /// An FTS5 query for the trigram index (case-insensitive, `detail=none`) that every
    /// message containing `foldedNeedle` matches, or nil when the needle offers none.
    ///
    /// The trigrams of `longestASCIIRun` (at least 3 characters), ANDed: FTS5 positions are
    /// scalars too, so the run, and each of its trigrams, is in every matching message as
    /// FTS5 sees it. The query only narrows: `contains` decides.
    public static func trigramQuery(foldedNeedle: String) -> String? {
        var best = Array(longestASCIIRun(foldedNeedle).unicodeScalars)
        guard best.count >= 3 else { return nil }
        // Any part of the run narrows soundly; more trigrams only cost FTS5 more work.
        if best.count > 32 { best.removeLast(best.count - 32) }
        var seen: Set<String> = []
        var terms: [String] = []
        for i in 0...(best.count - 3) {
            var trigram = String.UnicodeScalarView()
            trigram.append(contentsOf: best[i..<(i + 3)])
            let text = String(trigram)
            guard seen.insert(text.lowercased()).inserted else { continue }
            // An FTS5 string: inside double quotes everything is literal except a doubled quote.
            terms.append("\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"")
        }
        return terms.joined(separator: " AND ")
    }
}
