// Shared by the `bundle-reader` and `journal-line` fuzz targets (compiled into both).

/// Checks that `entry` encodes as exactly one line that parses back to an equal entry, and
/// that a string-sharing `JournalLineDecoder` reads that line the same way, twice in a row
/// (the second read comes from its cache). Traps otherwise.
func checkJournalRoundTrip(_ entry: JournalEntry) {
    var line: [UInt8] = []
    JournalLineCodec.append(entry, to: &line)
    require(line.last == 0x0A && line.dropLast().firstIndex(of: 0x0A) == nil, "encoded entry is not one line")
    line.removeLast()
    line.withUnsafeBytes { bytes in
        let again: JournalEntry
        do { again = try JournalLineCodec.parse(bytes) } catch {
            failCheck("re-encoded entry does not parse (\(error)): \(String(decoding: bytes, as: UTF8.self))")
        }
        require(again == entry, "round trip changed the entry: \(entry) -> \(again)")
        var decoder = JournalLineDecoder(sharedStrings: 16)
        for _ in 0..<2 {
            let shared = try? decoder.decode(bytes)
            require(shared == entry, "JournalLineDecoder read \(String(describing: shared)), parse read \(entry)")
        }
    }
}
