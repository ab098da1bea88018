/// Limits the reader enforces on a bundle. Every one is named, configurable (the collector's
/// config file and flags set them) and checked while streaming, before the bytes are kept.
public struct BundleLimits: Sendable, Codable, Equatable {
    /// Largest compressed bundle accepted.
    public var maxCompressedBytes: Int
    /// Largest total of uncompressed member data (and tar headers).
    public var maxUncompressedBytes: Int
    /// Uncompressed bytes may be at most this many times the compressed bytes read so far…
    public var maxCompressionRatio: Int
    /// …once more than this many uncompressed bytes were produced.
    public var compressionRatioAllowance: Int
    /// Most members (files and folders) in one bundle.
    public var maxMembers: Int
    /// Largest single member.
    public var maxMemberBytes: Int
    /// Largest typed JSON member (`system.json`…), which is buffered to be decoded.
    public var maxJSONMemberBytes: Int
    /// Largest `manifest.json`.
    public var maxManifestBytes: Int
    /// Largest `note.txt`.
    public var maxNoteBytes: Int
    /// Largest line of `journal.jsonl`.
    public var maxJournalLineBytes: Int
    /// Members the format does not know are accepted (and ignored) up to this size.
    public var maxUnknownMemberBytes: Int

    /// The defaults: generous for real workstations, tight enough for a shared collector.
    public static let `default` = BundleLimits()

    public init(maxCompressedBytes: Int = 256 << 20, maxUncompressedBytes: Int = 1 << 30, maxCompressionRatio: Int = 100,
                compressionRatioAllowance: Int = 1 << 20, maxMembers: Int = 256, maxMemberBytes: Int = 512 << 20,
                maxJSONMemberBytes: Int = 64 << 20, maxManifestBytes: Int = 1 << 20, maxNoteBytes: Int = 64 << 10,
                maxJournalLineBytes: Int = 8 << 20, maxUnknownMemberBytes: Int = 1 << 20) {
        self.maxCompressedBytes = maxCompressedBytes
        self.maxUncompressedBytes = maxUncompressedBytes
        self.maxCompressionRatio = maxCompressionRatio
        self.compressionRatioAllowance = compressionRatioAllowance
        self.maxMembers = maxMembers
        self.maxMemberBytes = maxMemberBytes
        self.maxJSONMemberBytes = maxJSONMemberBytes
        self.maxManifestBytes = maxManifestBytes
        self.maxNoteBytes = maxNoteBytes
        self.maxJournalLineBytes = maxJournalLineBytes
        self.maxUnknownMemberBytes = maxUnknownMemberBytes
    }
}
