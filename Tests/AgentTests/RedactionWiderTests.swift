import Foundation
import Testing
@testable import Agent

/// Issue #12: secrets a held-out corpus found leaking — space-separated passwords, cookies,
/// vendor tokens, registry `auth` values, keyword + high-entropy values — and the time budget
/// of organisations' own rules.
@Suite("Redaction, wider")
struct RedactionWiderTests {
    let redactor: Redactor

    init() throws {
        redactor = try Redactor(options: RedactionOptions())
    }

    @Test(arguments: [
        ("sudo: alice : COMMAND=/usr/bin/mysql -u root --password hunter2x",
         "sudo: alice : COMMAND=/usr/bin/mysql -u root --password [REDACTED:password]"),
        ("mysql -u root -pS3cret!", "mysql -u root -p[REDACTED:password]"),
        ("sshpass -p 'x' ssh host", "sshpass -p '[REDACTED:password]' ssh host"),
        ("machine example.com login bob password s3cr3t", "machine example.com login bob password [REDACTED:password]"),
        ("machine example.com login bob password plainword", "machine example.com login bob password [REDACTED:password]"),
        ("requirepass foobared", "requirepass [REDACTED:password]"),
        ("redis-cli CONFIG SET masterauth hunter", "redis-cli CONFIG SET masterauth [REDACTED:password]"),
        ("bindpw Ldap.Bind", "bindpw [REDACTED:password]"),
        ("AUTH s3cretpw", "AUTH [REDACTED:password]"),
        ("AUTH default s3cretpw", "AUTH [REDACTED:password]"),
        ("C: AUTH PLAIN AGJvYgBodW50ZXIy", "C: AUTH PLAIN [REDACTED:password]"),
        ("ALTER USER app WITH PASSWORD 'word'", "ALTER USER app WITH PASSWORD '[REDACTED:password]'"),
        ("login to vpn with password Tr1cky!", "login to vpn with password [REDACTED:password]"),
    ])
    func spaceSeparatedPasswords(_ input: String, _ expected: String) {
        #expect(redactor.redact(input) == expected)
    }

    @Test(arguments: [
        ("Cookie: sessionid=abc123def; theme=dark", "Cookie: sessionid=[REDACTED:cookie]; theme=[REDACTED:cookie]"),
        ("Set-Cookie: sid=31d4d96e407aad42; Path=/; Secure; HttpOnly",
         "Set-Cookie: sid=[REDACTED:cookie]; Path=/; Secure; HttpOnly"),
        (#"{"headers":{"Cookie":"a=1x2y; b=zz"}}"#, #"{"headers":{"Cookie":"a=[REDACTED:cookie]; b=[REDACTED:cookie]"}}"#),
        ("cookie: opaqueblob", "cookie: [REDACTED:cookie]"),
    ])
    func cookieValues(_ input: String, _ expected: String) {
        #expect(redactor.redact(input) == expected)
    }

    /// Every row of the token table, every prefix: the sample (with that prefix) is redacted
    /// whole, in a sentence, in an assignment and in quotes, and counts under the row's rule.
    @Test(arguments: TokenFormat.known.map(\.vendor))
    func tokenTableSamplesAreRedacted(_ vendor: String) throws {
        let format = try #require(TokenFormat.known.first { $0.vendor == vendor })
        let first = try #require(format.prefixes.first)
        #expect(format.sample.hasPrefix(first), "\(vendor): the sample must start with its first prefix")
        let body = String(format.sample.dropFirst(first.count))
        #expect(format.length.contains(body.utf8.count), "\(vendor): sample body has \(body.utf8.count) characters")
        #expect(body.utf8.allSatisfy(format.alphabet.contains), "\(vendor): sample body leaves the alphabet")
        for prefix in format.prefixes {
            let token = prefix + body
            let local = try Redactor(options: RedactionOptions())
            let marker = "[REDACTED:\(format.rule.rule.name)]"
            #expect(local.redact("using \(token) now") == "using \(marker) now", "\(vendor) \(prefix)")
            #expect(local.redact("(\(token)).") == "(\(marker)).", "\(vendor) \(prefix)")
            #expect(!local.redact("X_VALUE=\(token)").contains(token), "\(vendor) \(prefix)")
            #expect(!local.redact(#"{"v":"\#(token)"}"#).contains(token), "\(vendor) \(prefix)")
            #expect(local.counts[format.rule.rule.name, default: 0] >= 2)
        }
    }

    /// Near-misses from the same table: a body one too short, one too long, broken by a character
    /// outside the alphabet, or a prefix glued to a word, stays as it was.
    @Test(arguments: TokenFormat.known.map(\.vendor))
    func tokenTableNearMissesStay(_ vendor: String) throws {
        let format = try #require(TokenFormat.known.first { $0.vendor == vendor })
        let prefix = format.prefixes[0]
        let body = Array(format.sample.dropFirst(prefix.count))
        let filler: Character = format.alphabet == .upperAlphanumeric ? "Q" : (format.alphabet == .lowerAlphanumeric ? "q" : "Q")
        var misses: [String] = []
        misses.append(prefix + String(repeating: filler, count: format.length.lowerBound - 1))
        if format.length.upperBound < 1000 {
            misses.append(prefix + String(repeating: filler, count: format.length.upperBound + 1))
        }
        var broken = body
        broken[format.length.lowerBound / 2] = "!"
        misses.append(prefix + String(broken))
        if format.alphabet == .upperAlphanumeric || format.alphabet == .lowerAlphanumeric {
            var wrongCase = body
            wrongCase[1] = format.alphabet == .upperAlphanumeric ? "z" : "Z"
            misses.append(prefix + String(wrongCase))
        }
        misses.append("x" + format.sample)
        for miss in misses {
            let line = "value \(miss) end"
            #expect(redactor.redact(line) == line, "\(vendor): near-miss \(miss) was redacted")
        }
    }

    @Test func registryAuthValues() {
        let config = #"{"auths":{"ghcr.io":{"auth":"Ym9iOnNlY3JldA=="},"quay.io":{"auth": "YWxpY2U6cHc="}}}"#
        #expect(redactor.redact(config)
            == #"{"auths":{"ghcr.io":{"auth":"[REDACTED:basic-auth]"},"quay.io":{"auth": "[REDACTED:basic-auth]"}}}"#)
        let notCredentials = #"{"auth":"required","credsStore":"desktop"}"#
        #expect(redactor.redact(notCredentials) == notCredentials)
    }

    @Test(arguments: [
        ("upload token Zk9xR2t8Lm3Nq7Pw2Vb5 ok", "upload token [REDACTED:generic-secret] ok"),
        ("client secret => 'k3JhQ9zXc7VbN2mL5pT8'", "client secret => '[REDACTED:generic-secret]'"),
        ("apikey:Q2hhbmdlTWUxMjM0NTY3OA", "apikey:[REDACTED:generic-secret]"),
        ("x-secret 9c1f2e3d4b5a69788796a5b4c3d2e1f0 sent", "x-secret [REDACTED:generic-secret] sent"),
        ("passwd \"P4ss w0rd\"", "passwd \"[REDACTED:password]\""),
    ])
    func keywordThenHighEntropyValue(_ input: String, _ expected: String) {
        #expect(redactor.redact(input) == expected)
    }

    @Test(arguments: [
        "token refresh scheduled in 3600s",
        "secret \"Google account\" is stored",
        "the token 1234 expired",
        "token aaaaaaaaaaaaaaaaaaaaaaaa",
        "secret https://vault.example.com/v1/secret/data/app",
        "token /run/user/1000/token-file",
        "Failed password for invalid user admin from 203.0.113.5 port 52314 ssh2",
        "AUTH failed for user bob",
        "lost connection after AUTH from unknown[203.0.113.44]",
    ])
    func keywordWithOrdinaryValueStays(_ line: String) {
        #expect(redactor.redact(line) == line)
    }

    @Test func entropyThresholdSeparatesTheFixtures() {
        func entropy(_ s: String) -> Bool {
            Array(s.utf8).withUnsafeBufferPointer { AssignmentScanner.isHighEntropy($0) }
        }
        #expect(entropy("AKIAIOSFODNN7EXAMPLE"))
        #expect(entropy("7f3a9d0c2b1e4f5a6b7c8d9e0f1a2b3c"))
        #expect(!entropy("correcthorsebattery"))
        #expect(!entropy("systemd-journald.service"))
        #expect(!entropy("aaaaaaaabbbbbbbb1111"))
    }

    /// Ordinary lines of a healthy desktop — both fixtures — come out byte-identical, line by
    /// line and as one text.
    @Test(arguments: ["ordinary.txt", "ordinary-wider.txt"])
    func ordinaryLinesStayUntouched(_ name: String) throws {
        let text = try String(contentsOfFile: redactionFixture(name), encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        let local = try Redactor(options: RedactionOptions())
        var changed: [String] = []
        for line in lines where local.redact(line) != line { changed.append(line + "\n  -> " + local.redact(line)) }
        #expect(changed.isEmpty, "\(changed.count) of \(lines.count) lines changed:\n\(changed.joined(separator: "\n"))")
        let whole = local.redact(text)
        let wholeChanged = zip(text.split(separator: "\n"), whole.split(separator: "\n")).filter { $0 != $1 }
        #expect(whole == text, "as one text: \(wholeChanged.map { "\($0.0)\n  -> \($0.1)" }.joined(separator: "\n"))")
    }
}
