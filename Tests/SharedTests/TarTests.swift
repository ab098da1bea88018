import Foundation
import Testing
@testable import Shared

@Suite struct TarTests {
    @Test func headerChecksumAndFieldsMatchWhatGNUTarExpects() throws {
        let h = try Tar.header(name: "system.json", size: 1234, mtime: 1_790_000_000)
        #expect(h.count == 512)
        #expect(TarStreamParser.parseNumber(h[124..<136]) == 1234)
        #expect(Array(h[257..<263]) == Array("ustar".utf8) + [0])
    }

    @Test(arguments: ["../etc/passwd", "/etc/passwd", "a/../../b", "", "a\\b"])
    func unsafePathsAreRefused(_ path: String) {
        let error = #expect(throws: BundleError.self) { try Tar.validate(path: path) }
        #expect(error?.code == .unsafePath)
    }

    @Test func parserReportsMembersAcrossOddChunkBoundaries() throws {
        let bytes = craftTar([RawMember(name: "a.txt", data: Array("hello".utf8)),
                              RawMember(name: "./b.txt", data: [UInt8](repeating: 9, count: 1500))])
        for chunk in [1, 7, 511, 512, 513, 4096] {
            var parser = TarStreamParser()
            var names: [String] = []
            var sizes: [Int] = []
            var data: [UInt8] = []
            var i = 0
            while i < bytes.count {
                let end = min(i + chunk, bytes.count)
                try Array(bytes[i..<end]).withUnsafeBytes { buf in
                    try parser.feed(buf) { event in
                        switch event {
                        case .begin(let e): names.append(e.name); sizes.append(e.size)
                        case .data(let d): data.append(contentsOf: d)
                        case .end: break
                        }
                    }
                }
                i = end
            }
            try parser.finish()
            #expect(names == ["a.txt", "b.txt"])
            #expect(sizes == [5, 1500])
            #expect(data.count == 1505)
        }
    }

    @Test func truncatedArchiveIsReported() throws {
        let bytes = craftTar([RawMember(name: "a.txt", data: [UInt8](repeating: 1, count: 2000))], endMarker: false)
        var parser = TarStreamParser()
        try Array(bytes.prefix(1000)).withUnsafeBytes { try parser.feed($0) { _ in } }
        #expect(throws: BundleError.self) { try parser.finish() }
    }

    @Test func damagedHeaderFailsItsChecksum() throws {
        var bytes = craftTar([RawMember(name: "a.txt", data: Array("x".utf8))])
        bytes[10] ^= 0x41
        var parser = TarStreamParser()
        let error = #expect(throws: BundleError.self) {
            try bytes.withUnsafeBytes { try parser.feed($0) { _ in } }
        }
        #expect(error?.code == .corruptTar)
    }
}
