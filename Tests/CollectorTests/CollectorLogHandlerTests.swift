import Foundation
import Logging
import Synchronization
import Testing
@testable import Collector

/// `CollectorLogHandler` formats metadata only when it writes a line, and writes the same
/// line `StreamLogHandler` would.
@Suite struct CollectorLogHandlerTests {
    final class Lines: TextOutputStream, Sendable {
        let text = Mutex("")
        func write(_ string: String) { text.withLock { $0 += string } }
        /// The lines without their leading timestamp (the two handlers may straddle a second).
        var withoutTimes: [String] {
            text.withLock { $0 }.split(separator: "\n").map { String($0.drop { $0 != " " }) }
        }
    }

    @Test func writesWhatStreamLogHandlerWrites() {
        let ours = Lines(), theirs = Lines()
        var logger = Logger(label: "helpline.test") { label in
            CollectorLogHandler(label: label, level: .info, metadataProvider: nil,
                                writer: { StreamLogHandler(label: $0, stream: ours, metadataProvider: $1) })
        }
        var reference = Logger(label: "helpline.test") { StreamLogHandler(label: $0, stream: theirs, metadataProvider: nil) }
        reference.logLevel = .info
        for target in [0, 1] {
            func both(_ change: (inout Logger) -> Void) {
                if target == 0 { change(&logger) } else { change(&reference) }
            }
            both { $0[metadataKey: "hb.request.id"] = "42" }
            both { $0[metadataKey: "host.id"] = .string("h-1") }
            both { $0.info("heartbeat stored", metadata: ["bytes": "5400"]) }
            both { $0.debug("not written at info") }
            both { $0[metadataKey: "host.id"] = nil }
            both { $0.error("unexpected failure") }
        }
        #expect(ours.withoutTimes.count == 2)
        #expect(ours.withoutTimes == theirs.withoutTimes)
        #expect(ours.withoutTimes.first?.contains("bytes=5400 hb.request.id=42 host.id=h-1") == true)
        #expect(ours.withoutTimes.last?.contains("host.id") == false)
    }

    @Test func metadataIsKeptPerLoggerCopy() {
        var handler = CollectorLogHandler(label: "x", level: .warning, metadataProvider: nil)
        handler[metadataKey: "a"] = "1"
        var copy = handler
        copy[metadataKey: "a"] = "2"
        #expect(handler[metadataKey: "a"] == "1")
        #expect(copy[metadataKey: "a"] == "2")
        #expect(copy.logLevel == .warning)
    }
}
