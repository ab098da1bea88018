/// Why a bundle could not be written or read. One error type for the whole bundle codec;
/// `code` is stable (the collector maps it to HTTP 413/422 and a metric label), `message`
/// names the input and says what to do.
public struct BundleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable machine-readable reasons.
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// The gzip stream ended before its last member was complete.
        case truncatedGzip = "truncated_gzip"
        /// The gzip stream is not gzip, or its data or CRC check failed.
        case corruptGzip = "corrupt_gzip"
        /// More compressed bytes than `BundleLimits.maxCompressedBytes`.
        case compressedTooLarge = "compressed_too_large"
        /// More uncompressed bytes than `BundleLimits.maxUncompressedBytes`.
        case uncompressedTooLarge = "uncompressed_too_large"
        /// Expansion beyond `BundleLimits.maxCompressionRatio`: a decompression bomb.
        case compressionRatioExceeded = "compression_ratio_exceeded"
        /// More members than `BundleLimits.maxMembers`.
        case tooManyMembers = "too_many_members"
        /// One member larger than its limit.
        case memberTooLarge = "member_too_large"
        /// The tar stream is cut short or a header is malformed.
        case corruptTar = "corrupt_tar"
        /// An absolute path, `..`, an empty or over-long name.
        case unsafePath = "unsafe_path"
        /// A symlink, hard link, device, FIFO or other non-regular member.
        case unsupportedMemberType = "unsupported_member_type"
        /// The same member name twice.
        case duplicateMember = "duplicate_member"
        /// A member the format does not know, larger than `maxUnknownMemberBytes`.
        case unknownMember = "unknown_member"
        /// No `manifest.json`, or not as the first member.
        case missingManifest = "missing_manifest"
        /// A schema version this side does not read.
        case unsupportedSchema = "unsupported_schema"
        /// A member is not the JSON its schema says.
        case invalidJSON = "invalid_json"
        /// The manifest's content is inconsistent (e.g. a bad bundle id).
        case invalidManifest = "invalid_manifest"
        /// Reading or writing a file failed.
        case io = "io"
        /// zlib itself failed (out of memory, bad parameters).
        case zlib = "zlib"
    }

    /// The stable reason.
    public let code: Code
    /// A sentence for people: what was wrong and what to do.
    public let message: String

    /// Creates an error with a stable `code` and a human `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
