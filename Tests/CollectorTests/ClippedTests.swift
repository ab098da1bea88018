import Testing
@testable import Collector

/// `clipped` answers what `String(s.prefix(n))` answers, for every length around the edge.
@Suite struct ClippedTests {
    @Test func sameAsPrefixAroundEveryEdge() {
        let samples = ["", "a", "firefox", String(repeating: "x", count: 300), "naïve café", "e\u{301}e\u{301}e\u{301}",
                       "👩‍👩‍👧‍👦 family", "日本語のテキスト", "tab\tand\nnewline", "\u{0}nul", "🇫🇷🇩🇪🇮🇹"]
        for s in samples {
            for n in 0...(s.utf8.count + 2) {
                #expect(clipped(s, n) == String(s.prefix(n)), "\(s.debugDescription) at \(n)")
            }
        }
    }
}
