import Foundation
import Testing
@testable import Agent

@Suite("Redaction extra rules")
struct RedactionExtraRulesTests {
    /// A temporary rules folder holding `files`, removed after `body`.
    func withRules<T>(_ files: [String: String], _ body: (String) throws -> T) throws -> T {
        let dir = NSTemporaryDirectory() + "helpline-rules-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, text) in files {
            try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        return try body(dir)
    }

    @Test func goodRulesApplyAndCountUnderTheirNames() throws {
        let files = [
            "acme.rules": """
            # ACME internal secrets
            acme-ticket-key: ACME-[0-9]{8}

            acme-session: sessid=(?<secret>[a-f0-9]{16})
            """,
            "badge.rules": "badge-number: (?i)badge #?\\d{6}\r\n",
            "notes.txt": "not-a-rule file ignored",
        ]
        try withRules(files) { dir in
            let redactor = try Redactor(options: RedactionOptions(rulesDirectory: dir))
            #expect(redactor.redact("login ACME-12345678 ok") == "login [REDACTED:acme-ticket-key] ok")
            #expect(redactor.redact("cookie sessid=0123456789abcdef;") == "cookie sessid=[REDACTED:acme-session];")
            #expect(redactor.redact("Badge 123456 scanned") == "[REDACTED:badge-number] scanned")
            #expect(redactor.redact("user=bob password=x ACME-1") == "user=bob password=[REDACTED:password] ACME-1")
            #expect(redactor.counts == ["acme-ticket-key": 1, "acme-session": 1, "badge-number": 1, "password": 1])
            #expect(redactor.ruleNames.suffix(3) == ["acme-ticket-key", "acme-session", "badge-number"])
        }
    }

    @Test func ruleWithoutLiteralRunsOnEveryLine() throws {
        try withRules(["x.rules": "employee-id: \\b[A-Z]{2}\\d{5}\\b"]) { dir in
            let redactor = try Redactor(options: RedactionOptions(rulesDirectory: dir))
            #expect(redactor.redact("assigned to QX12345 today") == "assigned to [REDACTED:employee-id] today")
        }
    }

    @Test(arguments: [
        ("bad.rules", "# fine\nok-rule: abc\nbroken: ([a-z\n", 3, "invalid regular expression"),
        ("bad.rules", "ok: abc\n\nno colon here\n", 3, "expected `name: REGEX`"),
        ("bad.rules", "password: hunter\\d+\n", 1, "built-in rule"),
        ("bad.rules", "bad name: abc\n", 1, "rule name"),
        ("bad.rules", "empty:   \n", 1, "no pattern"),
        ("bad.rules", "star: x*\n", 1, "matches empty text"),
    ])
    func badFilesNameFileAndLine(_ name: String, _ text: String, _ line: Int, _ message: String) throws {
        try withRules([name: text]) { dir in
            do {
                _ = try Redactor(options: RedactionOptions(rulesDirectory: dir))
                Issue.record("expected a RedactionError")
            } catch let error as RedactionError {
                #expect(error.file == dir + "/" + name)
                #expect(error.line == line)
                #expect(error.message.contains(message), "\(error)")
                #expect(error.description.hasPrefix("\(dir)/\(name):\(line): "))
            }
        }
    }

    @Test func missingFolderIsAnError() {
        #expect(throws: RedactionError.self) {
            _ = try Redactor(options: RedactionOptions(rulesDirectory: "/nonexistent/helpline-rules"))
        }
    }

    @Test(arguments: [
        ("ACME-[0-9]{8}", "acme-"),
        ("(?i)badge #?\\d{6}", "badge "),
        ("sessid=(?<secret>[a-f0-9]{16})", "sessid="),
        ("token_?id=\\w+", "token"),
        ("abc|defgh", nil),
        ("(?x) a b c", nil),
        ("\\bxy\\b", nil),
        ("foo(bar)?bazz", "bazz"),
        ("colou?r-code", "r-code"),
        ("\\Qa.b\\E", nil),
        ("x\\.y\\.zz", "x.y.zz"),
    ] as [(String, String?)])
    func requiredLiteral(_ pattern: String, _ literal: String?) {
        #expect(ExtraRule.requiredLiteral(of: pattern).map { String(decoding: $0, as: UTF8.self) } == literal)
    }
}
