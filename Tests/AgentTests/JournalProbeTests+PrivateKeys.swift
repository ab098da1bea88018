import Foundation
import Testing
@testable import Agent
@testable import Shared

/// A private key printed one line per journal entry (`cat id_rsa` in a service, `set -x`
/// output): journald stores the BEGIN line, each base64 line and the END line as entries of
/// their own, among other services' entries.
extension JournalProbeTests {
    static let bodyMarker = "[REDACTED:private-key]"

    /// `count` made-up base64 lines of `width` characters, the same on every run.
    static func keyBody(lines count: Int, width: Int = 70, seed: UInt64) -> [String] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var state = seed
        return (0..<count).map { _ in
            String(decoding: (0..<width).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return alphabet[Int(state >> 58)]
            }, as: UTF8.self)
        }
    }

    /// Fields of an entry a service's stdout stream wrote.
    static func stdout(_ unit: String, pid: Int, _ message: String) -> [(String, String)] {
        [("MESSAGE", message), ("PRIORITY", "6"), ("_TRANSPORT", "stdout"), ("_SYSTEMD_UNIT", unit),
         ("_PID", "\(pid)"), ("SYSLOG_IDENTIFIER", String(unit.prefix { $0 != "." }))]
    }

    @Test func aKeyPrintedOneLinePerEntryLeavesNoBodyLine() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        let body = Self.keyBody(lines: 6, seed: 1)
        let pgpBody = Self.keyBody(lines: 2, width: 64, seed: 2) + ["=0nLg"]
        // backup.service (PID 700) prints an OpenSSH key; NetworkManager writes between its
        // lines, and so does another process of backup.service (PID 701, another stream).
        var backup: [String] = ["+ cat /root/.ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----"]
        backup += body
        backup += ["-----END OPENSSH PRIVATE KEY-----", "+ rsync -a /srv/ backup:/srv/"]
        let network = backup.indices.map { "wlp2s0: DHCPv4 lease renewed, \($0) of \(backup.count)" }
        var fields: [[(String, String)]] = []
        for (k, line) in backup.enumerated() {
            fields.append(Self.stdout("backup.service", pid: 700, line))
            fields.append(Self.stdout("NetworkManager.service", pid: 650, network[k]))
            if k == 4 { fields.append(Self.stdout("backup.service", pid: 701, "checking quota of /srv")) }
        }
        // A user's service exports a PGP key: its blank line and checksum line are body too.
        let pgp = ["-----BEGIN PGP PRIVATE KEY BLOCK-----", ""] + pgpBody + ["-----END PGP PRIVATE KEY BLOCK-----"]
        for line in pgp {
            fields.append([("MESSAGE", line), ("PRIORITY", "6"), ("_TRANSPORT", "stdout"), ("_SYSTEMD_UNIT", "user@1000.service"),
                           ("_SYSTEMD_USER_UNIT", "gpg-export.service"), ("_PID", "4100")])
        }
        var entries = fields.enumerated().map { i, f in
            JournalFixture.Entry(realtime: ago(Double(600 - i), from: now), bootID: Self.boot, f)
        }
        // One body line arrives with a byte that is not UTF-8, so journald kept it binary:
        // its exact bytes (`msg_b64`) must not carry the body out either.
        let binaryIndex = try #require(entries.firstIndex { $0.fields.contains { $0.0 == "MESSAGE" && $0.1 == Array(body[2].utf8) } })
        entries[binaryIndex].fields[0].1 = Array(body[2].utf8) + [0xFF]

        let redactor = try Redactor()
        try JournalFixture.write(entries, to: dir.file("journal"))
        let (_, collected) = try collect(dir, now: now, redactor: redactor)

        #expect(collected.count == entries.count)
        for secret in body + pgpBody.dropLast() + ["=0nLg"] {
            #expect(!collected.contains { $0.message?.contains(secret) == true }, "body line \(secret) left in msg")
            #expect(!collected.contains { $0.messageBytes.map { String(decoding: $0, as: UTF8.self).contains(secret) } == true },
                    "body line \(secret) left in msg_b64")
        }
        func messages(_ unit: String, pid: Int) -> [String] {
            collected.filter { $0.unit == unit && $0.pid == pid }.map { $0.message ?? "<none>" }
        }
        #expect(messages("backup.service", pid: 700)
            == ["+ cat /root/.ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----"]
            + Array(repeating: Self.bodyMarker, count: body.count)
            + ["-----END OPENSSH PRIVATE KEY-----", "+ rsync -a /srv/ backup:/srv/"])
        #expect(collected.allSatisfy { $0.messageBase64 == nil }, "the binary body line's exact bytes are dropped")
        #expect(messages("NetworkManager.service", pid: 650) == network, "another unit between the key's lines is untouched")
        #expect(messages("backup.service", pid: 701) == ["checking quota of /srv"], "another process of the unit is another stream")
        #expect(collected.filter { $0.userUnit == "gpg-export.service" }.map { $0.message ?? "<none>" }
            == ["-----BEGIN PGP PRIVATE KEY BLOCK-----", ""] + Array(repeating: Self.bodyMarker, count: pgpBody.count)
            + ["-----END PGP PRIVATE KEY BLOCK-----"])
        #expect(redactor.counts["private-key"] == body.count + pgpBody.count, "one replacement per line replaced, as the manifest counts")
    }

    @Test func aBeginWithoutEndBlanksNoMoreThanTheCap() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        let cap = JournalProbe.privateKeyBodyEntryCap
        let after = (0..<(cap + 20)).map { "worker \($0) ready" }
        var fields: [[(String, String)]] = [Self.stdout("legacy.service", pid: 900, "-----BEGIN RSA PRIVATE KEY-----")]
        var cron: [String] = []
        for (k, line) in after.enumerated() {
            fields.append(Self.stdout("legacy.service", pid: 900, line))
            if k % 10 == 0 {
                cron.append("(root) CMD (run-parts /etc/cron.hourly) \(k)")
                fields.append(Self.stdout("cron.service", pid: 512, cron.last!))
            }
        }
        let entries = fields.enumerated().map { i, f in
            JournalFixture.Entry(realtime: ago(Double(fields.count - i), from: now), bootID: Self.boot, f)
        }
        let redactor = try Redactor()
        try JournalFixture.write(entries, to: dir.file("journal"))
        let (_, collected) = try collect(dir, now: now, redactor: redactor)

        #expect(collected.count == entries.count)
        let legacy = collected.filter { $0.unit == "legacy.service" }.map { $0.message ?? "<none>" }
        #expect(legacy == ["-----BEGIN RSA PRIVATE KEY-----"] + Array(repeating: Self.bodyMarker, count: cap) + after[cap...],
                "the \(cap) entries after the BEGIN are taken for its body, the rest kept")
        #expect(collected.filter { $0.unit == "cron.service" }.map { $0.message ?? "<none>" } == cron, "another unit is untouched")
        #expect(redactor.counts["private-key"] == cap)
    }

    /// `ts` a collector accepts, however wrong the clock was: it refuses the whole bundle for
    /// one line outside `JournalEntry.realtimeRange`, and `Int64(_:)` trapped above Int64.max.
    /// (systemd-journal-remote will not write such times, so no fixture journal can hold them.)
    @Test func entryTimeIsClampedIntoTheRangeALineMayCarry() {
        let range = JournalEntry.realtimeRange
        let top = UInt64(range.upperBound)
        #expect(JournalProbe.entryTime(0) == range.lowerBound)
        #expect(JournalProbe.entryTime(1) == 1)
        #expect(JournalProbe.entryTime(1_714_644_123_456_789) == 1_714_644_123_456_789)
        #expect(JournalProbe.entryTime(top - 1) == range.upperBound - 1)
        #expect(JournalProbe.entryTime(top) == range.upperBound)
        #expect(JournalProbe.entryTime(top + 1) == range.upperBound)
        #expect(JournalProbe.entryTime(UInt64(Int64.max)) == range.upperBound)
        #expect(JournalProbe.entryTime(UInt64(Int64.max) + 1) == range.upperBound)
        #expect(JournalProbe.entryTime(.max) == range.upperBound)
    }
}
