import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing
import Diagnosis
@testable import Collector
@testable import Shared

// Helpers copied in spirit from Tests/SharedTests/TestSupport.swift (test targets do not
// import each other), plus a collector built on a temp SQLite file.

/// A fresh temporary directory, removed by the caller with `cleanup()`.
struct TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "helpline-collector-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Every regular file under `path`, relative.
func filesUnder(_ path: String) -> [String] {
    guard let e = FileManager.default.enumerator(atPath: path) else { return [] }
    var out: [String] = []
    while let name = e.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDir), !isDir.boolValue { out.append(name) }
    }
    return out.sorted()
}

/// gzip-compresses `bytes` as one member.
func gzip(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
    var out: [UInt8] = []
    let d = try GzipDeflater(level: level)
    try d.compress(bytes) { out.append(contentsOf: $0) }
    try d.finish { out.append(contentsOf: $0) }
    return out
}

/// A raw tar member for crafting hostile archives.
struct RawMember {
    var name: String
    var data: [UInt8] = []
    var typeflag: UInt8 = UInt8(ascii: "0")
}

/// Builds tar bytes by hand, bypassing `Tar.header`'s own path checks.
func craftTar(_ members: [RawMember], endMarker: Bool = true) -> [UInt8] {
    var out: [UInt8] = []
    for m in members {
        var h = (try? Tar.header(name: "placeholder", size: m.data.count, mtime: 0)) ?? []
        let nameBytes = Array(m.name.utf8.prefix(100))
        for i in 0..<100 { h[i] = i < nameBytes.count ? nameBytes[i] : 0 }
        h[156] = m.typeflag
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        let field = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, 0x20]
        for i in 0..<8 { h[148 + i] = field[i] }
        out += h
        out += m.data
        out += [UInt8](repeating: 0, count: Tar.padding(for: m.data.count))
    }
    if endMarker { out += Tar.endOfArchive }
    return out
}

/// A valid manifest for `hostID`.
func sampleManifest(id: String = UUID().uuidString.lowercased(), hostID: String?, machineID: String? = "machine-1",
                    schema: Int = BundleSchema.current, note: String? = "wifi keeps dropping") -> Manifest {
    Manifest(schemaVersion: schema, bundleID: id, createdAt: Date(timeIntervalSince1970: 1_790_000_000), agentVersion: "0.1.0",
             host: HostIdentity(hostID: hostID, hostname: "laptop-42", machineID: machineID, bootID: "b00b"),
             reason: .userRequest, note: note,
             probes: [ProbeReport(name: "journal", member: BundleMember.journal, status: .ok, durationMS: 12, items: 2, bytes: 100)])
}

func manifestBytes(_ m: Manifest) throws -> [UInt8] {
    [UInt8](try BundleJSON.encoder().encode(m))
}

/// Journal entries for tests: priorities cycle 0…7, units alternate.
func sampleJournal(count: Int) -> [UInt8] {
    var out: [UInt8] = []
    for i in 0..<count {
        let entry = JournalEntry(realtime: 1_790_000_000_000_000 + Int64(i) * 1_000_000, priority: i % 8,
                                 unit: i % 2 == 0 ? "NetworkManager.service" : "gdm.service",
                                 message: i % 10 == 0 ? "wlan0: link DOWN \(i)" : "message \(i)")
        JournalLineCodec.append(entry, to: &out)
    }
    return out
}

/// A real bundle made with `BundleWriter`.
func makeBundle(manifest: Manifest, journalEntries: Int = 20, attachment: [UInt8]? = nil, level: Int32 = 6) throws -> [UInt8] {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let writer = try BundleWriter(path: dir.file("b.tar.gz"), level: level)
    try writer.addJSON(BundleMember.system, SystemInfo(hostname: "laptop-42", machineID: manifest.host.machineID))
    try writer.add(BundleMember.journal, bytes: sampleJournal(count: journalEntries))
    if let note = manifest.note { try writer.add(BundleMember.note, bytes: Array(note.utf8)) }
    if let attachment { try writer.add(BundleMember.attachmentsPrefix + "blob.bin", bytes: attachment) }
    let result = try writer.finish(manifest: manifest)
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: result.path)))
}

/// A diagnoser that returns fixed findings, optionally waiting for a gate first.
struct FixedDiagnoser: BundleDiagnoser {
    var findings: [Finding]
    var gate: AsyncGate?
    func startPass() -> any DiagnosisPass { Pass(findings: findings, gate: gate) }
    /// One journal rule per rule id of `findings`, so the rules pages and API know them.
    var rules: [RuleDescription] {
        var seen = Set<String>()
        return findings.filter { seen.insert($0.ruleID).inserted }
            .map { RuleDescription(id: $0.ruleID, category: $0.category, kind: .journal, summary: $0.title, source: "test") }
    }

    final class Pass: DiagnosisPass {
        // Immutable.
        let findings: [Finding]
        let gate: AsyncGate?
        init(findings: [Finding], gate: AsyncGate?) { self.findings = findings; self.gate = gate }
        func consume(_ entry: JournalEntry) {}
        func finish(bundleAt path: String, contents: BundleContents) async throws -> [Finding] {
            if let gate { await gate.wait() }
            return findings
        }
    }
}

/// A one-shot gate: `wait()` suspends until `open()`; `entered` counts waiters.
actor AsyncGate {
    /// Waits until `count` callers are waiting, for at most `seconds`; then opens the gate (so
    /// nothing stays parked on it) and throws: a test whose requests fail before they reach
    /// the gate fails here instead of hanging.
    func waitForEntered(_ count: Int, seconds: Int = 30) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while entered < count {
            guard ContinuousClock.now < deadline else {
                open()
                throw TestPostgresError("only \(entered) of \(count) callers reached the gate within \(seconds) s")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private(set) var entered = 0
    func wait() async {
        entered += 1
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func open() {
        isOpen = true
        for w in waiters { w.resume() }
        waiters = []
    }
}

/// A free-space probe that answers a settable figure.
final class FakeFreeSpace: FreeSpaceProbe, @unchecked Sendable {
    // @unchecked Sendable: the figure is guarded by `lock`.
    private let lock = NSLock()
    private var bytes: Int64
    init(_ bytes: Int64) { self.bytes = bytes }
    func set(_ value: Int64) { lock.withLock { bytes = value } }
    func availableBytes(at path: String) -> Int64? { lock.withLock { bytes } }
}

/// The PostgreSQL server the test command started (`scripts/postgres.sh`, whose admin URL is
/// in `HELPLINE_TEST_POSTGRES_URL`). `HELPLINE_TEST_STORE=postgres` runs every
/// `TestCollector` on a database of its own there instead of a SQLite file.
enum TestPostgres {
    /// Whether `TestCollector`s use PostgreSQL.
    static var isSelected: Bool { ProcessInfo.processInfo.environment["HELPLINE_TEST_STORE"] == "postgres" }

    /// The admin URL; a test that needs PostgreSQL fails (it never skips) without one.
    static func adminURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["HELPLINE_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw TestPostgresError("HELPLINE_TEST_POSTGRES_URL is not set: start a server with `scripts/postgres.sh start DIR` and export the URL it prints (scripts/test.sh does)")
        }
        return url
    }

    /// A new empty database on the test server; its URL. `drop` removes it.
    /// - Parameter icuCollation: collate text with ICU's en-US ("a" < "B" < "b") instead of
    ///   byte order, to show that the store does not depend on the database's collation.
    static func freshDatabase(icuCollation: Bool = false) async throws -> String {
        let admin = try adminURL()
        let name = "helpline_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try await run(admin, icuCollation
            ? "CREATE DATABASE \(name) TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            : "CREATE DATABASE \(name)")
        guard var c = URLComponents(string: admin) else { throw TestPostgresError("unreadable URL \(admin)") }
        c.path = "/" + name
        return c.string!
    }

    /// Drops the database `url` names (connections still open to it are ended).
    static func drop(_ url: String) async {
        guard let name = URLComponents(string: url)?.path.dropFirst(), name.hasPrefix("helpline_t_"), let admin = try? adminURL() else { return }
        try? await run(admin, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Runs one statement as the admin role.
    static func run(_ url: String, _ sql: String) async throws {
        let parsed = try PostgresURL(url)
        // The query may ask for a connection before the child task has entered `run()`;
        // PostgresNIO waits for it and logs a warning each time, 270 lines a CI run. Errors only.
        var logger = Logger(label: "test-postgres")
        logger.logLevel = .error
        let client = PostgresClient(configuration: try parsed.configuration(), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: sql))
        }
    }
}

struct TestPostgresError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A collector on a temp data directory and SQLite file (or, with `HELPLINE_TEST_STORE=postgres`,
/// a fresh PostgreSQL database), for `app.test(.router)`.
struct TestCollector {
    let dir: TempDir
    let store: any CollectorStore
    /// The SQLite store, for tests that read its file; fails the test on PostgreSQL.
    var sqliteStore: SQLiteStore {
        get throws {
            guard let s = store as? SQLiteStore else { throw TestPostgresError("this test reads the SQLite file; it runs on SQLite only") }
            return s
        }
    }
    let configuration: CollectorConfiguration
    let metrics = CollectorMetrics()
    let diagnoser: any BundleDiagnoser
    let freeSpace: any FreeSpaceProbe
    let enrollmentSecret: String

    init(limits: [String: Int] = [:], diagnoser: any BundleDiagnoser = EmptyDiagnoser(),
         freeSpace: any FreeSpaceProbe = FakeFreeSpace(1 << 40), integrations: [IntegrationSettings]? = nil) async throws {
        dir = try TempDir()
        let database = TestPostgres.isSelected ? try await TestPostgres.freshDatabase() : nil
        // Tests run side by side: a small pool each keeps them under the server's max_connections.
        var limits = limits
        if database != nil, limits["postgres_max_connections"] == nil { limits["postgres_max_connections"] = 6 }
        configuration = try CollectorConfiguration(CollectorSettings(listen: "127.0.0.1:0", dataDir: dir.file("data"), database: database,
                                                                     publicURL: "https://helpline.test", limits: limits,
                                                                     integrations: integrations))
        store = try await openStore(configuration)
        enrollmentSecret = try await FirstStartCredentials.issueIfFirstStart(store: store)!.enrollmentSecret
        self.diagnoser = diagnoser
        self.freeSpace = freeSpace
    }

    /// The application; `integrationWorker: false` leaves delivering to the test.
    func app(integrationWorker: Bool = true) async throws -> some ApplicationProtocol {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        var dependencies = CollectorDependencies(store: store, diagnoser: diagnoser, metrics: metrics, freeSpace: freeSpace, logger: logger)
        dependencies.runsIntegrationWorker = integrationWorker
        return try await buildApplication(configuration: configuration, dependencies: dependencies)
    }

    /// An API token created straight in the store.
    func apiToken(_ name: String = "script", role: UserRole = .technician, expiresAt: Date? = nil) async throws -> String {
        let token = Secrets.generate(.apiToken)
        _ = try await store.createAPIToken(name: name, role: role, hash: Secrets.hash(token), expiresAt: expiresAt, now: Date())
        return token
    }

    /// Host tokens in the store's cache.
    var tokenCacheCount: Int {
        (store as? SQLiteStore)?.tokenCache.count ?? (store as? PostgresStore)?.tokenCache.count ?? -1
    }

    var blobFiles: [String] { filesUnder(configuration.dataDirectory + "/blobs") }
    var tempFiles: [String] { filesUnder(configuration.dataDirectory + "/tmp") }

    func close() async {
        try? await store.close()
        if let url = configuration.postgresURL { await TestPostgres.drop(url) }
        dir.cleanup()
    }
}

/// Enrolls a host through the API.
func enroll(_ client: some TestClientProtocol, secret: String, machineID: String = "machine-1",
            hostname: String = "laptop-42", currentHostToken: String? = nil, enrollmentKey: String? = nil) async throws -> EnrollResponse {
    let body = try BundleJSON.encoder().encode(EnrollRequest(secret: secret, hostname: hostname, machineID: machineID, agentVersion: "0.1.0",
                                                             currentHostToken: currentHostToken, enrollmentKey: enrollmentKey))
    return try await client.execute(uri: "/api/v1/enroll", method: .post, headers: [.contentType: "application/json"],
                                    body: ByteBuffer(bytes: body)) { response in
        #expect(response.status == .created || response.status == .ok)
        return try BundleJSON.decoder().decode(EnrollResponse.self, from: Data(buffer: response.body))
    }
}

/// Posts an enrollment request and answers the raw response (for refusals).
func enrollRaw(_ client: some TestClientProtocol, _ request: EnrollRequest) async throws -> TestResponse {
    try await client.execute(uri: "/api/v1/enroll", method: .post, headers: [.contentType: "application/json"],
                             body: ByteBuffer(bytes: try BundleJSON.encoder().encode(request)))
}

/// Uploads bundle bytes.
func upload(_ client: some TestClientProtocol, token: String, _ bytes: [UInt8], contentType: String = "application/gzip") async throws -> TestResponse {
    try await client.execute(uri: "/api/v1/bundles", method: .post,
                             headers: [.authorization: "Bearer \(token)", .contentType: contentType],
                             body: ByteBuffer(bytes: bytes))
}

/// The `{"error":{…}}` code of a response.
func errorCode(_ response: TestResponse) -> String? {
    (try? BundleJSON.decoder().decode(APIError.Body.self, from: Data(buffer: response.body)))?.error.code
}

func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
    try BundleJSON.decoder().decode(type, from: Data(buffer: response.body))
}
