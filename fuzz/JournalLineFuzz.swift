// libFuzzer target `journal-line`: arbitrary bytes as one line of `journal.jsonl`.
//
// Compiled by scripts/fuzz.sh into one module with Sources/Shared and JournalRoundTrip.swift.
//
// Checks (a violation traps, which libFuzzer reports as a crash):
// - `JournalLineCodec.parse` never traps and throws only `BundleError.invalidJSON`;
// - a string-sharing `JournalLineDecoder` accepts and rejects exactly what `parse` does and
//   returns equal entries;
// - what parses re-encodes (`JournalLineCodec.append`) as one line that parses back equal.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    checkJournalLine(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Runs every check on one line (without its newline).
func checkJournalLine(_ line: UnsafeRawBufferPointer) {
    let entry: JournalEntry?
    do {
        entry = try JournalLineCodec.parse(line)
    } catch let error as BundleError {
        require(error.code == .invalidJSON, "parse threw \(error)")
        entry = nil
    } catch {
        failCheck("parse threw a non-BundleError: \(error)")
    }
    var decoder = JournalLineDecoder(sharedStrings: 8)
    let decoded = try? decoder.decode(line)
    require(decoded == entry, "JournalLineDecoder read \(String(describing: decoded)), parse read \(String(describing: entry))")
    if let entry { checkJournalRoundTrip(entry) }
}
