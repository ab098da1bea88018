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
// - every journal entry handed to `onJournalEntry` re-encodes and parses back equal.

/// Small limits so every input stays fast; the same values as `FuzzRegressionTests`.
let fuzzBundleLimits = BundleLimits(
    maxCompressedBytes: 256 << 10, maxUncompressedBytes: 1 << 20, maxCompressionRatio: 100,
    compressionRatioAllowance: 64 << 10, maxMembers: 32, maxMemberBytes: 256 << 10,
    maxJSONMemberBytes: 64 << 10, maxManifestBytes: 16 << 10, maxNoteBytes: 4 << 10,
    maxJournalLineBytes: 8 << 10, maxUnknownMemberBytes: 16 << 10)

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
