import CZlib

/// Streaming gzip compression over zlib's `deflate`.
///
/// The `z_stream` lives at a fixed address for the object's whole life (zlib checks
/// `strm->state->strm == strm`), so it is allocated once and never moved. Not thread-safe:
/// one deflater belongs to one task at a time.
public final class GzipDeflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var outBuffer: [UInt8]
    private var finished = false

    /// Starts a gzip member at `level` (0–9; 1 is fastest, 6 is zlib's default).
    /// - Throws: `BundleError.zlib` when zlib refuses the parameters or has no memory.
    public init(level: Int32 = 6, bufferSize: Int = 64 * 1024) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        outBuffer = [UInt8](repeating: 0, count: bufferSize)
        // windowBits 15 + 16 asks zlib for a gzip header and trailer instead of zlib's.
        let rc = CZlib_deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
        guard rc == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw BundleError(.zlib, "zlib deflateInit2 failed with code \(rc)")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses `input`, handing every produced chunk to `output`.
    public func compress(_ input: UnsafeRawBufferPointer, output: (UnsafeRawBufferPointer) throws -> Void) throws {
        try run(input, flush: Z_NO_FLUSH, output: output)
    }

    /// Compresses the bytes of `input`.
    public func compress(_ input: [UInt8], output: (UnsafeRawBufferPointer) throws -> Void) throws {
        try input.withUnsafeBytes { try run($0, flush: Z_NO_FLUSH, output: output) }
    }

    /// Ends the gzip member: flushes what is buffered and writes the CRC trailer.
    public func finish(output: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !finished else { return }
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, output: output)
        finished = true
    }

    private func run(_ input: UnsafeRawBufferPointer, flush: Int32, output: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(!finished, "GzipDeflater used after finish()")
        let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base)
        stream.pointee.avail_in = UInt32(input.count)
        defer { stream.pointee.next_in = nil; stream.pointee.avail_in = 0 }
        let capacity = outBuffer.count
        try outBuffer.withUnsafeMutableBytes { out in
            let outBase = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            while true {
                stream.pointee.next_out = outBase
                stream.pointee.avail_out = UInt32(capacity)
                let rc = deflate(stream, flush)
                guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else {
                    throw BundleError(.zlib, "zlib deflate failed with code \(rc)")
                }
                let produced = capacity - Int(stream.pointee.avail_out)
                if produced > 0 { try output(UnsafeRawBufferPointer(start: outBase, count: produced)) }
                if flush == Z_FINISH {
                    if rc == Z_STREAM_END { return }
                } else if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 {
                    return
                }
            }
        }
    }
}

/// Streaming gzip decompression over zlib's `inflate`, with limits checked as bytes come out.
///
/// Reads concatenated gzip members (RFC 1952 §2.2) as one stream, like `gzip -d`.
/// Stops at the first byte past a limit: a decompression bomb is never inflated whole.
public final class GzipInflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var outBuffer: [UInt8]
    /// True between the end of one gzip member and the first byte of the next.
    private var atMemberBoundary = false
    private var sawAnyInput = false

    /// Compressed bytes consumed so far.
    public private(set) var totalIn: Int = 0
    /// Uncompressed bytes produced so far.
    public private(set) var totalOut: Int = 0
    /// Stop with `.uncompressedTooLarge` past this many uncompressed bytes.
    public let maxOutput: Int
    /// Stop with `.compressionRatioExceeded` when output exceeds
    /// `maxRatio × input + ratioAllowance` (small inputs may expand a lot legitimately).
    public let maxRatio: Int
    /// Uncompressed bytes allowed before the ratio check applies.
    public let ratioAllowance: Int

    /// Prepares to inflate a gzip stream with the given limits.
    /// - Throws: `BundleError.zlib` when zlib cannot start.
    public init(maxOutput: Int = .max, maxRatio: Int = .max, ratioAllowance: Int = 1 << 20, bufferSize: Int = 64 * 1024) throws {
        self.maxOutput = maxOutput
        self.maxRatio = maxRatio
        self.ratioAllowance = ratioAllowance
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        outBuffer = [UInt8](repeating: 0, count: bufferSize)
        let rc = CZlib_inflateInit2(stream, 15 + 16)
        guard rc == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw BundleError(.zlib, "zlib inflateInit2 failed with code \(rc)")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Inflates `input`, handing each uncompressed chunk to `output`.
    /// - Throws: `BundleError` `.corruptGzip`, `.uncompressedTooLarge`, `.compressionRatioExceeded`,
    ///   or whatever `output` throws.
    public func decompress(_ input: UnsafeRawBufferPointer, output: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard input.count > 0 else { return }
        sawAnyInput = true
        var remaining = input
        let capacity = outBuffer.count
        try outBuffer.withUnsafeMutableBytes { out in
            let outBase = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            while remaining.count > 0 {
                if atMemberBoundary {
                    // Another gzip member follows the one that ended.
                    guard inflateReset(stream) == Z_OK else { throw BundleError(.zlib, "zlib inflateReset failed") }
                    atMemberBoundary = false
                }
                stream.pointee.next_in = UnsafeMutablePointer(mutating: remaining.baseAddress!.assumingMemoryBound(to: UInt8.self))
                stream.pointee.avail_in = UInt32(min(remaining.count, Int(UInt32.max)))
                stream.pointee.next_out = outBase
                stream.pointee.avail_out = UInt32(capacity)
                let before = Int(stream.pointee.avail_in)
                let rc = inflate(stream, Z_NO_FLUSH)
                let consumed = before - Int(stream.pointee.avail_in)
                remaining = UnsafeRawBufferPointer(rebasing: remaining[consumed...])
                totalIn += consumed
                let produced = capacity - Int(stream.pointee.avail_out)
                switch rc {
                case Z_OK, Z_BUF_ERROR:
                    break
                case Z_STREAM_END:
                    atMemberBoundary = true
                case Z_DATA_ERROR, Z_NEED_DICT:
                    let reason = stream.pointee.msg.map { String(cString: $0) } ?? "invalid data"
                    throw BundleError(.corruptGzip, "the gzip stream is damaged (\(reason)) after \(totalIn) compressed bytes; send the bundle again")
                case Z_MEM_ERROR:
                    throw BundleError(.zlib, "zlib ran out of memory")
                default:
                    throw BundleError(.zlib, "zlib inflate failed with code \(rc)")
                }
                if produced > 0 {
                    totalOut += produced
                    if totalOut > maxOutput {
                        throw BundleError(.uncompressedTooLarge, "the bundle expands past the limit of \(maxOutput) bytes; collect a smaller window or raise the limit")
                    }
                    if maxRatio != .max, totalOut > ratioAllowance, totalOut / max(totalIn, 1) > maxRatio {
                        throw BundleError(.compressionRatioExceeded, "the bundle expands more than \(maxRatio)× (\(totalIn) bytes became over \(totalOut)); this looks like a decompression bomb")
                    }
                    try output(UnsafeRawBufferPointer(start: outBase, count: produced))
                } else if consumed == 0 && !atMemberBoundary {
                    throw BundleError(.corruptGzip, "the gzip stream makes no progress after \(totalIn) compressed bytes")
                }
            }
        }
    }

    /// Checks that the stream ended exactly at the end of a complete gzip member.
    /// - Throws: `BundleError.truncatedGzip` when input stopped mid-member or was empty.
    public func finish() throws {
        guard sawAnyInput, atMemberBoundary else {
            throw BundleError(.truncatedGzip, "the gzip stream ends early after \(totalIn) compressed bytes (an interrupted upload or a cut file); send the bundle again")
        }
    }
}

/// CRC-32 (IEEE 802.3, as gzip computes it), by zlib.
public enum CRC32 {
    /// The CRC-32 of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        var crc: uLong = 0
        var at = 0
        // zlib takes a uInt length: large buffers go in pieces.
        while at < bytes.count {
            let n = min(bytes.count - at, Int(UInt32.max))
            crc = CZlib.crc32(crc, base.assumingMemoryBound(to: Bytef.self) + at, uInt(n))
            at += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}
