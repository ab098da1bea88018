import Foundation
import Shared

/// Reads members back out of a stored blob, streaming (the blob was validated at upload,
/// but limits still apply: the blob folder is not trusted more than it must be).
public struct BundleArchive: Sendable {
    /// The blob.
    public let path: String
    /// Limits for re-reading.
    public let limits: BundleLimits
    /// When a read must give up (`ReadBudgetExceeded`); nil reads to the end.
    public let deadline: ContinuousClock.Instant?

    /// A read ran past its deadline.
    public struct ReadBudgetExceeded: Error, Sendable {}

    /// Opens nothing yet; each call streams the blob once.
    public init(path: String, limits: BundleLimits, deadline: ContinuousClock.Instant? = nil) {
        self.path = path
        self.limits = limits
        self.deadline = deadline
    }

    /// The bytes of one member, or nil when the bundle has no such member.
    /// - Throws: `BundleError` (`.memberTooLarge` past `maxBytes`, `.io`…).
    public func member(_ name: String, maxBytes: Int) throws -> [UInt8]? {
        var found: [UInt8]?
        var inTarget = false
        try stream { event in
            switch event {
            case .begin(let entry):
                inTarget = entry.name == name && entry.kind == .file
                if inTarget {
                    guard entry.size <= maxBytes else {
                        throw BundleError(.memberTooLarge, "member \(name) is \(entry.size) bytes, over the download limit of \(maxBytes); download the whole bundle instead")
                    }
                    found = []
                    found!.reserveCapacity(entry.size)
                }
            case .data(let bytes):
                if inTarget { found!.append(contentsOf: bytes) }
            case .end:
                if inTarget { return false }
            }
            return true
        }
        return found
    }

    /// One page of `journal.jsonl` entries matching `filter`. Stops reading once the page
    /// (plus one entry, to know whether more follow) is full.
    public func journal(_ filter: JournalFilter, offset: Int, limit: Int) throws -> JournalPage {
        var entries: [JournalEntry] = []
        let needle = filter.text.map(JournalText.fold)
        var matched = 0
        var more = false
        var inJournal = false
        var line: [UInt8] = []
        func take(_ bytes: UnsafeRawBufferPointer) throws -> Bool {
            guard !bytes.isEmpty else { return true }
            let entry = try JournalLineCodec.parse(bytes)
            guard filter.matches(entry, foldedText: needle) else { return true }
            matched += 1
            if matched <= offset { return true }
            if entries.count == limit { more = true; return false }
            entries.append(entry)
            return true
        }
        try stream { event in
            switch event {
            case .begin(let entry):
                inJournal = entry.name == BundleMember.journal
            case .data(let bytes):
                guard inJournal else { return true }
                var start = 0
                while start < bytes.count {
                    guard let nl = bytes[start...].firstIndex(of: 0x0A) else {
                        line.append(contentsOf: bytes[start...])
                        guard line.count <= limits.maxJournalLineBytes else {
                            throw BundleError(.memberTooLarge, "a journal line is longer than \(limits.maxJournalLineBytes) bytes")
                        }
                        break
                    }
                    line.append(contentsOf: bytes[start..<nl])
                    let keepGoing = try line.withUnsafeBytes { try take($0) }
                    line.removeAll(keepingCapacity: true)
                    if !keepGoing { return false }
                    start = nl + 1
                }
            case .end:
                if inJournal {
                    if !line.isEmpty { _ = try line.withUnsafeBytes { try take($0) } }
                    return false
                }
            }
            return true
        }
        return JournalPage(entries: entries, offset: offset, limit: limit, nextOffset: more ? offset + entries.count : nil)
    }

    /// Streams the blob through gzip and tar, handing events to `handle` until it returns false.
    func stream(_ handle: (TarStreamParser.Event) throws -> Bool) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BundleError(.io, "could not open the stored bundle \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let inflater = try GzipInflater(maxOutput: limits.maxUncompressedBytes, maxRatio: limits.maxCompressionRatio,
                                        ratioAllowance: limits.compressionRatioAllowance)
        var tar = TarStreamParser()
        var chunk = [UInt8](repeating: 0, count: 128 * 1024)
        var going = true
        struct Stop: Error {}
        do {
            while going {
                if let deadline, ContinuousClock.now >= deadline { throw ReadBudgetExceeded() }
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw BundleError(.io, "could not read the stored bundle \(path): \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                try chunk.withUnsafeBytes { raw in
                    try inflater.decompress(UnsafeRawBufferPointer(rebasing: raw[0..<n])) { plain in
                        try tar.feed(plain) { event in
                            if !(try handle(event)) { going = false; throw Stop() }
                        }
                    }
                }
            }
        } catch is Stop {
            return
        }
    }
}
