import Foundation
import Testing
@testable import Collector
@testable import Shared

/// The real `helpline-collector` binary on a random loopback port with a SQLite file,
/// driven with curl: first start, admin commands, upload, SIGTERM, and a SIGKILL mid-upload.
@Suite(.serialized) struct LiveTests {
    @Test func firstStartAdminUploadAndGracefulStop() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let data = dir.file("data")
        var server = try LiveServer.start(dataDir: data)
        defer { server.kill() }
        let first = server.firstStart
        #expect(first.secret.hasPrefix("hle_"))
        #expect(first.adminPassword.count >= 16)

        let token = try Process.runCollector(["admin", "token", "create", "ci", "--data-dir", data])
        #expect(token.status == 0)
        let apiToken = token.output.trimmingCharacters(in: .newlines)
        #expect(apiToken.hasPrefix("hlt_") && !apiToken.contains("\n"))
        let secret = try Process.runCollector(["admin", "secret", "create", "--label", "lab", "--data-dir", data])
        #expect(secret.output.hasPrefix("hle_") && secret.output.split(separator: "\n").count == 1)
        let user = try Process.runCollector(["admin", "user", "add", "alice", "--role", "technician", "--data-dir", data])
        #expect(user.status == 0 && user.output.trimmingCharacters(in: .newlines).count >= 16)
        let dup = try Process.runCollector(["admin", "user", "add", "alice", "--data-dir", data])
        #expect(dup.status != 0)
        #expect(dup.error.contains("already exists"))

        let host = try server.enroll(secret: secret.output.trimmingCharacters(in: .newlines), machineID: "live-1")
        let manifest = sampleManifest(hostID: host.hostID)
        try Data(try makeBundle(manifest: manifest, journalEntries: 5000)).write(to: URL(fileURLWithPath: dir.file("b.tar.gz")))
        let up = try server.curl(["-X", "POST", "-H", "Authorization: Bearer \(host.hostToken)", "-H", "Content-Type: application/gzip",
                                  "-H", "Expect:", "--data-binary", "@" + dir.file("b.tar.gz"), "/api/v1/bundles"])
        #expect(up.status == 201)
        let receipt = try BundleJSON.decoder().decode(BundleReceipt.self, from: Data(up.body.utf8))
        let again = try server.curl(["-X", "POST", "-H", "Authorization: Bearer \(host.hostToken)", "-H", "Content-Type: application/gzip",
                                     "--data-binary", "@" + dir.file("b.tar.gz"), "/api/v1/bundles"])
        #expect(again.status == 200)
        #expect(try BundleJSON.decoder().decode(BundleReceipt.self, from: Data(again.body.utf8)).ticketID == receipt.ticketID)
        let list = try server.curl(["-H", "Authorization: Bearer \(apiToken)", "/api/v1/tickets"])
        #expect(try BundleJSON.decoder().decode(TicketList.self, from: Data(list.body.utf8)).tickets.count == 1)
        let metrics = try server.curl(["/metrics"])
        #expect(metrics.body.contains("helpline_bundles_accepted_total 1"))
        #expect(metrics.body.contains("hb_requests_total") || metrics.body.contains("hb_requests"))

        // Everything the collector wrote is this user's only: folders 0700, files 0600.
        for (path, isDir) in [(data, true), (data + "/blobs", true), (data + "/tmp", true), (data + "/collector.sqlite", false)]
            + filesUnder(data + "/blobs").map({ (data + "/blobs/" + $0, false) }) {
            var st = stat()
            #expect(stat(path, &st) == 0)
            #expect(st.st_mode & 0o777 == (isDir ? 0o700 : 0o600), "\(path) has mode \(String(st.st_mode & 0o777, radix: 8))")
        }

        // SIGTERM: stops cleanly, exit 0.
        #expect(server.terminate() == 0)
        // A second start issues no credentials.
        server = try LiveServer.start(dataDir: data)
        #expect(server.firstStart.secret.isEmpty)
        #expect(server.terminate() == 0)
        // A data directory others can write to is refused, and nothing is started.
        chmod(data, 0o777)
        let refused = try Process.runCollector(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
        #expect(refused.status != 0)
        #expect(refused.error.contains("can be written by other users"))
    }

    @Test func servesTLSWhenGivenACertificate() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "openssl is missing; scripts/setup.sh installs it")
        let dir = try TempDir()
        defer { dir.cleanup() }
        let gen = try Process.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                                       "-keyout", dir.file("key.pem"), "-out", dir.file("cert.pem")])
        #expect(gen.status == 0)
        let server = try LiveServer.start(dataDir: dir.file("data"),
                                          extra: ["--tls-certificate", dir.file("cert.pem"), "--tls-key", dir.file("key.pem")])
        defer { server.kill() }
        let https = try Process.run("/usr/bin/curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(server.port)/healthz"])
        #expect(https.output == "200")
        let plain = try Process.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(server.port)/healthz"])
        #expect(plain.output != "200")
        // TLS 1.2 is the minimum: a client offering at most TLS 1.1 (allowed on the client
        // side by security level 0) fails the handshake; the same client at 1.2 succeeds.
        func handshake(_ version: String) throws -> Int32 {
            try Process.run("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(server.port)", version,
                                                 "-cipher", "DEFAULT:@SECLEVEL=0", "-brief"], input: "").status
        }
        #expect(try handshake("-tls1_2") == 0)
        #expect(try handshake("-tls1_1") != 0)
        #expect(try handshake("-tls1") != 0)
        #expect(server.terminate() == 0)
    }

    /// The periodic retention task expires bundles on its own; `serve --rules-dir` and
    /// `diagnose` use a site's own rule; a bad rule stops `serve` naming the file.
    @Test func retentionRunsOnItsOwnAndSiteRulesApplyToServeAndDiagnose() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let rules = dir.file("rules")
        try FileManager.default.createDirectory(atPath: rules, withIntermediateDirectories: true)
        try """
            id: site.marker
            category: other
            summary: The site's own marker line.
            severity: high
            confidence: 0.9
            match:
              contains: ["HELPLINE-SITE-MARKER"]
            title: The site marker was logged
            detail: "{{count}} marker lines."
            user_advice: Nothing to do.
            technician_advice: Nothing to do.
            """.write(toFile: rules + "/site.marker.yaml", atomically: true, encoding: .utf8)
        try """
            site.marker:
              match:
                - {unit: site.service, priority: 3, message: 'HELPLINE-SITE-MARKER seen'}
                - {identifier: site-tool, message: 'again: HELPLINE-SITE-MARKER'}
              no_match:
                - {unit: site.service, message: 'HELPLINE-SITE marker'}
            """.write(toFile: rules + "/site.marker.examples.yaml", atomically: true, encoding: .utf8)
        let data = dir.file("data")
        let server = try LiveServer.start(dataDir: data, extra: ["--rules-dir", rules, "--limit", "retention_interval_seconds=1",
                                                                 "--limit", "retention_bundles_per_host=1"])
        defer { server.kill() }
        let host = try server.enroll(secret: server.firstStart.secret, machineID: "live-rules")
        var marker: [UInt8] = []
        JournalLineCodec.append(JournalEntry(realtime: 1_790_000_000_000_000, priority: 3, unit: "site.service",
                                             message: "HELPLINE-SITE-MARKER seen"), to: &marker)
        var ids: [String] = []
        for i in 0..<3 {
            let manifest = sampleManifest(hostID: host.hostID, machineID: "live-rules")
            ids.append(manifest.bundleID)
            let writer = try BundleWriter(path: dir.file("b\(i).tar.gz"))
            try writer.add(BundleMember.journal, bytes: marker)
            _ = try writer.finish(manifest: manifest)
            let up = try server.curl(["-X", "POST", "-H", "Authorization: Bearer \(host.hostToken)", "-H", "Content-Type: application/gzip",
                                      "--data-binary", "@" + dir.file("b\(i).tar.gz"), "/api/v1/bundles"])
            #expect(up.status == 201)
            #expect(up.body.contains("site.marker"), "the site rule's finding is in the receipt: \(up.body.prefix(300))")
        }
        // No pass is triggered by hand: the task, every second, keeps one bundle per host.
        let deadline = Date(timeIntervalSinceNow: 20)
        while filesUnder(data + "/blobs").count > 1 && Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
        #expect(filesUnder(data + "/blobs").count == 1)
        let metrics = try server.curl(["/metrics"])
        #expect(metrics.body.contains("helpline_bundles_expired_total 2"))
        #expect(server.terminate() == 0)

        // `diagnose` with and without the site's rules.
        let with = try Process.runCollector(["diagnose", dir.file("b0.tar.gz"), "--json", "--rules-dir", rules])
        #expect(with.status == 0)
        #expect(with.output.contains("site.marker"))
        let without = try Process.runCollector(["diagnose", dir.file("b0.tar.gz"), "--json"])
        #expect(without.status == 0)
        #expect(!without.output.contains("site.marker"))
        let broken = try Process.runCollector(["diagnose", dir.file("nothing.tar.gz")])
        #expect(broken.status == 1)
        #expect(broken.error.contains("cannot diagnose"))

        // A rule with an unknown key stops serve, naming the file.
        try "id: site.bad\ncolour: blue\n".write(toFile: rules + "/site.bad.yaml", atomically: true, encoding: .utf8)
        let refused = try Process.runCollector(["serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--rules-dir", rules])
        #expect(refused.status != 0)
        #expect(refused.error.contains("site.bad.yaml"))
    }

    /// `serve --check-config` reads what `serve` would (config file, TLS files, integrations'
    /// secrets and `ca_file`, site rules), prints what it found and exits 0, or exits 1 naming
    /// what is wrong; either way it creates no data directory and opens no database.
    @Test func checkConfigReadsWhatServeWouldAndWritesNothing() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try IntegrationTests.makeCA(dir, "desk")
        try "whsec-0123456789abcdef\n".write(toFile: dir.file("hook.key"), atomically: true, encoding: .utf8)
        func config(caFile: String) throws -> String {
            let path = dir.file("collector-\(UUID().uuidString).yaml")
            try """
                listen: 127.0.0.1:0
                data_dir: \(dir.file("data"))
                integrations:
                  - name: desk
                    kind: webhook
                    url: https://desk.corp.example/hook
                    secret_file: \(dir.file("hook.key"))
                    ca_file: \(caFile)
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let good = try Process.runCollector(["serve", "--check-config", "--config", try config(caFile: dir.file("desk-ca.pem")),
                                             "--tls-certificate", dir.file("desk.pem"), "--tls-key", dir.file("desk.key")])
        #expect(good.status == 0, "\(good.error)")
        #expect(good.output.contains("configuration OK"))
        #expect(good.output.contains("desk (webhook, ca_file (1 certificate))"), "\(good.output)")
        #expect(good.output.contains("(TLS)") && good.output.contains("database: sqlite:\(dir.file("data"))/collector.sqlite"))
        let badCA = try Process.runCollector(["serve", "--check-config", "--config", try config(caFile: dir.file("desk.key"))])
        #expect(badCA.status != 0 && badCA.error.contains("integration desk") && badCA.error.contains("holds no certificate"), "\(badCA.error)")
        let badTLS = try Process.runCollector(["serve", "--check-config", "--config", try config(caFile: dir.file("desk-ca.pem")),
                                               "--tls-certificate", dir.file("hook.key"), "--tls-key", dir.file("desk.key")])
        #expect(badTLS.status != 0 && badTLS.error.contains("could not load the TLS certificate"), "\(badTLS.error)")
        try FileManager.default.createDirectory(atPath: dir.file("rules"), withIntermediateDirectories: true)
        try "id: site.bad\ncolour: blue\n".write(toFile: dir.file("rules/site.bad.yaml"), atomically: true, encoding: .utf8)
        let badRules = try Process.runCollector(["serve", "--check-config", "--config", try config(caFile: dir.file("desk-ca.pem")),
                                                 "--rules-dir", dir.file("rules")])
        #expect(badRules.status != 0 && badRules.error.contains("site.bad.yaml"), "\(badRules.error)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("data")), "--check-config created the data directory")
    }

    @Test func killedMidUploadThenRetriedMakesExactlyOneTicket() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let data = dir.file("data")
        var server = try LiveServer.start(dataDir: data)
        defer { server.kill() }
        let host = try server.enroll(secret: server.firstStart.secret, machineID: "crash-1")
        var random = SystemRandomNumberGenerator()
        let noise = (0..<(4 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) }
        let manifest = sampleManifest(hostID: host.hostID)
        try Data(try makeBundle(manifest: manifest, attachment: noise, level: 1)).write(to: URL(fileURLWithPath: dir.file("big.tar.gz")))

        // A slow upload (~20 s at 200 KiB/s, so a test starved for seconds by a loaded machine
        // still finds it in progress); SIGKILL the server once its temp file exists.
        let slow = Process()
        slow.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        slow.arguments = ["-s", "-o", "/dev/null", "--limit-rate", "200K", "-X", "POST", "-H", "Authorization: Bearer \(host.hostToken)",
                          "-H", "Content-Type: application/gzip", "-H", "Expect:", "--data-binary", "@" + dir.file("big.tar.gz"),
                          "http://127.0.0.1:\(server.port)/api/v1/bundles"]
        try slow.run()
        let deadline = Date(timeIntervalSinceNow: 30)
        while filesUnder(data + "/tmp").isEmpty && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        try await Task.sleep(for: .milliseconds(500))
        #expect(!filesUnder(data + "/tmp").isEmpty)
        server.kill()
        slow.wait(deadline: 60)

        // Restart: the temp file is cleaned, nothing was stored.
        server = try LiveServer.start(dataDir: data)
        #expect(filesUnder(data + "/tmp").isEmpty)
        #expect(filesUnder(data + "/blobs").isEmpty)
        for _ in 0..<2 {
            let retry = try server.curl(["-X", "POST", "-H", "Authorization: Bearer \(host.hostToken)", "-H", "Content-Type: application/gzip",
                                         "-H", "Expect:", "--data-binary", "@" + dir.file("big.tar.gz"), "/api/v1/bundles"])
            #expect(retry.status == 201 || retry.status == 200)
        }
        #expect(server.terminate() == 0)
        let store = try SQLiteStore(path: data + "/collector.sqlite")
        #expect(try await store.tickets(TicketFilter()).count == 1)
        #expect(try await store.counts().liveBundles == 1)
        try await store.close()
        #expect(filesUnder(data + "/blobs").count == 1)
    }
}

/// The collector binary running on a random port.
struct LiveServer {
    let process: Process
    let port: Int
    let firstStart: (secret: String, adminPassword: String)
    private let stdout: Pipe

    /// The built binary beside the test bundle (`.build/debug/helpline-collector`).
    static var binary: String {
        if let env = ProcessInfo.processInfo.environment["HELPLINE_COLLECTOR_BIN"] { return env }
        var url = Bundle.main.bundleURL
        for _ in 0..<6 {
            let candidate = url.appendingPathComponent("helpline-collector").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            url = url.deletingLastPathComponent()
        }
        var arg = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = arg.appendingPathComponent("helpline-collector").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            arg = arg.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug/helpline-collector"
    }

    static func start(dataDir: String, extra: [String] = []) throws -> LiveServer {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warning", "--min-free-disk-mb", "1"] + extra
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        // A collector that hangs before printing `listening:` is killed after 30 s, which
        // closes its stdout and ends the blocking reads below.
        let watchdog = DispatchWorkItem { if p.isRunning { Glibc.kill(p.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
        defer { watchdog.cancel() }
        var text = ""
        let deadline = Date(timeIntervalSinceNow: 30)
        while !text.contains("listening: ") || !text.hasSuffix("\n") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty {
                if !p.isRunning || Date() > deadline { p.terminate(); throw LiveError("collector did not start: \(text)") }
                continue
            }
            text += String(decoding: chunk, as: UTF8.self)
        }
        var secret = "", password = "", port = 0
        for line in text.split(separator: "\n") {
            if line.hasPrefix("first-start credentials: ") {
                let path = String(line.dropFirst("first-start credentials: ".count))
                var st = stat()
                guard stat(path, &st) == 0, st.st_mode & 0o777 == 0o600 else {
                    p.terminate()
                    throw LiveError("the first-start credentials file \(path) is missing or not mode 600")
                }
                let file = try String(contentsOfFile: path, encoding: .utf8)
                for fileLine in file.split(separator: "\n") {
                    if fileLine.hasPrefix("enrollment secret: ") { secret = String(fileLine.dropFirst("enrollment secret: ".count)) }
                    if fileLine.hasPrefix("admin login: admin ") { password = String(fileLine.dropFirst("admin login: admin ".count)) }
                }
            }
            if line.hasPrefix("listening: ") { port = Int(line.split(separator: ":").last ?? "") ?? 0 }
        }
        if !secret.isEmpty, text.contains(secret) || text.contains(password) {
            p.terminate()
            throw LiveError("the collector printed a first-start credential on standard output")
        }
        return LiveServer(process: p, port: port, firstStart: (secret, password), stdout: out)
    }

    struct LiveError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// curl against the server; returns status and body.
    func curl(_ args: [String]) throws -> (status: Int, body: String) {
        var a = args
        let path = a.removeLast()
        let r = try Process.run("/usr/bin/curl", ["-s", "-w", "\n%{http_code}"] + a + ["http://127.0.0.1:\(port)\(path)"])
        var lines = r.output.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.removeLast()) ?? 0
        return (status, lines.joined(separator: "\n"))
    }

    func enroll(secret: String, machineID: String) throws -> EnrollResponse {
        let body = String(decoding: try BundleJSON.encoder().encode(EnrollRequest(secret: secret, hostname: "live", machineID: machineID, agentVersion: "t")), as: UTF8.self)
        let r = try curl(["-X", "POST", "-H", "Content-Type: application/json", "-d", body, "/api/v1/enroll"])
        guard r.status == 201 || r.status == 200 else { throw LiveError("enroll answered \(r.status): \(r.body)") }
        return try BundleJSON.decoder().decode(EnrollResponse.self, from: Data(r.body.utf8))
    }

    /// SIGTERM and wait; returns the exit status.
    func terminate() -> Int32 {
        process.terminate()
        process.wait(deadline: 30)
        return process.terminationStatus
    }

    /// SIGKILL (no-op when already stopped).
    func kill() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

extension Process {
    /// Waits for the process to exit; after `deadline` seconds it is killed (SIGKILL) and
    /// reaped, so no test can hang on a child.
    func wait(deadline seconds: TimeInterval) {
        let end = Date(timeIntervalSinceNow: seconds)
        while isRunning && Date() < end { usleep(20_000) }
        if isRunning { Glibc.kill(processIdentifier, SIGKILL) }
        waitUntilExit()
    }

    /// Runs a program to completion.
    static func run(_ path: String, _ args: [String], input: String? = nil) throws -> (status: Int32, output: String, error: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let input { inp.fileHandleForWriting.write(Data(input.utf8)) }
        try inp.fileHandleForWriting.close()
        // Every wait on a child has a deadline: a hung child is killed after `timeout`.
        let timeout: TimeInterval = 60
        let watchdog = DispatchWorkItem { if p.isRunning { Glibc.kill(p.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.wait(deadline: timeout)
        watchdog.cancel()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Runs `helpline-collector` with arguments.
    static func runCollector(_ args: [String], input: String? = nil) throws -> (status: Int32, output: String, error: String) {
        try run(LiveServer.binary, args, input: input)
    }
}
