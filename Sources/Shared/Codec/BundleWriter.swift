import Foundation

/// Writes a bundle (`.tar.gz`) as its members are produced, with `manifest.json` first.
///
/// The manifest is known only at the end (it records how each probe fared), so members are
/// compressed straight into a body file beside the output as they arrive, and `finish`
/// writes the manifest as the first gzip member and appends the body. A gzip file may be a
/// sequence of members (RFC 1952), which `gzip`, `tar xzf` and `BundleReader` all read as
/// one stream. Memory does not grow with the bundle; the output appears atomically (temp
/// file, fsync, rename) or not at all. Not thread-safe: use from one task at a time;
/// `StreamingMember`s may be filled on other threads.
public final class BundleWriter {
    /// The finished bundle.
    public struct Result: Sendable, Equatable {
        public var path: String
        /// Compressed size in bytes.
        public var bytes: Int
        /// Uncompressed size of each member, in archive order.
        public var members: [BundleContents.Member]
    }

    /// Where the bundle will appear.
    public let path: String
    /// Deflate level (1–9).
    public let level: Int32
    private let body: FileSink
    private let bodyPath: String
    private var deflater: GzipDeflater?
    private var names: Set<String> = [BundleMember.manifest]
    private var members: [BundleContents.Member] = []
    private let mtime: Int
    private var done = false

    /// Starts a bundle that will be written to `path`.
    /// - Parameters:
    ///   - level: deflate level; 1 is fastest, 6 zlib's default.
    ///   - mtime: member modification time, seconds since the epoch.
    /// - Throws: `BundleError.io` when the folder is not writable.
    public init(path: String, level: Int32 = 6, mtime: Date = Date()) throws {
        self.path = path
        self.level = level
        self.mtime = Int(mtime.timeIntervalSince1970)
        bodyPath = path + ".body.\(UUID().uuidString.prefix(8))"
        body = try FileSink(path: bodyPath)
    }

    deinit {
        if !done { body.discard() }
    }

    /// Adds a complete member.
    /// - Throws: `BundleError.duplicateMember`, `.unsafePath`, `.io`.
    public func add(_ name: String, bytes: [UInt8]) throws {
        try claim(name)
        let deflater = try currentDeflater()
        try deflater.compress(try Tar.header(name: name, size: bytes.count, mtime: mtime)) { try body.write($0) }
        try deflater.compress(bytes) { try body.write($0) }
        try deflater.compress([UInt8](repeating: 0, count: Tar.padding(for: bytes.count))) { try body.write($0) }
        members.append(.init(name: name, bytes: bytes.count))
    }

    /// Adds a member holding `value` as JSON.
    public func addJSON<T: Encodable>(_ name: String, _ value: T) throws {
        let data: Data
        do { data = try BundleJSON.encoder().encode(value) } catch {
            throw BundleError(.invalidJSON, "could not encode \(name): \(error)")
        }
        try add(name, bytes: [UInt8](data))
    }

    /// Opens a member whose size is not known in advance; fill it (from any one thread),
    /// then pass it to `append(_:)`.
    public func makeStreamingMember(_ name: String) throws -> StreamingMember {
        try Tar.validate(path: name)
        guard !names.contains(name) else {
            throw BundleError(.duplicateMember, "member \(name) was already added")
        }
        return try StreamingMember(name: name, path: path + ".\(name).\(UUID().uuidString.prefix(8))", level: level)
    }

    /// Adds a finished streaming member to the bundle (its header, then its compressed data).
    public func append(_ member: StreamingMember) throws {
        try claim(member.name)
        try member.finish()
        // End the body's current gzip member, write the header in a gzip member of its
        // own, then the member's already-compressed data.
        try endDeflater()
        let headerDeflater = try GzipDeflater(level: level)
        try headerDeflater.compress(try Tar.header(name: member.name, size: member.size, mtime: mtime)) { try body.write($0) }
        try headerDeflater.finish { try body.write($0) }
        try member.copyCompressed(to: body)
        member.discard()
        members.append(.init(name: member.name, bytes: member.size))
    }

    /// Writes the manifest first, then everything added, and puts the bundle in place.
    /// - Throws: `BundleError.io` (nothing is left at `path` then).
    public func finish(manifest: Manifest) throws -> Result {
        precondition(!done, "BundleWriter.finish called twice")
        done = true
        let tmpPath = path + ".tmp.\(UUID().uuidString.prefix(8))"
        do {
            let deflater = try currentDeflater()
            try deflater.compress(Tar.endOfArchive) { try body.write($0) }
            try endDeflater()
            try body.close()

            let manifestBytes: [UInt8]
            do { manifestBytes = [UInt8](try BundleJSON.encoder(pretty: true).encode(manifest)) } catch {
                throw BundleError(.invalidJSON, "could not encode the manifest: \(error)")
            }
            let out = try FileSink(path: tmpPath)
            do {
                let head = try GzipDeflater(level: level)
                try head.compress(try Tar.header(name: BundleMember.manifest, size: manifestBytes.count, mtime: mtime)) { try out.write($0) }
                try head.compress(manifestBytes) { try out.write($0) }
                try head.compress([UInt8](repeating: 0, count: Tar.padding(for: manifestBytes.count))) { try out.write($0) }
                try head.finish { try out.write($0) }
                try FileSink.copy(from: bodyPath, to: out)
                try out.sync()
                try out.close()
            } catch {
                out.discard()
                throw error
            }
            unlink(bodyPath)
            guard rename(tmpPath, path) == 0 else {
                let e = errno
                unlink(tmpPath)
                throw BundleError(.io, "could not move the bundle to \(path): \(String(cString: strerror(e)))")
            }
            var st = stat()
            let size = stat(path, &st) == 0 ? Int(st.st_size) : 0
            return Result(path: path, bytes: size, members: [.init(name: BundleMember.manifest, bytes: manifestBytes.count)] + members)
        } catch {
            body.discard()
            unlink(tmpPath)
            throw error
        }
    }

    /// Drops everything written so far; no file is left behind.
    public func abandon() {
        guard !done else { return }
        done = true
        body.discard()
    }

    private func claim(_ name: String) throws {
        try Tar.validate(path: name)
        guard !names.contains(name) else {
            throw BundleError(.duplicateMember, "member \(name) was already added")
        }
        names.insert(name)
    }

    private func currentDeflater() throws -> GzipDeflater {
        if let deflater { return deflater }
        let d = try GzipDeflater(level: level)
        deflater = d
        return d
    }

    private func endDeflater() throws {
        guard let d = deflater else { return }
        try d.finish { try body.write($0) }
        deflater = nil
    }
}

/// A member written in pieces, compressed into its own temporary file as it goes.
/// Belongs to one thread at a time.
public final class StreamingMember {
    /// The member's name in the bundle.
    public let name: String
    /// Uncompressed bytes written so far.
    public private(set) var size = 0
    private let sink: FileSink
    private let path: String
    private let deflater: GzipDeflater
    private var finished = false

    init(name: String, path: String, level: Int32) throws {
        self.name = name
        self.path = path
        sink = try FileSink(path: path)
        deflater = try GzipDeflater(level: level)
    }

    deinit { sink.discard() }

    /// Appends bytes to the member.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!finished)
        size += bytes.count
        try deflater.compress(bytes) { try sink.write($0) }
    }

    /// Appends bytes to the member.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func finish() throws {
        guard !finished else { return }
        finished = true
        try deflater.compress([UInt8](repeating: 0, count: Tar.padding(for: size))) { try sink.write($0) }
        try deflater.finish { try sink.write($0) }
        try sink.close()
    }

    func copyCompressed(to out: FileSink) throws {
        try FileSink.copy(from: path, to: out)
    }

    func discard() { sink.discard() }
}

/// A file written sequentially through a buffer, removable if abandoned.
final class FileSink {
    let path: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let flushAt = 256 * 1024

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw BundleError(.io, "could not create \(path): \(String(cString: strerror(errno)))")
        }
        buffer.reserveCapacity(flushAt)
    }

    deinit { if fd >= 0 { Foundation.close(fd) } }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= flushAt { try flush() }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw BundleError(.io, "could not write \(path): \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func sync() throws {
        try flush()
        guard fsync(fd) == 0 else {
            throw BundleError(.io, "could not fsync \(path): \(String(cString: strerror(errno)))")
        }
    }

    func close() throws {
        try flush()
        if fd >= 0 {
            Foundation.close(fd)
            fd = -1
        }
    }

    /// Closes and removes the file, ignoring errors.
    func discard() {
        if fd >= 0 { Foundation.close(fd); fd = -1 }
        unlink(path)
    }

    /// Appends the whole file at `from` to `out`.
    static func copy(from: String, to out: FileSink) throws {
        let inFD = open(from, O_RDONLY | O_CLOEXEC)
        guard inFD >= 0 else { throw BundleError(.io, "could not open \(from): \(String(cString: strerror(errno)))") }
        defer { Foundation.close(inFD) }
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Foundation.read(inFD, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BundleError(.io, "could not read \(from): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            try chunk.withUnsafeBytes { try out.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }
}
