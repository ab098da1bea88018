import ArgumentParser
import Foundation
import Testing
@testable import Agent
@testable import Shared

@Suite struct EnrollmentKeyTests {
    @Test func createdOwnerOnlyAndStableAcrossCalls() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let state = AgentState(directory: dir.file("state"))
        let key = try state.enrollmentKey()
        #expect(key.hasPrefix("hlk_"))
        #expect(key.count == 4 + 43, "32 random bytes are 43 base64url characters")
        #expect(AgentState.isEnrollmentKey(key), "\(key)")
        let mode = try FileManager.default.attributesOfItem(atPath: state.enrollmentKeyPath)[.posixPermissions] as? Int
        #expect(mode == 0o600, "the enrollment key must be readable by its owner only")
        #expect(try state.enrollmentKey() == key, "the key is created once and reused")
        #expect(try AgentState(directory: dir.file("state")).enrollmentKey() == key, "a later run reads the same key")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("state")) == ["enrollment.key"],
                "no temporary file is left behind")
    }

    @Test func twoStateFoldersGetDifferentKeys() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let a = try AgentState(directory: dir.file("a")).enrollmentKey()
        let b = try AgentState(directory: dir.file("b")).enrollmentKey()
        #expect(a != b)
    }

    @Test func concurrentFirstUsesAgreeOnOneKey() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let state = AgentState(directory: dir.file("state"))
        let keys = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<8 { group.addTask { try? state.enrollmentKey() } }
            var all: [String?] = []
            for await k in group { all.append(k) }
            return all
        }
        #expect(!keys.contains(nil))
        #expect(Set(keys.compactMap { $0 }).count == 1, "\(keys)")
    }

    @Test func aDamagedKeyFileIsRefusedNotReplaced() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let state = AgentState(directory: dir.file("state"))
        try dir.write("state/enrollment.key", "hlk_short\n")
        let error = #expect(throws: AgentStateError.self) { try state.enrollmentKey() }
        #expect(error?.description.contains("does not hold an enrollment key; delete it") == true)
        #expect(try String(contentsOfFile: state.enrollmentKeyPath, encoding: .utf8) == "hlk_short\n")
    }
}

@Suite struct EnrollmentSecretTests {
    func read(file: String? = nil, flag: String? = nil, environment: [String: String] = [:], stdin: Int32 = 0) throws -> (String, [String]) {
        var warnings: [String] = []
        let secret = try EnrollmentSecret.read(file: file, flag: flag, environment: environment, standardInput: stdin) { warnings.append($0) }
        return (secret, warnings)
    }

    func write(_ dir: TempDir, _ name: String, _ text: String, mode: Int) throws -> String {
        try dir.write(name, text)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: dir.file(name))
        return dir.file(name)
    }

    @Test func fromAFileTrimmedWithoutWarning() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let path = try write(dir, "secret", "hle_abc123 \n\n", mode: 0o600)
        let (secret, warnings) = try read(file: path)
        #expect(secret == "hle_abc123")
        #expect(warnings.isEmpty)
    }

    @Test(arguments: [0o644, 0o640, 0o604])
    func aFileOthersCanReadWarnsButWorks(_ mode: Int) throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let path = try write(dir, "secret", "hle_abc123\n", mode: mode)
        let (secret, warnings) = try read(file: path)
        #expect(secret == "hle_abc123")
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("can be read by other users") == true)
        #expect(warnings.first?.contains("chmod 600 \(path)") == true)
    }

    @Test func fromStandardInputThroughAPipe() throws {
        let pipe = Pipe()
        try pipe.fileHandleForWriting.write(contentsOf: Data("hle_from_a_pipe\r\n".utf8))
        try pipe.fileHandleForWriting.close()
        let (secret, _) = try read(file: "-", stdin: pipe.fileHandleForReading.fileDescriptor)
        #expect(secret == "hle_from_a_pipe")
    }

    @Test func emptyStandardInputIsAnError() throws {
        let pipe = Pipe()
        try pipe.fileHandleForWriting.close()
        let error = #expect(throws: ValidationError.self) { try read(file: "-", stdin: pipe.fileHandleForReading.fileDescriptor) }
        #expect(error?.message.contains("standard input held no enrollment secret") == true)
    }

    @Test(arguments: ["", "\n", "  \t\n"])
    func anEmptyFileIsAnError(_ text: String) throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let path = try write(dir, "secret", text, mode: 0o600)
        let error = #expect(throws: ValidationError.self) { try read(file: path) }
        #expect(error?.message == "the secret file \(path) is empty; put the enrollment secret from the collector's administrator in it")
    }

    @Test func aMissingFileIsAnErrorNamingIt() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let error = #expect(throws: ValidationError.self) { try read(file: dir.file("nope")) }
        #expect(error?.message.hasPrefix("cannot read the secret file \(dir.file("nope")): No such file or directory") == true, "\(error?.message ?? "")")
    }

    @Test func aHugeFileIsRefused() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let path = try write(dir, "big", String(repeating: "x", count: EnrollmentSecret.maxBytes + 1), mode: 0o600)
        let error = #expect(throws: ValidationError.self) { try read(file: path) }
        #expect(error?.message.contains("more than \(EnrollmentSecret.maxBytes) bytes") == true)
    }

    @Test func flagAndEnvironmentAreTrimmedAndTheFlagWins() throws {
        #expect(try read(flag: " hle_flag\n", environment: ["HELPLINE_ENROLL_SECRET": "hle_env"]).0 == "hle_flag")
        #expect(try read(environment: ["HELPLINE_ENROLL_SECRET": "hle_env\n"]).0 == "hle_env")
    }

    @Test func missingEmptyOrDoubleSecretsAreClearErrors() throws {
        let none = #expect(throws: ValidationError.self) { try read() }
        #expect(none?.message.contains("--secret-file PATH") == true)
        let emptyEnv = #expect(throws: ValidationError.self) { try read(environment: ["HELPLINE_ENROLL_SECRET": " "]) }
        #expect(emptyEnv?.message.contains("HELPLINE_ENROLL_SECRET is set but empty") == true)
        let emptyFlag = #expect(throws: ValidationError.self) { try read(flag: "") }
        #expect(emptyFlag?.message.contains("--secret is empty") == true)
        let both = #expect(throws: ValidationError.self) { try read(file: "/dev/null", flag: "hle_x") }
        #expect(both?.message.contains("not both") == true)
    }
}

/// `helpline enroll`, the real binary through libcurl, against Fixtures/net/enroll_stub.py.
@Suite(.serialized) struct EnrollCommandTests {
    var helpline: String { productsDirectory + "/helpline" }

    func enroll(_ dir: TempDir, _ server: String, _ extra: [String] = [], input: Data? = nil,
                environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
        var env = ProcessInfo.processInfo.environment
        env["HELPLINE_CONFIG"] = dir.file("agent.conf")
        env.removeValue(forKey: "HELPLINE_ENROLL_SECRET")
        for (k, v) in environment { env[k] = v }
        if !FileManager.default.fileExists(atPath: dir.file("agent.conf")) { try dir.write("agent.conf", "retries = 1\n") }
        return try run(helpline, ["enroll", "--server", server, "--state-dir", dir.file("state")] + extra, environment: env, input: input)
    }

    @Test func sendsTheKeyEveryTimeAndTheHeldTokenWhenReenrolling() throws {
        #expect(FileManager.default.fileExists(atPath: "/etc/machine-id"), "enrollment needs /etc/machine-id (systemd-machine-id-setup)")
        let dir = try TempDir(); defer { dir.cleanup() }
        let stub = try EnrollStub(plan: ["new", "again"], log: dir.file("requests.jsonl"))
        try dir.write("secret", "hle_test_secret\n")
        chmod(dir.file("secret"), 0o600)

        let first = try enroll(dir, stub.url, ["--secret-file", dir.file("secret")])
        #expect(first.status == 0, "\(first.error)")
        #expect(first.output.contains("as host 0f0e0d0c-0b0a-4909-8807-060504030201"))
        #expect(!first.error.contains("warning"), "a 0600 secret file is not warned about")

        let second = try enroll(dir, stub.url + "/", ["--secret-file", "-"], input: Data("hle_test_secret\n".utf8))
        #expect(second.status == 0, "\(second.error)")
        #expect(second.output.contains("(again; the old token no longer works)"))

        let requests = try stub.requests()
        try #require(requests.count == 2)
        let key = try String(contentsOfFile: dir.file("state/enrollment.key"), encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(requests.allSatisfy { $0.enrollmentKey == key }, "the same key on every enrollment")
        #expect(requests.allSatisfy { $0.secret == "hle_test_secret" }, "the newline is trimmed")
        #expect(requests[0].currentHostToken == nil, "nothing held before the first enrollment")
        #expect(requests[1].currentHostToken == "hlh_stub_token_0", "re-enrolling proves possession of the held token")
        let saved = try #require(try AgentState(directory: dir.file("state")).enrollment())
        #expect(saved.hostToken == "hlh_stub_token_1")
    }

    @Test func theHeldTokenIsNeverShownToAnotherServer() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let first = try EnrollStub(plan: ["new"], log: dir.file("first.jsonl"))
        let other = try EnrollStub(plan: ["new"], log: dir.file("other.jsonl"))
        let a = try enroll(dir, first.url, [], environment: ["HELPLINE_ENROLL_SECRET": "hle_a"])
        #expect(a.status == 0, "\(a.error)")
        let b = try enroll(dir, other.url, [], environment: ["HELPLINE_ENROLL_SECRET": "hle_b"])
        #expect(b.status == 0, "\(b.error)")
        let seen = try #require(try other.requests().first)
        #expect(seen.currentHostToken == nil, "the first collector's token must not be sent to \(other.url)")
        #expect(seen.enrollmentKey == (try first.requests().first?.enrollmentKey))
    }

    @Test func approvalPendingSaysWhatToDoAndExits5() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let stub = try EnrollStub(plan: ["pending"], log: dir.file("requests.jsonl"))
        let r = try enroll(dir, stub.url, ["--secret", "hle_s"])
        #expect(r.status == ExitCodes.notEnrolled)
        #expect(r.error.contains("this computer is already enrolled with the collector at \(stub.url)"), "\(r.error)")
        #expect(r.error.contains("An administrator must approve enrolling it again"))
        #expect(r.error.contains("helpline-collector admin host approve <hostname or host id>"))
        #expect(r.error.contains("Then run helpline enroll again."))
        #expect(!FileManager.default.fileExists(atPath: dir.file("state/enrollment.json")), "nothing is saved")
        #expect(FileManager.default.fileExists(atPath: dir.file("state/enrollment.key")), "the key stays for the approved retry")
    }

    @Test func approvalRequiredIsExplainedToo() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let stub = try EnrollStub(plan: ["required"], log: dir.file("requests.jsonl"))
        let r = try enroll(dir, stub.url, ["--secret", "hle_s"])
        #expect(r.status == ExitCodes.notEnrolled)
        #expect(r.error.contains("cannot be approved"), "\(r.error)")
    }

    @Test func noSecretIsAClearErrorAndNothingIsSent() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let stub = try EnrollStub(plan: ["new"], log: dir.file("requests.jsonl"))
        let r = try enroll(dir, stub.url)
        #expect(r.status != 0)
        #expect(r.error.contains("--secret-file PATH"), "\(r.error)")
        let empty = try enroll(dir, stub.url, ["--secret-file", "-"], input: Data())
        #expect(empty.status != 0)
        #expect(empty.error.contains("standard input held no enrollment secret"), "\(empty.error)")
        #expect(try stub.requests().isEmpty)
    }

    @Test func helpWarnsThatArgvIsVisible() throws {
        let r = try run(helpline, ["enroll", "--help"])
        #expect(r.output.contains("--secret-file"))
        #expect(r.output.replacingOccurrences(of: "\n", with: " ").split(separator: " ").joined(separator: " ").contains("Other users can see it in ps; prefer --secret-file"),
                "\(r.output)")
    }
}
