import Foundation
import Agent
@testable import Shared

/// Fixtures/net/enroll_stub.py: answers `POST /api/v1/enroll` by plan and logs each request
/// body, so the agent's side of enrollment runs without the collector. (The collector's own
/// answers are tested against the real collector in DeliveryTests.)
final class EnrollStub: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    /// Started with `ChildProcess`, not Foundation's `Process` (whose `run()` can crash).
    private let process: ChildProcess.Running
    let log: String
    private(set) var port = 0

    /// Starts the stub answering `plan` (`new`, `again`, `pending`, `required`; the last repeats).
    init(plan: [String], log: String) throws {
        self.log = log
        process = try ChildProcess.spawn("/usr/bin/env", ["python3", fixturePath("net/enroll_stub.py"), log, plan.joined(separator: ",")],
                                         stdout: .capture, stderr: .discard)
        let first = LineReader(fd: process.stdout).nextLine(before: Date().addingTimeInterval(30)) ?? ""
        guard first.hasPrefix("PORT "), let p = Int(first.dropFirst(5)) else {
            process.wait(upTo: .zero)
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

    deinit {
        process.send(SIGTERM)
        process.wait(upTo: .seconds(5))
    }
}
