import Foundation

/// A real HTTP forward proxy (Fixtures/net/forward_proxy.py) on 127.0.0.1 that relays to
/// loopback only and logs each request it relays.
final class ForwardProxy: @unchecked Sendable {
    // @unchecked: used from one test at a time.

    /// One log line: request `index` was relayed as `kind` (`forward`, `connect`, `refused`).
    struct Entry: Equatable, CustomStringConvertible {
        var index: Int
        var kind: String
        var method: String
        /// As the client wrote it: an absolute URL for `forward`, `host:port` for `connect`.
        var target: String

        var description: String { "\(index) \(kind) \(method) \(target)" }
    }

    private let fixture: LoggingNetFixture
    var port: Int { fixture.port }
    var url: String { "http://127.0.0.1:\(port)" }

    init() throws {
        fixture = try LoggingNetFixture(script: "forward_proxy.py", arguments: [])
    }

    /// The log so far, reading on until `enough` holds or `seconds` pass.
    func entries(within seconds: TimeInterval = 0.5, until enough: ([Entry]) -> Bool = { _ in false }) -> [Entry] {
        Self.parse(fixture.readLines(within: seconds) { enough(Self.parse($0)) })
    }

    private static func parse(_ lines: [String]) -> [Entry] {
        lines.compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 4, let i = Int(f[0]) else { return nil }
            return Entry(index: i, kind: f[1], method: f[2], target: f[3])
        }
    }

    /// Stops it now.
    func stop() { fixture.stop() }
}
