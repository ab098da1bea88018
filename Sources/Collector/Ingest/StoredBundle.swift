import Foundation
import Shared

/// Reading a stored bundle back, the same way for the API and the pages: expired and missing
/// blobs answer 410, members are found by name and read with the download limit.
enum StoredBundle {
    /// The blob's path of a live bundle.
    /// - Throws: `APIError` 410 `bundle_expired` or `blob_missing`.
    static func livePath(_ record: BundleRecord, blobs: BlobStore) throws -> String {
        guard !record.expired else {
            throw APIError(.gone, code: "bundle_expired", "bundle \(record.bundleID) expired under the retention policy; its findings remain on its ticket")
        }
        guard blobs.exists(record.sha256) else {
            throw APIError(.gone, code: "blob_missing", "the stored file of bundle \(record.bundleID) is missing; check the data directory")
        }
        return blobs.path(for: record.sha256)
    }

    /// One member's bytes, read on the read pool.
    /// - Throws: `APIError` 404 for a name the bundle does not have, 410 as `livePath`, and
    ///   the pool's and reader's errors.
    static func member(_ record: BundleRecord, named name: String, blobs: BlobStore, limits: CollectorLimits,
                       reads: BlobReadPool) async throws -> [UInt8] {
        guard record.members.contains(where: { $0.name == name }) else {
            throw APIError.notFound("member \(name.prefix(200)) of bundle \(record.bundleID)")
        }
        let path = try livePath(record, blobs: blobs)
        let bundleLimits = limits.bundleLimits
        let maxBytes = limits.maxMemberDownloadBytes
        let found = try await reads.run { deadline in
            try BundleArchive(path: path, limits: bundleLimits, deadline: deadline).member(name, maxBytes: maxBytes)
        }
        guard let bytes = found else { throw APIError.notFound("member \(name.prefix(200)) of bundle \(record.bundleID)") }
        return bytes
    }
}
