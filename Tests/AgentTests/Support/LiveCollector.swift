import Foundation
@testable import Agent
@testable import Shared

/// The real `helpline-collector` on a loopback port with a SQLite file in a temp folder.
/// Built only in a full build (not with HELPLINE_AGENT_ONLY): tests using it fail, not skip,
/// when the binary is missing, so a run that never reached the collector cannot pass.
final class LiveCollector: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    static var binary: String { productsDirectory + "/helpline-collector" }
    static var available: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    /// What is missing when the collector binary is absent, and how to get it.
    static var missing: String {
        "\(binary) is missing: the delivery tests need the real collector; build everything with "
            + "`swift build --build-tests` (without HELPLINE_AGENT_ONLY=1), as scripts/test.sh does after scripts/setup.sh"
    }

    let dataDir: String
    /// Started with `ChildProcess` (posix_spawn): every delivery test starts one, and
    /// Foundation's `Process.run()` can crash (ChildProcess says why).
    private(set) var process: ChildProcess.Running?
    private(set) var port = 0
    private(set) var enrollmentSecret = ""
    let extraArguments: [String]
    var scheme = "http"

    init(dataDir: String, extraArguments: [String] = []) {
        self.dataDir = dataDir
        self.extraArguments = extraArguments
    }

    var url: String { "\(scheme)://127.0.0.1:\(port)" }

    /// Starts it on `port` (0 = any free port) and waits until it listens (30 s at most).
    /// - Throws: when the binary is missing or it does not start.
    func start(port requested: Int = 0) throws {
        guard Self.available else { throw FixtureError(Self.missing) }
        let p = try ChildProcess.spawn(Self.binary, ["serve", "--listen", "127.0.0.1:\(requested)", "--data-dir", dataDir,
                                                     "--min-free-disk-mb", "1", "--log-level", "warning"] + extraArguments,
                                       stdout: .capture, stderr: .discard)
        process = p
        var seen: [String] = []
        // A restart must wait for its own "listening:" line, not the last start's port.
        port = 0
        let reader = LineReader(fd: p.stdout)
        let deadline = Date().addingTimeInterval(30)
        while port == 0, let line = reader.nextLine(before: deadline) {
            seen.append(line)
            // The first start writes its credentials to a 0600 file and prints only its path.
            if line.hasPrefix("first-start credentials: "),
               let text = try? String(contentsOfFile: String(line.dropFirst("first-start credentials: ".count)), encoding: .utf8),
               let secretLine = text.split(separator: "\n").first(where: { $0.hasPrefix("enrollment secret: ") }) {
                enrollmentSecret = String(secretLine.dropFirst("enrollment secret: ".count))
            }
            if line.hasPrefix("listening: "), let p = line.split(separator: ":").last.flatMap({ Int($0) }) { port = p }
        }
        guard port != 0 else { stop(); throw FixtureError("the collector did not start within 30 s: \(seen.joined(separator: "\n"))") }
    }

    /// SIGTERM and wait (30 s at most, then SIGKILL).
    func stop() {
        guard let p = process, p.isRunning else { return }
        p.send(SIGTERM)
        p.wait(upTo: .seconds(30))
        process = nil
    }

    deinit { stop() }

    /// Runs `helpline-collector admin …` on this data dir.
    func admin(_ arguments: [String]) throws -> String {
        let r = try run(Self.binary, ["admin"] + arguments + ["--data-dir", dataDir])
        guard r.status == 0 else { throw FixtureError("admin \(arguments) failed: \(r.error)") }
        return r.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A technician API token.
    lazy var apiToken: String = (try? admin(["token", "create", "tests"])) ?? ""

    /// GET with the API token, decoded.
    func get<T: Decodable>(_ path: String, as type: T.Type) throws -> T {
        let r = try run("/usr/bin/curl", ["-sS", "-k", "-H", "Authorization: Bearer \(apiToken)", url + path])
        return try BundleJSON.decoder().decode(T.self, from: Data(r.output.utf8))
    }

    struct Tickets: Decodable { struct T: Decodable { var id: Int64 }; var tickets: [T] }

    /// Number of tickets the collector holds.
    func ticketCount() throws -> Int { try get("/api/v1/tickets", as: Tickets.self).tickets.count }
}

/// A port nothing listens on right now.
func freePort() -> Int {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(s) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A scratch world for delivery tests: a journal, the laptop sysroot, an agent state folder.
struct AgentWorld {
    let dir: TempDir
    var state: String { dir.file("state") }
    var journal: String { dir.file("journal") }

    init() throws {
        dir = try TempDir()
        let now = Date()
        try JournalFixture.write([
            .init(realtime: ago(120, from: now), bootID: FullBundleTests.boot,
                  [("MESSAGE", "cups.service: Failed with result 'exit-code'."), ("PRIORITY", "3"), ("SYSLOG_IDENTIFIER", "systemd")]),
        ], to: journal)
    }

    /// Runs `helpline` with this world's state folder.
    func helpline(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
        var env = ProcessInfo.processInfo.environment
        env["HELPLINE_CONFIG"] = dir.file("agent.conf")
        for (k, v) in extra { env[k] = v }
        if !FileManager.default.fileExists(atPath: dir.file("agent.conf")) {
            try dir.write("agent.conf", "retries = 3\nconnect_timeout = 2s\nstall_timeout = 5s\n")
        }
        return try run(productsDirectory + "/helpline", arguments + ["--state-dir", state], environment: env)
    }

    /// `helpline request` on the laptop fixture, as JSON.
    func request(_ extra: [String] = [], note: String = "printer broken", environment: [String: String] = [:]) throws
        -> (status: Int32, answer: RequestFlow.Answer?, error: String) {
        let r = try helpline(["request", "--json", "--note", note, "--sysroot", fixturePath("sysroot-laptop"),
                              "--journal-directory", journal] + extra, environment: environment)
        return (r.status, try? BundleJSON.decoder().decode(RequestFlow.Answer.self, from: Data(r.output.utf8)), r.error + r.output)
    }

    func cleanup() { dir.cleanup() }
}
