import Foundation
import Testing
@testable import Agent

/// Exact outputs: what stays around a secret matters to the technician reading the line.
@Suite("Redaction rules")
struct RedactionRuleTests {
    let redactor: Redactor

    init() throws {
        redactor = try Redactor(options: RedactionOptions())
    }

    @Test(arguments: [
        ("password=hunter2 user=bob", "password=[REDACTED:password] user=bob"),
        ("  password: correct horse battery staple  ", "  password: [REDACTED:password]  "),
        ("[db]\npassword = two words\nuser = bob", "[db]\npassword = [REDACTED:password]\nuser = bob"),
        ("keyring password: wrong for user bob", "keyring password: [REDACTED:password] for user bob"),
        ("DB_PASSWORD=two words here", "DB_PASSWORD=[REDACTED:password]"),
        ("token: abc def, user: bob", "token: [REDACTED:generic-secret], user: bob"),
        ("DB_PASS: 's3 cr3t' # quoted", "DB_PASS: '[REDACTED:password]' # quoted"),
        (#"{"password":"x\"y","user":"bob"}"#, #"{"password":"[REDACTED:password]","user":"bob"}"#),
        ("mount -o username=bob,password=a,b,vers=3.0", "mount -o username=bob,password=[REDACTED:password],vers=3.0"),
        ("?user=bob&pwd=abc123&next=/", "?user=bob&pwd=[REDACTED:password]&next=/"),
        ("mysql -u root -pS3cr3t db", "mysql -u root -p[REDACTED:password] db"),
        ("curl -u bob:pw1 https://x", "curl -u bob:[REDACTED:password] https://x"),
        ("postgres://app:pw123@db.internal:5432/app", "postgres://app:[REDACTED:url-credentials]@db.internal:5432/app"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer [REDACTED:authorization-header]"),
        ("Authorization: 1234abcd", "Authorization: [REDACTED:authorization-header]"),
        ("api_key=AbC123xyz789", "api_key=[REDACTED:generic-secret]"),
        ("AKIAIOSFODNN7EXAMPLE", "[REDACTED:aws-access-key-id]"),
        ("card 4111-1111-1111-1111 ok", "card [REDACTED:card-number] ok"),
        ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/services/[REDACTED:slack-webhook]"),
    ])
    func keepsTheContext(_ input: String, _ expected: String) {
        #expect(redactor.redact(input) == expected)
    }

    @Test func pemBlockKeepsItsFrame() {
        let pem = "key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END PRIVATE KEY-----\ndone"
        #expect(redactor.redact(pem)
            == "key:\n-----BEGIN PRIVATE KEY-----\n[REDACTED:private-key]\n-----END PRIVATE KEY-----\ndone")
        let open = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAA"
        #expect(redactor.redact(open) == "-----BEGIN OPENSSH PRIVATE KEY-----\n[REDACTED:private-key]")
        let certificate = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----"
        #expect(redactor.redact(certificate) == certificate)
    }

    /// A key printed one line per journal entry: the state carried from text to text says
    /// which lines are body, and each replaced line counts once.
    @Test func pemBodyCarriedAcrossTexts() {
        func redact(_ text: String, from start: PrivateKeyBody) -> (String, PrivateKeyBody) {
            var state = start
            return (redactor.redactInStream(text, privateKey: &state), state)
        }
        #expect(redact("-----BEGIN OPENSSH PRIVATE KEY-----", from: .closed) == ("-----BEGIN OPENSSH PRIVATE KEY-----", .opened))
        #expect(redact("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", from: .opened) == ("[REDACTED:private-key]", .continued))
        #expect(redact("  AAAAC3NzaC1lZDI1NTE5AAAAIGhp_ghp_x  ", from: .continued) == ("  [REDACTED:private-key]  ", .continued))
        #expect(redact("", from: .continued) == ("", .continued))
        #expect(redact("Qk9EWQ==\n-----END OPENSSH PRIVATE KEY-----", from: .continued)
            == ("[REDACTED:private-key]\n-----END OPENSSH PRIVATE KEY-----", .closed))
        #expect(redact("-----END PGP PRIVATE KEY BLOCK----- then -----BEGIN PGP PRIVATE KEY BLOCK-----", from: .continued)
            == ("-----END PGP PRIVATE KEY BLOCK----- then -----BEGIN PGP PRIVATE KEY BLOCK-----", .opened))
        #expect(redact("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", from: .closed) == ("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", .closed))
        #expect(redact("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----", from: .closed).1 == .closed)
        #expect(redactor.counts == ["private-key": 4])
    }

    @Test(arguments: [
        "4111 1111 1111 1112",          // Luhn fails
        "1234567890123456",             // Luhn fails
        "1000000000000000009",          // Luhn passes, but no card starts with 1
        "ts=1714644123456 id=9876543210987654321",
        "version 4111111111111111.2",
        "PWD=/home/alice OLDPWD=/tmp",
        "pam_unix(passwd:chauthtok): password changed for bob",
        "max_tokens=4096 token_type=bearer password_file=/etc/pw",
        "Password: ******** token: null secret=${SECRET}",
        "if password == stored { ok }",
        "Basic setup complete; bearer of bad news",
        "commit 61482aa2830d0ab2ad5af10b7250da9033ddcef0 aws",
    ])
    func leavesNonSecretsAlone(_ line: String) {
        #expect(redactor.redact(line) == line)
    }

    @Test func cardInsideALongerRunOfNumbersIsFound() {
        #expect(redactor.redact("2024 4111 1111 1111 1111 ok") == "2024 [REDACTED:card-number] ok")
        #expect(redactor.redact("ids 12 34 56 4111 1111 1111 1111") == "ids 12 34 56 [REDACTED:card-number]")
    }

    @Test func overlappingSecretsMergeIntoOne() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
        let out = redactor.redact("access_token=\(jwt)&x=1")
        #expect(out == "access_token=[REDACTED:jwt]&x=1")
    }

    @Test func returnsTheSameStringWhenNothingMatches() {
        let line = "systemd[1]: Started cups.service - CUPS Scheduler."
        #expect(redactor.redact(line) == line)
        #expect(redactor.counts.isEmpty)
    }

    @Test func ruleNamesAreStable() {
        #expect(BuiltinRule.names == [
            "private-key", "authorization-header", "jwt", "github-token", "gitlab-token", "slack-token",
            "slack-webhook", "aws-access-key-id", "aws-secret-key", "url-credentials", "password",
            "generic-secret", "vendor-token", "cookie", "bearer-token", "basic-auth", "card-number", "email", "username",
            "ip-address", "mac-address", "hostname",
        ])
    }
}
