import Foundation

/// The fault-injecting proxy (Fixtures/net/fault_proxy.py) in front of `upstream`: answers
/// each request by `plan` (then passes), and logs what it did to each.
final class FaultProxy: @unchecked Sendable {
    // @unchecked: used from one test at a time.

    /// One log line: request `index` got `action` (or `closed`: the client hung up on a `hang`).
    struct Entry: Equatable, CustomStringConvertible {
        var index: Int
        var action: String
        var method: String
        var path: String
        /// CLOCK_MONOTONIC seconds (see `monotonicSeconds()`).
        var time: Double

        var description: String { "\(index) \(action) \(method) \(path) @\(time)" }
    }

    private let fixture: LoggingNetFixture
    var port: Int { fixture.port }
    var url: String { "http://127.0.0.1:\(port)" }

    /// Starts the proxy in front of 127.0.0.1:`upstream`.
    /// - Parameter plan: one action per request (`pass`, `503`, `429`, `503:S`, `429:S`, `drop`, `hang`).
    init(upstream: Int, plan: [String]) throws {
        fixture = try LoggingNetFixture(script: "fault_proxy.py", arguments: [String(upstream), plan.joined(separator: ",")])
    }

    /// The log so far, reading on until `enough` holds or `seconds` pass.
    func entries(within seconds: TimeInterval = 0.5, until enough: ([Entry]) -> Bool = { _ in false }) -> [Entry] {
        Self.parse(fixture.readLines(within: seconds) { enough(Self.parse($0)) })
    }

    private static func parse(_ lines: [String]) -> [Entry] {
        lines.compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 5, let i = Int(f[0]), let t = Double(f[4]) else { return nil }
            return Entry(index: i, action: f[1], method: f[2], path: f[3], time: t)
        }
    }

    /// Stops it now.
    func stop() { fixture.stop() }
}
