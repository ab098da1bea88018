/// POSIX ustar headers: just what bundles need, written by `TarHeader.encode` and read by
/// `TarStreamParser`. Bundles hold only regular files in the archive's top level.
public enum Tar {
    /// The size of a tar block; headers and member data are padded to it.
    public static let blockSize = 512

    /// Padding needed after `size` bytes of member data.
    public static func padding(for size: Int) -> Int {
        let rest = size % blockSize
        return rest == 0 ? 0 : blockSize - rest
    }

    /// The two zero blocks that end an archive.
    public static let endOfArchive = [UInt8](repeating: 0, count: 2 * blockSize)

    /// A ustar header for a regular file.
    /// - Parameters:
    ///   - name: the member's name, at most 100 bytes of UTF-8 (bundles use short names).
    ///   - size: the member's size in bytes.
    ///   - mtime: seconds since the epoch.
    /// - Throws: `BundleError.unsafePath` for names that do not fit or are unsafe.
    public static func header(name: String, size: Int, mtime: Int, mode: Int = 0o644) throws -> [UInt8] {
        try validate(path: name)
        let nameBytes = Array(name.utf8)
        guard nameBytes.count <= 100 else {
            throw BundleError(.unsafePath, "member name '\(name)' is longer than 100 bytes")
        }
        var h = [UInt8](repeating: 0, count: blockSize)
        func put(_ bytes: [UInt8], at offset: Int) {
            for (i, b) in bytes.enumerated() { h[offset + i] = b }
        }
        func octal(_ value: Int, width: Int) -> [UInt8] {
            // width-1 octal digits, zero padded, then NUL.
            let digits = String(value, radix: 8)
            let padded = String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits
            return Array(padded.utf8) + [0]
        }
        put(nameBytes, at: 0)
        put(octal(mode, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)   // uid
        put(octal(0, width: 8), at: 116)   // gid
        put(octal(size, width: 12), at: 124)
        put(octal(mtime, width: 12), at: 136)
        put(Array(repeating: 0x20, count: 8), at: 148) // checksum counts as spaces
        h[156] = UInt8(ascii: "0")
        put(Array("ustar".utf8) + [0], at: 257)
        put(Array("00".utf8), at: 263)
        put(Array("root".utf8), at: 265)
        put(Array("root".utf8), at: 297)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7) + [0x20], at: 148)
        return h
    }

    /// Checks that `path` is a safe, relative archive path: not empty, not absolute, no `..`
    /// component, no NUL or backslash, at most 255 bytes.
    /// - Throws: `BundleError.unsafePath`.
    public static func validate(path: String) throws {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= 255 else {
            throw BundleError(.unsafePath, "member name is empty or longer than 255 bytes")
        }
        guard bytes[0] != UInt8(ascii: "/") else {
            throw BundleError(.unsafePath, "member '\(path)' has an absolute path; bundles hold relative paths only")
        }
        guard !bytes.contains(0), !bytes.contains(UInt8(ascii: "\\")) else {
            throw BundleError(.unsafePath, "member '\(path)' has a NUL or backslash in its name")
        }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) where component == ".." {
            throw BundleError(.unsafePath, "member '\(path)' climbs out of the bundle with '..'")
        }
    }
}

/// One member's header as read from an archive.
public struct TarEntry: Sendable, Equatable {
    /// The kind of member, from the header's type flag.
    public enum Kind: Sendable, Equatable {
        case file, directory, other(UInt8)
    }
    /// Normalised name (a leading `./` removed, trailing `/` removed for directories).
    public var name: String
    /// Data size in bytes.
    public var size: Int
    /// What the member is.
    public var kind: Kind
}

/// A push parser for tar streams: feed it bytes in chunks of any size, it reports members.
///
/// Handles ustar and GNU headers, PAX extended headers (`path`, `size`) and GNU long names.
/// Does not buffer member data: each chunk is handed on as it arrives.
public struct TarStreamParser {
    /// What the parser reports.
    public enum Event {
        /// A member starts (after any PAX/GNU long-name headers were applied).
        case begin(TarEntry)
        /// A slice of the current member's data.
        case data(UnsafeRawBufferPointer)
        /// The current member is complete.
        case end
    }

    private enum State {
        case header
        case data(remaining: Int, padding: Int)
        case padding(remaining: Int)
        case meta(kind: UInt8, remaining: Int, padding: Int)
        case finished
    }

    private var state: State = .header
    private var headerBuffer: [UInt8] = []
    private var metaBuffer: [UInt8] = []
    private var pendingPath: String?
    private var pendingSize: Int?
    private var zeroBlocks = 0
    /// Largest PAX or GNU long-name header accepted (they are buffered).
    public let maxMetaHeaderBytes: Int

    /// Creates a parser. `maxMetaHeaderBytes` bounds PAX/long-name headers, which are buffered.
    public init(maxMetaHeaderBytes: Int = 64 * 1024) {
        self.maxMetaHeaderBytes = maxMetaHeaderBytes
    }

    /// True once the end-of-archive marker was read.
    public var isFinished: Bool { if case .finished = state { return true } else { return false } }

    /// Parses `bytes`, reporting events to `handler`.
    /// - Throws: `BundleError.corruptTar` for malformed headers, or what `handler` throws.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, handler: (Event) throws -> Void) throws {
        var rest = bytes
        while !rest.isEmpty {
            switch state {
            case .finished:
                // Anything after the end marker must be zero padding (tar pads to records).
                if rest.contains(where: { $0 != 0 }) {
                    throw BundleError(.corruptTar, "data after the tar end-of-archive marker")
                }
                return
            case .header:
                let need = Tar.blockSize - headerBuffer.count
                let take = min(need, rest.count)
                headerBuffer.append(contentsOf: rest[rest.startIndex..<rest.startIndex + take])
                rest = UnsafeRawBufferPointer(rebasing: rest[(rest.startIndex + take)...])
                if headerBuffer.count == Tar.blockSize {
                    let block = headerBuffer
                    headerBuffer.removeAll(keepingCapacity: true)
                    try handleHeader(block, handler: handler)
                }
            case let .data(remaining, padding):
                let take = min(remaining, rest.count)
                if take > 0 {
                    try handler(.data(UnsafeRawBufferPointer(rebasing: rest[rest.startIndex..<rest.startIndex + take])))
                    rest = UnsafeRawBufferPointer(rebasing: rest[(rest.startIndex + take)...])
                }
                if remaining - take == 0 {
                    try handler(.end)
                    state = padding > 0 ? .padding(remaining: padding) : .header
                } else {
                    state = .data(remaining: remaining - take, padding: padding)
                }
            case let .padding(remaining):
                let take = min(remaining, rest.count)
                rest = UnsafeRawBufferPointer(rebasing: rest[(rest.startIndex + take)...])
                state = remaining - take == 0 ? .header : .padding(remaining: remaining - take)
            case let .meta(kind, remaining, padding):
                let take = min(remaining, rest.count)
                metaBuffer.append(contentsOf: rest[rest.startIndex..<rest.startIndex + take])
                rest = UnsafeRawBufferPointer(rebasing: rest[(rest.startIndex + take)...])
                if remaining - take == 0 {
                    try applyMeta(kind: kind)
                    state = padding > 0 ? .padding(remaining: padding) : .header
                } else {
                    state = .meta(kind: kind, remaining: remaining - take, padding: padding)
                }
            }
        }
    }

    /// Checks that the archive ended properly: not inside a header or member.
    /// A missing end-of-archive marker after a complete member is tolerated, as GNU tar does.
    /// - Throws: `BundleError.corruptTar`.
    public func finish() throws {
        switch state {
        case .finished:
            return
        case .header where headerBuffer.isEmpty && pendingPath == nil && pendingSize == nil:
            return
        default:
            throw BundleError(.corruptTar, "the tar stream ends in the middle of a member; the bundle is truncated")
        }
    }

    private mutating func handleHeader(_ block: [UInt8], handler: (Event) throws -> Void) throws {
        if block.allSatisfy({ $0 == 0 }) {
            zeroBlocks += 1
            if zeroBlocks == 2 { state = .finished }
            return
        }
        if zeroBlocks > 0 {
            throw BundleError(.corruptTar, "a zero block in the middle of the tar stream")
        }
        guard Self.checksumMatches(block) else {
            throw BundleError(.corruptTar, "a tar header's checksum does not match; the bundle is damaged")
        }
        let typeflag = block[156]
        guard let size = Self.parseNumber(block[124..<136]) else {
            throw BundleError(.corruptTar, "a tar header has an unreadable size field")
        }
        let dataSize = pendingSize ?? size
        switch typeflag {
        case UInt8(ascii: "x"), UInt8(ascii: "L"):
            guard size <= maxMetaHeaderBytes else {
                throw BundleError(.corruptTar, "a PAX or long-name header of \(size) bytes exceeds \(maxMetaHeaderBytes)")
            }
            metaBuffer.removeAll(keepingCapacity: true)
            state = size == 0 ? .header : .meta(kind: typeflag, remaining: size, padding: Tar.padding(for: size))
            if size == 0 { try applyMeta(kind: typeflag) }
            return
        case UInt8(ascii: "g"):
            // A global PAX header applies to the archive as a whole; bundles ignore it. Its size
            // may be a base-256 number near `Int.max`, so the padding is added with a check.
            let (skip, overflow) = size.addingReportingOverflow(Tar.padding(for: size))
            guard !overflow else {
                throw BundleError(.corruptTar, "a global PAX header declares an impossible size of \(size) bytes")
            }
            state = size == 0 ? .header : .padding(remaining: skip)
            return
        default:
            break
        }
        var name = pendingPath ?? Self.headerName(block)
        pendingPath = nil
        pendingSize = nil
        while name.hasPrefix("./") { name.removeFirst(2) }
        let kind: TarEntry.Kind
        switch typeflag {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
            kind = .file
        case UInt8(ascii: "5"):
            kind = .directory
            while name.hasSuffix("/") { name.removeLast() }
        default:
            kind = .other(typeflag)
        }
        let entry = TarEntry(name: name, size: kind == .directory ? 0 : dataSize, kind: kind)
        try handler(.begin(entry))
        if entry.size == 0 {
            try handler(.end)
            state = .header
        } else {
            state = .data(remaining: entry.size, padding: Tar.padding(for: entry.size))
        }
    }

    private mutating func applyMeta(kind: UInt8) throws {
        if kind == UInt8(ascii: "L") {
            var bytes = metaBuffer
            while let last = bytes.last, last == 0 { bytes.removeLast() }
            pendingPath = String(decoding: bytes, as: UTF8.self)
            return
        }
        // PAX records: "<length> <key>=<value>\n"
        var index = 0
        let buffer = metaBuffer
        while index < buffer.count {
            // The length counts the whole record, its digits and closing newline included: it
            // must reach past the space and end at a newline inside the buffer (a shorter one
            // made the record's range run backwards, a huge one overflowed `index + length`).
            guard let space = buffer[index...].firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: buffer[index..<space], as: UTF8.self)),
                  length > space - index + 1, length <= buffer.count - index,
                  buffer[index + length - 1] == UInt8(ascii: "\n") else {
                throw BundleError(.corruptTar, "a PAX extended header is malformed")
            }
            let record = buffer[(space + 1)..<(index + length - 1)]
            if let eq = record.firstIndex(of: UInt8(ascii: "=")) {
                let key = String(decoding: record[record.startIndex..<eq], as: UTF8.self)
                let value = String(decoding: record[(eq + 1)...], as: UTF8.self)
                switch key {
                case "path": pendingPath = value
                case "size":
                    guard let s = Int(value), s >= 0 else {
                        throw BundleError(.corruptTar, "a PAX size record is not a number")
                    }
                    pendingSize = s
                default: break
                }
            }
            index += length
        }
    }

    private static func headerName(_ block: [UInt8]) -> String {
        func field(_ range: Range<Int>) -> String {
            let slice = block[range]
            let end = slice.firstIndex(of: 0) ?? range.upperBound
            return String(decoding: block[range.lowerBound..<end], as: UTF8.self)
        }
        let name = field(0..<100)
        // ustar splits long names into prefix/name; GNU headers use those bytes otherwise.
        let isUstar = block[257..<262].elementsEqual("ustar".utf8) && block[262] == 0
        if isUstar {
            let prefix = field(345..<500)
            if !prefix.isEmpty { return prefix + "/" + name }
        }
        return name
    }

    static func parseNumber(_ field: ArraySlice<UInt8>) -> Int? {
        if let first = field.first, first & 0x80 != 0 {
            // GNU base-256 encoding for large values.
            var value = Int(first & 0x7f)
            for b in field.dropFirst() {
                guard value < (Int.max >> 8) else { return nil }
                value = (value << 8) | Int(b)
            }
            return value
        }
        var value = 0
        var sawDigit = false
        for b in field {
            if b == 0 || b == 0x20 { if sawDigit { break } else { continue } }
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "7") else { return nil }
            guard value < (Int.max >> 3) else { return nil }
            value = value * 8 + Int(b - UInt8(ascii: "0"))
            sawDigit = true
        }
        return value
    }

    private static func checksumMatches(_ block: [UInt8]) -> Bool {
        guard let stored = parseNumber(block[148..<156]) else { return false }
        var unsigned = 0
        var signed = 0
        for (i, b) in block.enumerated() {
            let v = (148..<156).contains(i) ? 0x20 : b
            unsigned += Int(v)
            signed += Int(Int8(bitPattern: v))
        }
        return stored == unsigned || stored == signed
    }
}
