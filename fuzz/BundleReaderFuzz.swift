// libFuzzer target `bundle-reader`: arbitrary bytes as an uploaded bundle.
//
// Compiled by scripts/fuzz.sh into one module with Sources/Shared (so `internal` is visible).
// Input starting with the gzip magic (1f 8b) goes to `BundleReader` as it is: the upload path.
// Any other input is taken as a plain tar stream and gzip-compressed first, so mutations reach
// the tar parser and the member decoders instead of dying at the gzip CRC check.
//
// Checks (a violation traps, which libFuzzer reports as a crash):
// - no trap, no out-of-bounds access, no overflow anywhere in the reader;
// - only `BundleError`s are thrown;
// - an accepted bundle respects every limit: compressed and uncompressed totals, member count,
//   member sizes, safe unique names, `manifest.json` first;
// - every journal entry handed to `onJournalEntry` re-encodes and parses back equal;
// - `BundleReader.read(path:)`, which reads, inflates and parses on threads of its own, gives
//   the same entries and the same error or contents as `feed` on one thread given the file's
//   bytes in one piece (as it reads them: the chunking decides where zlib reports an error).

/// Small limits so every input stays fast; the same values as `FuzzRegressionTests`.
let fuzzBundleLimits = BundleLimits(
    maxCompressedBytes: 256 << 10, maxUncompressedBytes: 1 << 20, maxCompressionRatio: 100,
    compressionRatioAllowance: 64 << 10, maxMembers: 32, maxMemberBytes: 256 << 10,
    maxJSONMemberBytes: 64 << 10, maxManifestBytes: 16 << 10, maxNoteBytes: 4 << 10,
    maxJournalLineBytes: 8 << 10, maxUnknownMemberBytes: 16 << 10)

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    if size >= 2, input[0] == 0x1F, input[1] == 0x8B {
        checkBundle(input)
    } else {
        var compressed: [UInt8] = []
        do {
            let deflater = try GzipDeflater(level: 1, bufferSize: 16 << 10)
            try deflater.compress(input) { compressed.append(contentsOf: $0) }
            try deflater.finish { compressed.append(contentsOf: $0) }
        } catch {
            failCheck("gzip-compressing \(size) bytes failed: \(error)")
        }
        compressed.withUnsafeBytes { checkBundle($0) }
    }
    return 0
}

/// Reads `gz` in chunks whose size depends on the input, so chunk boundaries move around.
func checkBundle(_ gz: UnsafeRawBufferPointer) {
    let limits = fuzzBundleLimits
    defer { checkThreadedRead(gz, limits: limits) }
    var entries = 0
    let contents: BundleContents
    do {
        let reader = try BundleReader(limits: limits) { entry in
            entries += 1
            checkJournalRoundTrip(entry)
        }
        let chunk = 1 + gz.count % 509
        var start = 0
        while start < gz.count {
            let end = min(start + chunk, gz.count)
            try reader.feed(UnsafeRawBufferPointer(rebasing: gz[start..<end]))
            start = end
        }
        contents = try reader.finish()
    } catch is BundleError {
        return
    } catch {
        failCheck("BundleReader threw a non-BundleError: \(error)")
    }
    require(contents.compressedBytes == gz.count, "compressedBytes \(contents.compressedBytes) != \(gz.count)")
    require(contents.compressedBytes <= limits.maxCompressedBytes, "compressed \(contents.compressedBytes)")
    require(contents.uncompressedBytes <= limits.maxUncompressedBytes, "uncompressed \(contents.uncompressedBytes)")
    require(contents.members.count <= limits.maxMembers, "\(contents.members.count) members")
    require(contents.members.first?.name == BundleMember.manifest, "first member \(String(describing: contents.members.first))")
    require(contents.journalEntries == entries, "journalEntries \(contents.journalEntries) != \(entries) seen")
    var names = Set<String>()
    for member in contents.members {
        require(names.insert(member.name).inserted, "member \(member.name) twice")
        require((try? Tar.validate(path: member.name)) != nil, "unsafe member name \(member.name)")
        require(member.bytes >= 0 && member.bytes <= limits.maxMemberBytes, "member \(member.name) of \(member.bytes)")
    }
    if let note = contents.note { require(note.utf8.count <= limits.maxNoteBytes, "note of \(note.utf8.count) bytes") }
}

/// One read of `gz`: the entries delivered, then the contents or the error.
func readOutcome(_ body: (_ onJournalEntry: @escaping (JournalEntry) -> Void) throws -> BundleContents)
    -> (entries: [JournalEntry], result: Result<BundleContents, BundleError>) {
    final class Seen { var entries: [JournalEntry] = [] }
    let seen = Seen()
    do {
        let contents = try body { seen.entries.append($0) }
        return (seen.entries, .success(contents))
    } catch let error as BundleError {
        return (seen.entries, .failure(error))
    } catch {
        failCheck("BundleReader threw a non-BundleError: \(error)")
    }
}

/// Writes `gz` to a file and reads it with `BundleReader.read(path:)` (three threads): it must
/// deliver the entries `feed` delivers on one thread, and end with the same error or contents.
func checkThreadedRead(_ gz: UnsafeRawBufferPointer, limits: BundleLimits) {
    let path = "/tmp/helpline-fuzz-bundle-reader-\(getpid()).tar.gz"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    require(fd >= 0, "could not create \(path)")
    var written = 0
    while written < gz.count {
        let n = write(fd, gz.baseAddress! + written, gz.count - written)
        require(n > 0, "could not write \(path)")
        written += n
    }
    close(fd)
    defer { unlink(path) }
    // Inputs are at most 64 KB (-max_len): read(path:) reads them in one piece, and so does this.
    let oneThread = readOutcome { onEntry in
        let reader = try BundleReader(limits: limits, onJournalEntry: onEntry)
        try reader.feed(gz)
        return try reader.finish()
    }
    let threaded = readOutcome { onEntry in try BundleReader.read(path: path, limits: limits, onJournalEntry: onEntry) }
    require(threaded.entries == oneThread.entries, "read(path:) delivered \(threaded.entries.count) entries, feed \(oneThread.entries.count)")
    switch (threaded.result, oneThread.result) {
    case (.failure(let a), .failure(let b)):
        require(a == b, "read(path:) failed with \(a), feed with \(b)")
    case (.success(let a), .success(let b)):
        require(a.members == b.members && a.journalEntries == b.journalEntries && a.compressedBytes == b.compressedBytes
                && a.uncompressedBytes == b.uncompressedBytes && a.note == b.note && a.manifest == b.manifest,
                "read(path:) and feed read different contents")
    default:
        failCheck("read(path:) gave \(threaded.result), feed \(oneThread.result)")
    }
}
