import Crypto
import Foundation
import NIOCore

/// A failure of the blob directory.
public struct BlobStoreError: Error, Sendable, CustomStringConvertible {
    /// What failed, on which path, with errno's text.
    public var message: String
    /// The `errno` of the failed call, when there was one.
    public var errno: Int32?
    /// Creates the error.
    public init(_ message: String, errno: Int32? = nil) { self.message = message; self.errno = errno }
    /// The message.
    public var description: String { message }
    /// The filesystem is full (or the user's quota is): the client should retry later.
    public var isOutOfSpace: Bool { errno == ENOSPC || errno == EDQUOT }

    static func errno(_ what: String, _ path: String) -> BlobStoreError {
        let code = Glibc.errno
        return BlobStoreError("\(what) \(path): \(String(cString: strerror(code)))", errno: code)
    }
}

/// Bundle blobs in a content-addressed folder: `blobs/ab/cdef…` named by the SHA-256 of
/// the compressed bytes.
///
/// Uploads land in `tmp/` first and only a complete, validated, fsynced file is renamed
/// into `blobs/` (rename is atomic within one filesystem; both folders are under the data
/// directory). So a crash leaves a stray temp file or an unreferenced blob, never half a
/// blob; `removeOrphans` cleans both at startup.
///
/// Several collectors on one PostgreSQL database share one data directory (a network
/// filesystem that every collector mounts: docs/postgres.md). Then `shared` is set: another
/// collector's upload in progress, or its blob whose row is not committed yet, looks like
/// what a crash leaves behind, so only temp files and orphan blobs older than
/// `sharedOrphanAge` are removed, and an ingest that fails leaves its blob to that sweep.
public struct BlobStore: Sendable {
    /// `<data>/blobs`.
    public let root: String
    /// `<data>/tmp`.
    public let temporary: String
    /// Other collectors write here too.
    public let shared: Bool
    /// Age past which a shared folder's temp file or unreferenced blob is an orphan: longer
    /// than any upload may take (`upload_time_limit_seconds` is at most an hour) plus a commit.
    public static let sharedOrphanAge: TimeInterval = 2 * 3600

    /// Uses (and creates) `blobs/` and `tmp/` under `dataDirectory`.
    /// - Parameter shared: other collectors use the same folder (PostgreSQL store).
    /// - Throws: `BlobStoreError` when they cannot be created.
    public init(dataDirectory: String, shared: Bool = false) throws {
        self.shared = shared
        root = dataDirectory + "/blobs"
        temporary = dataDirectory + "/tmp"
        for dir in [root, temporary] {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
                throw BlobStoreError("could not create \(dir): \(error.localizedDescription); check the data directory's permissions")
            }
        }
    }

    /// Where the blob with this digest lives.
    public func path(for sha256: String) -> String {
        "\(root)/\(sha256.prefix(2))/\(sha256.dropFirst(2))"
    }

    /// Whether the blob exists.
    public func exists(_ sha256: String) -> Bool {
        access(path(for: sha256), F_OK) == 0
    }

    /// Starts a temp file for an upload.
    public func makeUpload() throws -> UploadFile {
        try UploadFile(path: "\(temporary)/upload-\(UUID().uuidString).part")
    }

    /// fsyncs and closes `upload`, renames it to its digest's place and fsyncs the folder.
    /// When the blob already exists (the same bytes again), the temp file is dropped.
    /// - Returns: the blob's path.
    public func commit(_ upload: UploadFile, sha256: String) throws -> String {
        try upload.syncAndClose()
        let target = path(for: sha256)
        let dir = String(target[..<target.lastIndex(of: "/")!])
        if access(dir, F_OK) != 0 {
            guard mkdir(dir, 0o700) == 0 || Glibc.errno == EEXIST else { throw BlobStoreError.errno("could not create", dir) }
            try Self.syncDirectory(root)
        }
        guard rename(upload.path, target) == 0 else { throw BlobStoreError.errno("could not move the upload to", target) }
        upload.committed = true
        try Self.syncDirectory(dir)
        return target
    }

    /// Deletes a blob (retention, or a failed commit).
    public func remove(_ sha256: String) {
        unlink(path(for: sha256))
    }

    /// Every blob digest on disk.
    public func digests() -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        for prefix in (try? fm.contentsOfDirectory(atPath: root)) ?? [] where prefix.count == 2 {
            for rest in (try? fm.contentsOfDirectory(atPath: root + "/" + prefix)) ?? [] where rest.count == 62 {
                out.append(prefix + rest)
            }
        }
        return out
    }

    /// Removes temp files left by a crash, and blobs no live bundle row names; in a `shared`
    /// folder only those older than `sharedOrphanAge` (others may be another collector's).
    /// - Returns: how many temp files and blobs were removed.
    @discardableResult
    public func removeOrphans(liveDigests: Set<String>, now: Date = Date()) -> (temporary: Int, blobs: Int) {
        let cutoff = now.timeIntervalSince1970 - Self.sharedOrphanAge
        func old(_ path: String) -> Bool {
            guard shared else { return true }
            var st = stat()
            guard lstat(path, &st) == 0 else { return false }
            return Double(st.st_mtim.tv_sec) < cutoff
        }
        var temps = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where old(temporary + "/" + name) {
            if unlink(temporary + "/" + name) == 0 { temps += 1 }
        }
        var blobs = 0
        for digest in digests() where !liveDigests.contains(digest) && old(path(for: digest)) {
            remove(digest)
            blobs += 1
        }
        return (temps, blobs)
    }

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BlobStoreError.errno("could not open folder", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw BlobStoreError.errno("could not fsync folder", path) }
    }
}

/// An upload being written to `tmp/`: hashed as it is written; removed on deinit unless
/// committed.
// @unchecked Sendable: used by one task at a time. The ingest hands it to the per-bundle
// serializer's closure, which runs while the task that owns it is suspended awaiting it.
public final class UploadFile: @unchecked Sendable {
    /// The temp file.
    public let path: String
    private var fd: Int32
    private var hasher = SHA256()
    /// Bytes written.
    public private(set) var bytes = 0
    /// Set once renamed into the blob folder.
    var committed = false

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BlobStoreError.errno("could not create temp file", path) }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(path) }
    }

    /// Appends and hashes a chunk.
    public func write(_ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { raw in
            hasher.update(bufferPointer: raw)
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if Glibc.errno == EINTR { continue }
                    throw BlobStoreError.errno("could not write temp file", path)
                }
                offset += n
            }
        }
        bytes += buffer.readableBytes
    }

    /// Hex SHA-256 of everything written.
    public func digest() -> String {
        Secrets.hex(hasher.finalize())
    }

    func syncAndClose() throws {
        guard fsync(fd) == 0 else { throw BlobStoreError.errno("could not fsync", path) }
        close(fd)
        fd = -1
    }
}
