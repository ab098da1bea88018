import Foundation
import Testing
@testable import Shared

@Suite struct GzipTests {
    @Test func roundTripAcrossChunksAndMembers() throws {
        let a = [UInt8]((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let b = [UInt8]("second member\n".utf8)
        let compressed = try gzip(a) + gzip(b, level: 1)
        let inflater = try GzipInflater()
        var out: [UInt8] = []
        for start in stride(from: 0, to: compressed.count, by: 777) {
            let slice = Array(compressed[start..<min(start + 777, compressed.count)])
            try slice.withUnsafeBytes { try inflater.decompress($0) { out.append(contentsOf: $0) } }
        }
        try inflater.finish()
        #expect(out == a + b)
    }

    @Test func gnuGzipReadsOurOutputAndWeReadItsOutput() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let text = [UInt8](String(repeating: "the quick brown fox\n", count: 5000).utf8)
        try Data(try gzip(text)).write(to: URL(fileURLWithPath: dir.file("ours.gz")))
        let r = try run(["gzip", "-dc", dir.file("ours.gz")])
        #expect(r.status == 0)
        #expect(r.output == String(decoding: text, as: UTF8.self))

        try Data(text).write(to: URL(fileURLWithPath: dir.file("plain")))
        #expect(try run(["gzip", "-9", dir.file("plain")]).status == 0)
        let theirs = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("plain.gz"))))
        let inflater = try GzipInflater()
        var out: [UInt8] = []
        try theirs.withUnsafeBytes { try inflater.decompress($0) { out.append(contentsOf: $0) } }
        try inflater.finish()
        #expect(out == text)
    }

    @Test func truncatedStreamIsReported() throws {
        let c = try gzip([UInt8](repeating: 7, count: 10_000))
        let inflater = try GzipInflater()
        try Array(c.dropLast(4)).withUnsafeBytes { try inflater.decompress($0) { _ in } }
        #expect(throws: BundleError.self) { try inflater.finish() }
        do { try inflater.finish() } catch let e as BundleError { #expect(e.code == .truncatedGzip) }
    }

    @Test func badCRCIsReported() throws {
        var c = try gzip([UInt8]("hello world".utf8))
        c[c.count - 6] ^= 0xFF  // inside the CRC32 trailer
        let inflater = try GzipInflater()
        let error = #expect(throws: BundleError.self) {
            try c.withUnsafeBytes { try inflater.decompress($0) { _ in } }
        }
        #expect(error?.code == .corruptGzip)
    }

    @Test func garbageAfterAMemberIsRejected() throws {
        let c = try gzip([UInt8]("hello".utf8)) + [UInt8]("not gzip at all".utf8)
        let inflater = try GzipInflater()
        let error = #expect(throws: BundleError.self) {
            try c.withUnsafeBytes { try inflater.decompress($0) { _ in } }
        }
        #expect(error?.code == .corruptGzip)
    }

    @Test func outputLimitStopsInflatingAtTheLimit() throws {
        let c = try gzip([UInt8](repeating: 0, count: 4 << 20), level: 9)
        let inflater = try GzipInflater(maxOutput: 1 << 20)
        var produced = 0
        let error = #expect(throws: BundleError.self) {
            try c.withUnsafeBytes { try inflater.decompress($0) { produced += $0.count } }
        }
        #expect(error?.code == .uncompressedTooLarge)
        // Stopped within one output buffer of the limit.
        #expect(produced <= 1 << 20)
        #expect(inflater.totalOut <= (1 << 20) + 64 * 1024)
    }
}
