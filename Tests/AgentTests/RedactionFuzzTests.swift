import Foundation
import Testing
@testable import Agent

/// Random lines assembled from the pieces the scanners react to. In a debug build every byte
/// access is bounds-checked, so an off-by-one in a scanner traps here.
@Suite("Redaction fuzz")
struct RedactionFuzzTests {
    /// xorshift64*: deterministic, so a failure can be replayed.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
    }

    static let pieces = [
        "password", "PASS", "pwd", "secret", "token", "_key", "api", "credential", "psk", "authtok", "=", ":", ": ",
        "=>", ":=", "\"", "'", "\\\"", "\\", "&", ";", ",", " ", "\t", "\n", "\r\n", "--", "-p", "-u ", "-a ",
        "mysql", "sshpass", "curl", "redis-cli", "docker login", "IDENTIFIED BY", "://", "@", "user:pw@h",
        "Authorization", "Bearer ", "Basic ", "YWxpY2U6cHc=", "eyJ", "eyJhbGciOiJIUzI1NiJ9", ".", "AKIA", "ASIA",
        "IOSFODNN7EXAMPLE", "aws", "ghp_", "github_pat_", "glpat-", "xoxb-", "hooks.slack.com/services/",
        "-----BEGIN RSA PRIVATE KEY-----", "-----END", "-----", "4111", "1111", " ", "-", "0", "9", "255",
        "127.0.0.1", "10.0.0.", "::", "fe80", "%", "aa:bb:cc:dd:ee:ff", "3c:", "/home/", "alice", "laptop-42",
        "é", "\u{FFFD}", "𝄞", "\u{0}", "[REDACTED:x]", "${X}", "***", "abcdefghijklmnopqrstuvwxyz0123456789",
    ]

    @Test func randomLinesNeverTrapAndRedactionIsStable() throws {
        var rng = SeededGenerator(state: 0x9E37_79B9_7F4A_7C15)
        let redactor = try Redactor(
            options: RedactionOptions(emails: true, usernames: true, ipAddresses: true, macAddresses: true, hostnames: true),
            identities: RedactionIdentities(usernames: ["alice"], hostnames: ["laptop-42"]))
        let plain = try Redactor()
        for _ in 0..<20_000 {
            var line = ""
            for _ in 0..<Int.random(in: 1...24, using: &rng) { line += Self.pieces.randomElement(using: &rng)! }
            let once = redactor.redact(line)
            #expect(once.utf8.count < line.utf8.count + 4096)
            _ = plain.redact(line)
            _ = plain.redact(String(line.reversed()))
        }
    }

    @Test func redactingTwiceChangesNothingMore() throws {
        let redactor = try Redactor()
        for sample in try SecretSample.all() {
            let once = redactor.redact(sample.line)
            #expect(redactor.redact(once) == once, "\(sample.testDescription): \(once)")
        }
        let identities = RedactionIdentities(usernames: ["user", "alice"], hostnames: ["host", "ip"])
        let all = try Redactor(
            options: RedactionOptions(emails: true, usernames: true, ipAddresses: true, macAddresses: true, hostnames: true),
            identities: identities)
        let line = "user alice@example.com on host 10.0.0.1 aa:bb:cc:dd:ee:01 /home/user password=x"
        let once = all.redact(line)
        #expect(once == "[user-1] [email-1] on [host-1] [ip-1] [mac-1] /home/[user-1] password=[REDACTED:password]")
        #expect(all.redact(once) == once)
    }
}
