/// Parses the lines of one `journal.jsonl` in order, sharing the strings that repeat from
/// line to line.
///
/// `JournalLineCodec.parse(_:)` makes every field a new `String`; a journal's boot ids, units,
/// executables and identifiers take a handful of values, so a decoder that reads a whole
/// member keeps the recent ones (a small bounded cache) and hands the same storage out
/// again. Entries are equal to what `parse(_:)` returns. One decoder per stream; not
/// thread-safe (it is a value: copies do not share the cache).
public struct JournalLineDecoder: Sendable {
    private var strings: StringInterner

    /// A decoder whose cache holds up to `sharedStrings` recent field values (0 shares none).
    public init(sharedStrings: Int = 1024) {
        strings = StringInterner(capacity: sharedStrings)
    }

    /// Parses one line (without its newline), as `JournalLineCodec.parse(_:)` does.
    /// - Throws: `BundleError.invalidJSON` when the line is not a JSON object with a `ts` number.
    public mutating func decode(_ line: UnsafeRawBufferPointer) throws -> JournalEntry {
        try JournalLineCodec.parse(line, strings: &strings)
    }
}
