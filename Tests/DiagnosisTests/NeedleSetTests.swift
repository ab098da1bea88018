import Testing
@testable import Diagnosis

/// `NeedleSet` marks exactly the owners one of whose needles occurs in the message, as a
/// search needle by needle (`JournalRule.Matcher.containsAny`) does, whatever the skips.
@Suite struct NeedleSetTests {
    /// SplitMix64, seeded: the same cases every run.
    struct Random {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    func check(_ needles: [[[UInt8]]], _ messages: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let set = NeedleSet(needles)
        let found = UnsafeMutableBufferPointer<Bool>.allocate(capacity: max(1, needles.count))
        defer { found.deallocate() }
        for message in messages {
            found.initialize(repeating: false)
            set.mark(message, found)
            for (owner, list) in needles.enumerated() {
                let expected = JournalRule.Matcher.containsAny(message, list.filter { !$0.isEmpty })
                #expect(found[owner] == expected, "owner \(owner) \(list.map { String(decoding: $0, as: UTF8.self) }) in \(message.debugDescription)",
                        sourceLocation: sourceLocation)
            }
        }
    }

    @Test func agreesWithOneSearchPerNeedleOnRandomNeedlesAndMessages() {
        // A three-letter alphabet makes needles overlap, repeat and share blocks, so every shift matters.
        var random = Random(state: 13)
        let alphabet: [UInt8] = Array("abc".utf8)
        func word(_ length: Int) -> [UInt8] { (0..<length).map { _ in alphabet[random.next(alphabet.count)] } }
        for round in 0..<300 {
            let owners = 1 + random.next(6)
            // Some rounds have only long needles (long skips), some a two-byte one (no skip), some a one-byte one.
            let shortest = [1, 2, 3, 5, 9][round % 5]
            let needles: [[[UInt8]]] = (0..<owners).map { _ in (0..<(1 + random.next(3))).map { _ in word(shortest + random.next(8)) } }
            let messages = (0..<20).map { _ in String(decoding: word(random.next(60)), as: UTF8.self) }
            check(needles, messages)
        }
    }

    @Test func realNeedlesAtTheEdgesOfMessages() {
        let needles: [[[UInt8]]] = [["No space left on device"], ["quota exceeded"], ["certificate"],
                                    ["Temporary failure in name resolution", "Could not resolve host", "Resolving timed out after"], []]
            .map { $0.map { Array($0.utf8) } }
        check(needles, ["", "No space left on devic", "No space left on device", "write failed: No space left on device",
                        "certificate", "xcertificat", "user quota exceeded on /home", "Could not resolve host: example.org",
                        "curl: (6) Could not resolve hos", "certificatecertificate", "é certificate é", String(repeating: "quota ", count: 50) + "exceeded"])
    }
}
