import Foundation
import Testing
@testable import Agent

@Suite("Redaction robustness")
struct RedactionRobustnessTests {
    @Test func concurrentRedactionsCountExactly() async throws {
        let identities = RedactionIdentities(usernames: ["alice"])
        let redactor = try Redactor(options: RedactionOptions(usernames: true, ipAddresses: true), identities: identities)
        let tasks = 8
        let perTask = 500
        await withTaskGroup(of: Bool.self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var ok = true
                    for i in 0..<perTask {
                        let out = redactor.redact("user alice from 10.0.\(t).\(i % 200 + 1) password=pw\(i) ok")
                        ok = ok && !out.contains("pw\(i) ") && out.hasPrefix("user [user-1] from [ip-")
                    }
                    return ok
                }
            }
            for await ok in group { #expect(ok) }
        }
        let counts = redactor.counts
        #expect(counts["password"] == tasks * perTask)
        #expect(counts["username"] == tasks * perTask)
        #expect(counts["ip-address"] == tasks * perTask)
        // 8 × 200 distinct addresses, one placeholder each, plus the user.
        #expect(redactor.mapping.count == tasks * 200 + 1)
        #expect(Set(redactor.mapping.keys).count == redactor.mapping.count)
    }

    @Test func replacementCharactersAndOddBytes() throws {
        let redactor = try Redactor(options: RedactionOptions(emails: true, ipAddresses: true, macAddresses: true))
        let bytes: [UInt8] = Array("pass\u{FFFD}word=x \u{FFFD}password=ab\u{FFFD}cd Ω ".utf8) + [0xFF, 0xC3, 0x00, 0x41]
            + Array(" token: é€𝄞secretvalue\u{0}".utf8)
        let text = String(decoding: bytes, as: UTF8.self)
        let out = redactor.redact(text)
        #expect(!out.contains("ab\u{FFFD}cd"))
        #expect(!out.contains("é€𝄞secretvalue"))
        #expect(out.contains("\u{FFFD}password=[REDACTED:password]"))
        #expect(redactor.redact("") == "")
        #expect(redactor.redact("\u{FFFD}\u{FFFD}@::-.") == "\u{FFFD}\u{FFFD}@::-.")
    }

    /// Lines built to make a careless scanner quadratic; each must finish quickly.
    @Test(arguments: [
        "password_file='", "password_file=\"", "-----BEGIN RSA PRIVATE KEY-----", "Authorization: x\n",
        "mysql -p'", "https://a:b@", "[REDACTED:x]password=a ", "10.0.0.1 pwd=x ", "aa:bb:cc:dd:ee:ff:",
        "4111 ", "eyJhbGciOi.", "Bearer ", "alice@example.com ", "/home/", "sessid=",
    ])
    func pathologicalLinesStayLinear(_ unit: String) throws {
        let redactor = try Redactor(options: RedactionOptions(emails: true, usernames: true, ipAddresses: true,
                                                              macAddresses: true, hostnames: true),
                                    identities: RedactionIdentities(usernames: ["alice"], hostnames: ["example"]))
        let line = String(repeating: unit, count: (256 << 10) / unit.utf8.count)
        let clock = ContinuousClock()
        let elapsed = clock.measure { _ = redactor.redact(line) }
        #expect(elapsed < .seconds(5), "\(unit): \(elapsed)")
    }

    @Test func shortLinesAndTriggersAtTheEnd() throws {
        let redactor = try Redactor(options: RedactionOptions(usernames: true),
                                    identities: RedactionIdentities(usernames: ["a", "bo"]))
        #expect(redactor.redact("a") == "[user-1]")
        #expect(redactor.redact("bo") == "[user-2]")
        #expect(redactor.redact("x bo") == "x [user-2]")
        #expect(redactor.redact("b") == "b")
        #expect(redactor.redact("password=") == "password=")
        #expect(redactor.redact("pwd=1") == "pwd=[REDACTED:password]")
        #expect(redactor.redact("key AKIAIOSFODNN7EXAMPLE") == "key [REDACTED:aws-access-key-id]")
        #expect(redactor.redact("-----BEGIN EC PRIVATE KEY-----") == "-----BEGIN EC PRIVATE KEY-----")
    }

    @Test func bridgedAndSubstringInputs() throws {
        let redactor = try Redactor()
        let bridged = NSString(string: "NSString password=hunter2") as String
        #expect(redactor.redact(bridged) == "NSString password=[REDACTED:password]")
        let sub = "xx password=abc yy=1".dropFirst(3)
        #expect(redactor.redact(String(sub)) == "password=[REDACTED:password] yy=1")
    }

    @Test func megabyteLines() throws {
        let redactor = try Redactor(options: RedactionOptions(emails: true, ipAddresses: true, macAddresses: true))
        let mib = 1 << 20
        let plain = String(repeating: "a", count: mib)
        #expect(redactor.redact(plain) == plain)
        let digits = String(repeating: "4111 ", count: mib / 5)
        #expect(redactor.redact(digits) == digits)
        let colons = String(repeating: ":", count: mib)
        #expect(redactor.redact(colons) == colons)
        let keys = String(repeating: "password ", count: mib / 9)
        #expect(redactor.redact(keys) == keys)
        let tail = String(repeating: "x", count: mib) + " password=topsecret"
        #expect(redactor.redact(tail).hasSuffix(" password=[REDACTED:password]"))
        let pem = "-----BEGIN RSA PRIVATE KEY-----\n" + String(repeating: "QUJD", count: mib / 4)
        #expect(redactor.redact(pem) == "-----BEGIN RSA PRIVATE KEY-----\n[REDACTED:private-key]")
        let many = String(repeating: "pwd=a ", count: mib / 6)
        #expect(redactor.counts["password", default: 0] == 1)
        let redacted = redactor.redact(many)
        #expect(!redacted.contains("pwd=a "))
        #expect(redactor.counts["password", default: 0] == 1 + mib / 6)
    }
}
