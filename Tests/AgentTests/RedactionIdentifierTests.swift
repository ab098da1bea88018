import Foundation
import Testing
@testable import Agent

@Suite("Redaction identifiers")
struct RedactionIdentifierTests {
    static let everything = RedactionOptions(emails: true, usernames: true, ipAddresses: true, macAddresses: true,
                                             hostnames: true)
    static let identities = RedactionIdentities(usernames: ["alice", "bob"],
                                                hostnames: ["laptop-42", "laptop-42.corp.example.com"])

    @Test func optInsAreOffByDefault() throws {
        #expect(RedactionOptions() == RedactionOptions(emails: false, usernames: false, ipAddresses: false,
                                                       macAddresses: false, hostnames: false, rulesDirectory: nil))
        let redactor = try Redactor(options: RedactionOptions(), identities: Self.identities)
        let line = "alice@example.com on laptop-42 from 192.168.1.20 fe80::1c2b:3d4e via 3c:84:6a:11:22:33 /home/alice/x"
        #expect(redactor.redact(line) == line)
        #expect(redactor.mapping.isEmpty)
        #expect(redactor.counts.isEmpty)
    }

    @Test func sameValueSamePlaceholder() throws {
        let redactor = try Redactor(options: Self.everything, identities: Self.identities)
        let a = redactor.redact("sshd: Accepted publickey for alice from 192.168.1.20 port 51822")
        let b = redactor.redact("sudo: alice : PWD=/home/alice ; mail to Alice.Smith@Example.com and bob@example.com")
        let c = redactor.redact("dhcp 192.168.1.20 -> 10.0.0.7 mac 3C:84:6A:11:22:33 and 3c:84:6a:11:22:33; alice.smith@example.com")
        let d = redactor.redact("Hostname set to <laptop-42>; fqdn LAPTOP-42.corp.example.com; ping 127.0.0.1 255.255.255.0")
        #expect(a == "sshd: Accepted publickey for [user-1] from [ip-1] port 51822")
        #expect(b == "sudo: [user-1] : PWD=/home/[user-1] ; mail to [email-1] and [email-2]")
        #expect(c == "dhcp [ip-1] -> [ip-2] mac [mac-1] and [mac-1]; [email-1]")
        #expect(d == "Hostname set to <[host-1]>; fqdn [host-2]; ping 127.0.0.1 255.255.255.0")
        let mapping = redactor.mapping
        #expect(mapping["[user-1]"] == "alice")
        #expect(mapping["[ip-1]"] == "192.168.1.20")
        #expect(mapping["[ip-2]"] == "10.0.0.7")
        #expect(mapping["[email-1]"] == "Alice.Smith@Example.com")
        #expect(mapping["[email-2]"] == "bob@example.com")
        #expect(mapping["[mac-1]"]?.lowercased() == "3c:84:6a:11:22:33")
        #expect(mapping["[host-1]"] == "laptop-42")
        #expect(mapping["[host-2]"] == "LAPTOP-42.corp.example.com")
        let counts = redactor.counts
        #expect(counts["username"] == 3)
        #expect(counts["ip-address"] == 3)
        #expect(counts["email"] == 3)
        #expect(counts["mac-address"] == 2)
        #expect(counts["hostname"] == 2)
        // Nothing about a value leaks into counts.
        #expect(Set(counts.keys).isSubset(of: Set(BuiltinRule.names)))
    }

    @Test func mappingIsPerRedactor() throws {
        let one = try Redactor(options: Self.everything)
        let two = try Redactor(options: Self.everything)
        #expect(one.redact("a 10.1.1.1 b 10.2.2.2") == "a [ip-1] b [ip-2]")
        #expect(two.redact("b 10.2.2.2") == "b [ip-1]")
    }

    @Test(arguments: [
        ("inet6 fe80::8c3a:5dff:fe21:9b10%wlp0s20f3 scope link", "inet6 [ip-1]%wlp0s20f3 scope link"),
        ("2001:db8:85a3:0:0:8a2e:370:7334 and ::1 and ::", "[ip-1] and ::1 and ::"),
        ("at 10:23:45 std::vector aa:bb:cc:dd:ee:ff", "at 10:23:45 std::vector [mac-1]"),
        ("MAC=3c:84:6a:11:22:33:a4:c3:f0:85:1d:2e:08:00 SRC=10.0.0.9", "MAC=[mac-1]:[mac-2]:08:00 SRC=[ip-1]"),
        ("version 5.15.0.91-generic 1.2.3.4.5 256.1.1.1", "version 5.15.0.91-generic 1.2.3.4.5 256.1.1.1"),
        ("Started user@1000.service and getty@tty1.service", "Started user@1000.service and getty@tty1.service"),
        ("uuid 3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e 00:00:00:00:00:00", "uuid 3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e 00:00:00:00:00:00"),
        ("/home/carol/.cache and /home/bob", "/home/[user-1]/.cache and /home/[user-2]"),
        ("alicex balice alice_1 alice-laptop", "alicex balice alice_1 [user-1]-laptop"),
    ])
    func identifierShapes(_ input: String, _ expected: String) throws {
        let redactor = try Redactor(options: Self.everything, identities: RedactionIdentities(usernames: ["alice", "bob"]))
        #expect(redactor.redact(input) == expected)
    }

    @Test func secretsWinOverIdentifiers() throws {
        let redactor = try Redactor(options: Self.everything, identities: Self.identities)
        let out = redactor.redact("postgres://alice:pw9@laptop-42:5432/db password=alice")
        #expect(out == "postgres://[user-1]:[REDACTED:url-credentials]@[host-1]:5432/db password=[REDACTED:password]")
        #expect(redactor.counts["password"] == 1)
        #expect(redactor.mapping["[user-1]"] == "alice")
    }
}
