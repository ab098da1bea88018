import Foundation

/// What a bundle holds, as read and validated by `BundleReader`.
public struct BundleContents: Sendable {
    /// A member's name and uncompressed size.
    public struct Member: Sendable, Equatable, Codable {
        public var name: String
        public var bytes: Int
    }
    public var manifest: Manifest
    public var system: SystemInfo?
    public var memory: MemoryInfo?
    public var disks: DiskInfo?
    public var processes: ProcessList?
    public var network: NetworkInfo?
    public var units: UnitsInfo?
    /// The user's note (`note.txt`).
    public var note: String?
    /// Lines of `journal.jsonl` (0 when absent).
    public var journalEntries: Int
    /// Every regular member, in archive order.
    public var members: [Member]
    /// Compressed bytes read.
    public var compressedBytes: Int
    /// Uncompressed bytes produced (tar headers included).
    public var uncompressedBytes: Int

    /// Contents put together by hand (tests, tools); readers get theirs from `BundleReader`.
    public init(manifest: Manifest, system: SystemInfo? = nil, memory: MemoryInfo? = nil, disks: DiskInfo? = nil,
                processes: ProcessList? = nil, network: NetworkInfo? = nil, units: UnitsInfo? = nil, note: String? = nil,
                journalEntries: Int = 0, members: [Member] = [], compressedBytes: Int = 0, uncompressedBytes: Int = 0) {
        self.manifest = manifest; self.system = system; self.memory = memory; self.disks = disks; self.processes = processes
        self.network = network; self.units = units; self.note = note; self.journalEntries = journalEntries; self.members = members
        self.compressedBytes = compressedBytes; self.uncompressedBytes = uncompressedBytes
    }
}

/// Reads a bundle from a stream of compressed bytes, enforcing `BundleLimits` as it goes.
///
/// The collector's front door: hostile input gets a `BundleError` and never a crash, and
/// nothing is inflated past a limit. Feed chunks with `feed(_:)`, then call `finish()`.
/// Journal lines are parsed one by one and handed to `onJournalEntry` (never buffered
/// whole); typed JSON members are buffered up to `maxJSONMemberBytes` and decoded.
public final class BundleReader {
    /// The limits in force.
    public let limits: BundleLimits
    private let inflater: GzipInflater
    private var tar = TarStreamParser()
    private let onJournalEntry: ((JournalEntry) throws -> Void)?

    private var compressedBytes = 0
    private var memberCount = 0
    private var seen: Set<String> = []
    private var members: [BundleContents.Member] = []
    private var current: (name: String, kind: MemberKind)?
    private var buffer: [UInt8] = []
    private var lineBuffer: [UInt8] = []
    private var journalEntries = 0
    private var journalDecoder = JournalLineDecoder()

    private var manifest: Manifest?
    private var system: SystemInfo?
    private var memory: MemoryInfo?
    private var disks: DiskInfo?
    private var processes: ProcessList?
    private var network: NetworkInfo?
    private var units: UnitsInfo?
    private var note: String?

    private enum MemberKind { case manifest, json, journal, note, ignored }

    /// Creates a reader.
    /// - Parameters:
    ///   - limits: what to enforce.
    ///   - onJournalEntry: called with each `journal.jsonl` entry, in order.
    public init(limits: BundleLimits = .default, onJournalEntry: ((JournalEntry) throws -> Void)? = nil) throws {
        self.limits = limits
        self.onJournalEntry = onJournalEntry
        inflater = try GzipInflater(maxOutput: limits.maxUncompressedBytes, maxRatio: limits.maxCompressionRatio,
                                    ratioAllowance: limits.compressionRatioAllowance)
    }

    /// Reads the next compressed chunk.
    /// - Throws: `BundleError` at the first violation; the reader is then unusable.
    public func feed(_ chunk: UnsafeRawBufferPointer) throws {
        compressedBytes += chunk.count
        guard compressedBytes <= limits.maxCompressedBytes else {
            throw BundleError(.compressedTooLarge, "the bundle is larger than the limit of \(limits.maxCompressedBytes) compressed bytes")
        }
        try inflater.decompress(chunk) { plain in try feedUncompressed(plain) }
    }

    /// The tar and member stage, fed bytes someone else inflated (`read(path:)`'s inflate thread).
    private func feedUncompressed(_ plain: UnsafeRawBufferPointer) throws {
        try tar.feed(plain) { event in try handle(event) }
    }

    /// Reads the next compressed chunk.
    public func feed(_ chunk: [UInt8]) throws {
        try chunk.withUnsafeBytes { try feed($0) }
    }

    /// Checks the stream ended cleanly and returns what it held.
    /// - Throws: `BundleError` (`.truncatedGzip`, `.corruptTar`, `.missingManifest`…).
    public func finish() throws -> BundleContents {
        try inflater.finish()
        return try finishMembers(compressedBytes: compressedBytes, uncompressedBytes: inflater.totalOut)
    }

    /// The end of `finish()` after the gzip stream was checked: the tar stream and the members.
    private func finishMembers(compressedBytes: Int, uncompressedBytes: Int) throws -> BundleContents {
        try tar.finish()
        guard let manifest else {
            throw BundleError(.missingManifest, "the bundle has no manifest.json; it was not made by helpline")
        }
        return BundleContents(manifest: manifest, system: system, memory: memory, disks: disks, processes: processes,
                              network: network, units: units, note: note, journalEntries: journalEntries,
                              members: members, compressedBytes: compressedBytes, uncompressedBytes: uncompressedBytes)
    }

    /// Journal entries per batch handed to the calling thread: locking is rare, a batch stays in cache.
    static let journalBatchSize = 512
    /// Batches waiting at most (about 2 000 entries, a few hundred KB).
    static let journalBatchesWaiting = 4
    /// Inflated chunks waiting at most (zlib gives up to 64 KB at a time: at most 1 MB waits).
    static let chunksWaiting = 16

    /// What the inflate thread reports when the gzip stream ended cleanly.
    private struct InflateTotals: Sendable {
        var compressedBytes: Int
        var uncompressedBytes: Int
    }

    /// Reads a whole bundle file.
    ///
    /// With `onJournalEntry`, the work runs on three threads joined by bounded queues
    /// (`BoundedHandOff`, so a large bundle is never held whole): one reads and inflates the
    /// file, one parses the tar stream and the members, and `onJournalEntry` runs on the
    /// calling thread; on two cores this nearly halves a diagnosis's wall time. Results and
    /// errors are those of a read on one thread: entries arrive in order, everything before a
    /// damaged spot is delivered before the error is thrown, and an error thrown by
    /// `onJournalEntry` stops the read and is rethrown. Both threads are joined before this
    /// returns or throws; when the system gives no thread, the work is done on fewer.
    /// - Throws: `BundleError`, including `.io` when the file cannot be read, or what
    ///   `onJournalEntry` throws.
    public static func read(path: String, limits: BundleLimits = .default,
                            onJournalEntry: ((JournalEntry) throws -> Void)? = nil) throws -> BundleContents {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BundleError(.io, "could not open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard let onJournalEntry else {
            return try read(fd: fd, path: path, reader: BundleReader(limits: limits))
        }
        let entries = BoundedHandOff<[JournalEntry], BundleContents>(capacity: journalBatchesWaiting)
        let parser = JoinableThread.start { parse(fd: fd, path: path, limits: limits, to: entries) }
        guard let parser else {
            // No thread to be had (a process or memory limit): read on this one.
            return try read(fd: fd, path: path, reader: BundleReader(limits: limits, onJournalEntry: onJournalEntry))
        }
        defer {
            entries.cancel()
            parser.join()
        }
        while let batch = entries.take() {
            for i in batch.indices { try onJournalEntry(batch[i]) }
        }
        return try entries.result.get()
    }

    /// The parse thread: tar, members and journal lines, handing entries on in batches. Inflating
    /// goes to a thread of its own when one can be had.
    private static func parse(fd: Int32, path: String, limits: BundleLimits,
                              to entries: BoundedHandOff<[JournalEntry], BundleContents>) {
        var batch: [JournalEntry] = []
        batch.reserveCapacity(journalBatchSize)
        let result = Result<BundleContents, any Error> {
            let reader = try BundleReader(limits: limits) { entry in
                batch.append(entry)
                if batch.count == journalBatchSize {
                    guard entries.put(batch) else { throw CancellationError() }
                    batch.removeAll(keepingCapacity: true)
                }
            }
            let chunks = BoundedHandOff<[UInt8], InflateTotals>(capacity: chunksWaiting)
            guard let inflating = JoinableThread.start({ inflate(fd: fd, path: path, limits: limits, to: chunks) }) else {
                // Checked per chunk too: after the journal, an attachment may be inflated for long.
                return try read(fd: fd, path: path, reader: reader) { entries.isCancelled }
            }
            defer {
                chunks.cancel()
                inflating.join()
            }
            while let chunk = chunks.take() {
                // A chunk of an attachment hands on no entry: the caller's stop is checked here too.
                if entries.isCancelled { throw CancellationError() }
                try chunk.withUnsafeBytes { try reader.feedUncompressed($0) }
            }
            // The inflate thread's error comes after every chunk it inflated before it, as on one thread.
            let totals = try chunks.result.get()
            return try reader.finishMembers(compressedBytes: totals.compressedBytes, uncompressedBytes: totals.uncompressedBytes)
        }
        // The entries read before an error go first, as a read on one thread delivers them.
        if !batch.isEmpty { _ = entries.put(batch) }
        entries.finish(result)
    }

    /// The inflate thread: reads the file, checks the compressed-size limit and inflates (the
    /// inflater checks the others), handing the uncompressed bytes on in chunks.
    private static func inflate(fd: Int32, path: String, limits: BundleLimits, to chunks: BoundedHandOff<[UInt8], InflateTotals>) {
        let result = Result<InflateTotals, any Error> {
            let inflater = try GzipInflater(maxOutput: limits.maxUncompressedBytes, maxRatio: limits.maxCompressionRatio,
                                            ratioAllowance: limits.compressionRatioAllowance)
            var compressedBytes = 0
            try readChunks(fd: fd, path: path, stop: { chunks.isCancelled }) { chunk in
                compressedBytes += chunk.count
                guard compressedBytes <= limits.maxCompressedBytes else {
                    throw BundleError(.compressedTooLarge, "the bundle is larger than the limit of \(limits.maxCompressedBytes) compressed bytes")
                }
                try inflater.decompress(chunk) { plain in
                    guard chunks.put([UInt8](plain)) else { throw CancellationError() }
                }
            }
            try inflater.finish()
            return InflateTotals(compressedBytes: compressedBytes, uncompressedBytes: inflater.totalOut)
        }
        chunks.finish(result)
    }

    /// Feeds `reader` the whole of the open file `fd` and finishes it; stops with
    /// `CancellationError` when `stop` says so.
    private static func read(fd: Int32, path: String, reader: BundleReader,
                             stop: () -> Bool = { false }) throws -> BundleContents {
        try readChunks(fd: fd, path: path, stop: stop) { try reader.feed($0) }
        return try reader.finish()
    }

    /// Calls `body` with each chunk of the open file `fd`, up to its end.
    private static func readChunks(fd: Int32, path: String, stop: () -> Bool,
                                   _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            if stop() { throw CancellationError() }
            let n = chunk.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BundleError(.io, "could not read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            try chunk.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    // MARK: - Members

    private func handle(_ event: TarStreamParser.Event) throws {
        switch event {
        case .begin(let entry):
            try begin(entry)
        case .data(let bytes):
            try data(bytes)
        case .end:
            try end()
        }
    }

    private func begin(_ entry: TarEntry) throws {
        memberCount += 1
        guard memberCount <= limits.maxMembers else {
            throw BundleError(.tooManyMembers, "the bundle has more than \(limits.maxMembers) members")
        }
        if entry.kind == .directory && (entry.name.isEmpty || entry.name == ".") {
            current = (entry.name, .ignored)  // the archive's own top folder, as `tar czf x -C dir .` writes
            return
        }
        try Tar.validate(path: entry.name)
        switch entry.kind {
        case .directory:
            current = (entry.name, .ignored)
            return
        case .other(let flag):
            let what: String
            switch flag {
            case UInt8(ascii: "1"): what = "a hard link"
            case UInt8(ascii: "2"): what = "a symbolic link"
            case UInt8(ascii: "3"): what = "a character device"
            case UInt8(ascii: "4"): what = "a block device"
            case UInt8(ascii: "6"): what = "a FIFO"
            default: what = "a member of type '\(Character(Unicode.Scalar(flag)))'"
            }
            throw BundleError(.unsupportedMemberType, "member \(entry.name) is \(what); bundles hold regular files only")
        case .file:
            break
        }
        guard !seen.contains(entry.name) else {
            throw BundleError(.duplicateMember, "member \(entry.name) appears twice")
        }
        seen.insert(entry.name)
        guard entry.size <= limits.maxMemberBytes else {
            throw BundleError(.memberTooLarge, "member \(entry.name) is \(entry.size) bytes, over the limit of \(limits.maxMemberBytes)")
        }
        if members.isEmpty && entry.name != BundleMember.manifest {
            throw BundleError(.missingManifest, "the first member is \(entry.name), not manifest.json; bundles start with their manifest")
        }
        members.append(.init(name: entry.name, bytes: entry.size))
        let kind: MemberKind
        var cap = limits.maxJSONMemberBytes
        switch entry.name {
        case BundleMember.manifest: kind = .manifest; cap = limits.maxManifestBytes
        case BundleMember.journal: kind = .journal; cap = limits.maxMemberBytes
        case BundleMember.note: kind = .note; cap = limits.maxNoteBytes
        case BundleMember.system, BundleMember.memory, BundleMember.disks, BundleMember.processes,
             BundleMember.network, BundleMember.units:
            kind = .json
        default:
            if entry.name.hasPrefix(BundleMember.attachmentsPrefix) {
                kind = .ignored
                cap = limits.maxMemberBytes
            } else {
                kind = .ignored
                cap = limits.maxUnknownMemberBytes
                guard entry.size <= cap else {
                    throw BundleError(.unknownMember, "member \(entry.name) is not part of the bundle format and is larger than \(cap) bytes")
                }
            }
        }
        guard entry.size <= cap else {
            throw BundleError(.memberTooLarge, "member \(entry.name) is \(entry.size) bytes, over its limit of \(cap)")
        }
        current = (entry.name, kind)
        buffer.removeAll(keepingCapacity: true)
        lineBuffer.removeAll(keepingCapacity: true)
    }

    private func data(_ bytes: UnsafeRawBufferPointer) throws {
        guard let current else { return }
        switch current.kind {
        case .manifest, .json, .note:
            buffer.append(contentsOf: bytes)
        case .journal:
            try journalData(bytes)
        case .ignored:
            break
        }
    }

    private func end() throws {
        guard let current else { return }
        self.current = nil
        switch current.kind {
        case .manifest:
            manifest = try Self.decodeManifest(buffer)
        case .json:
            try decodeRecord(current.name)
        case .note:
            guard let text = String(validating: buffer, as: UTF8.self) else {
                throw BundleError(.invalidJSON, "note.txt is not UTF-8 text")
            }
            note = text
        case .journal:
            if !lineBuffer.isEmpty {
                try journalLine(lineBuffer[...])
                lineBuffer.removeAll()
            }
        case .ignored:
            break
        }
        buffer.removeAll(keepingCapacity: false)
    }

    private func journalData(_ bytes: UnsafeRawBufferPointer) throws {
        var start = 0
        while start < bytes.count {
            guard let nl = ByteScan.index(of: 0x0A, in: bytes, from: start) else {
                lineBuffer.append(contentsOf: bytes[start...])
                if lineBuffer.count > limits.maxJournalLineBytes {
                    throw BundleError(.memberTooLarge, "journal.jsonl line \(journalEntries + 1) is longer than \(limits.maxJournalLineBytes) bytes")
                }
                return
            }
            if lineBuffer.isEmpty {
                if nl - start > limits.maxJournalLineBytes {
                    throw BundleError(.memberTooLarge, "journal.jsonl line \(journalEntries + 1) is longer than \(limits.maxJournalLineBytes) bytes")
                }
                if nl > start {
                    try journalLine(UnsafeRawBufferPointer(rebasing: bytes[start..<nl]))
                }
            } else {
                lineBuffer.append(contentsOf: bytes[start..<nl])
                if lineBuffer.count > limits.maxJournalLineBytes {
                    throw BundleError(.memberTooLarge, "journal.jsonl line \(journalEntries + 1) is longer than \(limits.maxJournalLineBytes) bytes")
                }
                try journalLine(lineBuffer[...])
                lineBuffer.removeAll(keepingCapacity: true)
            }
            start = nl + 1
        }
    }

    private func journalLine(_ line: ArraySlice<UInt8>) throws {
        try line.withUnsafeBytes { try journalLine($0) }
    }

    private func journalLine(_ line: UnsafeRawBufferPointer) throws {
        journalEntries += 1
        let entry: JournalEntry
        do { entry = try journalDecoder.decode(line) } catch let e as BundleError {
            throw BundleError(.invalidJSON, "journal.jsonl line \(journalEntries): \(e.message)")
        }
        try onJournalEntry?(entry)
    }

    private struct SchemaProbe: Decodable { var schemaVersion: Int }

    /// Decodes and checks a manifest: schema version first (so a newer format gets a clear
    /// error, not a field-by-field one), then the whole record.
    public static func decodeManifest(_ bytes: [UInt8]) throws -> Manifest {
        let data = Data(bytes)
        let decoder = BundleJSON.decoder()
        let version: Int
        do { version = try decoder.decode(SchemaProbe.self, from: data).schemaVersion } catch {
            throw BundleError(.invalidJSON, "manifest.json is not a JSON object with a schemaVersion: \(Self.describe(error))")
        }
        guard BundleSchema.readable.contains(version) else {
            throw BundleError(.unsupportedSchema, "bundle schema version \(version) is not supported (this side reads \(BundleSchema.readable.lowerBound)–\(BundleSchema.readable.upperBound)); update the collector")
        }
        let manifest: Manifest
        do { manifest = try decoder.decode(Manifest.self, from: data) } catch {
            throw BundleError(.invalidJSON, "manifest.json does not match schema \(version): \(Self.describe(error))")
        }
        guard UUID(uuidString: manifest.bundleID) != nil else {
            throw BundleError(.invalidManifest, "manifest bundleID '\(manifest.bundleID.prefix(64))' is not a UUID")
        }
        guard !manifest.host.hostname.isEmpty, manifest.host.hostname.utf8.count <= 255 else {
            throw BundleError(.invalidManifest, "manifest host.hostname is empty or longer than 255 bytes")
        }
        return manifest
    }

    private func decodeRecord(_ name: String) throws {
        let data = Data(buffer)
        let decoder = BundleJSON.decoder()
        do {
            switch name {
            case BundleMember.system: system = try decoder.decode(SystemInfo.self, from: data)
            case BundleMember.memory: memory = try decoder.decode(MemoryInfo.self, from: data)
            case BundleMember.disks: disks = try decoder.decode(DiskInfo.self, from: data)
            case BundleMember.processes: processes = try decoder.decode(ProcessList.self, from: data)
            case BundleMember.network: network = try decoder.decode(NetworkInfo.self, from: data)
            case BundleMember.units: units = try decoder.decode(UnitsInfo.self, from: data)
            default: break
            }
        } catch {
            throw BundleError(.invalidJSON, "\(name) does not match its schema: \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing \(path(ctx.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong type at \(path(ctx.codingPath))"
        case DecodingError.dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? "not valid JSON" : "bad value at \(path(ctx.codingPath))"
        default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
