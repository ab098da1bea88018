import Foundation
import Testing
@testable import Shared

@Suite struct JournalLineCodecTests {
    static let full = JournalEntry(
        realtime: 1_790_000_000_123_456, bootID: "9f0e", priority: 3, facility: 4, identifier: "sshd",
        unit: "ssh.service", userUnit: "app.service", pid: 4242, comm: "sshd", exe: "/usr/sbin/sshd", transport: "syslog",
        messageID: "fc2e22bc6ee647b6b90729ab34a250b1", message: "quote \" backslash \\ tab\t nl\n bell\u{07} é 日本 😀",
        cursor: "s=abc;i=1", coredump: ["SIGNAL_NAME": "SIGSEGV", "EXE": "/usr/bin/app"])

    func encode(_ e: JournalEntry) -> [UInt8] {
        var out: [UInt8] = []
        JournalLineCodec.append(e, to: &out)
        return out
    }

    @Test func roundTripsEveryField() throws {
        let line = encode(Self.full)
        #expect(line.last == 0x0A)
        #expect(line.filter { $0 == 0x0A }.count == 1, "a journal line must never contain a raw newline")
        let parsed = try Array(line.dropLast()).withUnsafeBytes { try JournalLineCodec.parse($0) }
        #expect(parsed == Self.full)
    }

    @Test func foundationDecodesWhatWeWrite() throws {
        let line = encode(Self.full)
        let decoded = try JSONDecoder().decode(JournalEntry.self, from: Data(line))
        #expect(decoded == Self.full)
    }

    @Test func keyOrderIsStableAndAbsentFieldsAreOmitted() {
        let text = String(decoding: encode(JournalEntry(realtime: 5, priority: 6, identifier: "x", message: "m")), as: UTF8.self)
        #expect(text == #"{"ts":5,"prio":6,"ident":"x","msg":"m"}"# + "\n")
    }

    @Test func invalidUTF8MessageKeepsItsBytes() throws {
        let raw: [UInt8] = [0x62, 0x61, 0x64, 0x20, 0xFF, 0xFE, 0x00, 0x41]
        var e = JournalEntry(realtime: 1)
        raw.withUnsafeBytes { e.setMessage(bytes: $0) }
        #expect(e.messageBase64 != nil)
        #expect(e.message?.contains("\u{FFFD}") == true)
        let parsed = try Array(encode(e).dropLast()).withUnsafeBytes { try JournalLineCodec.parse($0) }
        #expect(parsed.messageBytes == raw)
    }

    @Test func unknownKeysAreSkippedForForwardCompatibility() throws {
        let line = #"{"ts":7,"future":{"a":[1,2.5e3,{"b":null}],"c":true},"msg":"ok","n":-3.2}"#
        let e = try Array(line.utf8).withUnsafeBytes { try JournalLineCodec.parse($0) }
        #expect(e.realtime == 7)
        #expect(e.message == "ok")
    }

    /// Times from 1970 to 9999-12-31T23:59:59Z, the range stored dates keep to; one
    /// microsecond outside either end is refused, naming `ts`.
    @Test func timesAreBoundedTo1970Through9999() throws {
        for ts in [Int64(0), 253_402_300_799_000_000] {
            let e = try Array(#"{"ts":\#(ts)}"#.utf8).withUnsafeBytes { try JournalLineCodec.parse($0) }
            #expect(e.realtime == ts)
        }
        for ts in [Int64(-1), 253_402_300_799_000_001, .max, .min + 1] {
            let error = #expect(throws: BundleError.self) {
                try Array(#"{"ts":\#(ts),"msg":"x"}"#.utf8).withUnsafeBytes { try JournalLineCodec.parse($0) }
            }
            #expect(error?.message.contains("\"ts\" \(ts) is outside") == true, "\(ts): \(String(describing: error))")
        }
    }

    @Test(arguments: [
        "", "{", "[]", #"{"msg":"no ts"}"#, #"{"ts":"1"}"#, #"{"ts":1.5}"#, #"{"ts":1,"msg":"unterminated}"#,
        #"{"ts":1}x"#, #"{"ts":99999999999999999999999}"#, #"{"ts":1,"msg":"bad \q escape"}"#,
        "{\"ts\":1,\"msg\":\"raw\u{01}control\"}",
    ])
    func rejectsMalformedLines(_ line: String) {
        #expect(throws: BundleError.self) {
            try Array(line.utf8).withUnsafeBytes { try JournalLineCodec.parse($0) }
        }
    }
}
