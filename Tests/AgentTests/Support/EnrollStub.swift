import Foundation
@testable import Shared

/// Fixtures/net/enroll_stub.py: answers `POST /api/v1/enroll` by plan and logs each request
/// body, so the agent's side of enrollment runs without the collector. (The collector's own
/// answers are tested against the real collector in DeliveryTests.)
final class EnrollStub: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    let process = Process()
    let log: String
    private(set) var port = 0

    /// Starts the stub answering `plan` (`new`, `again`, `pending`, `required`; the last repeats).
    init(plan: [String], log: String) throws {
        self.log = log
        let out = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", fixturePath("net/enroll_stub.py"), log, plan.joined(separator: ",")]
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let first = LineReader(out.fileHandleForReading).nextLine(before: Date().addingTimeInterval(30)) ?? ""
        guard first.hasPrefix("PORT "), let p = Int(first.dropFirst(5)) else {
            process.waitForExit(upTo: 0)
            throw FixtureError("enroll_stub.py did not start (is python3 installed? scripts/setup.sh installs it): '\(first)'")
        }
        port = p
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// The enrollment requests received so far, oldest first.
    func requests() throws -> [EnrollRequest] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try BundleJSON.decoder().decode(EnrollRequest.self, from: Data($0.utf8)) }
    }

    // SIGKILL: a child started from a test thread inherits its blocked signal mask, so SIGTERM
    // may never be delivered.
    deinit { process.waitForExit(upTo: 0) }
}
