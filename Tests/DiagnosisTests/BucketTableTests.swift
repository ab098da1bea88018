import Testing
@testable import Diagnosis

/// `BucketTable` finds exactly what the `[String: Bucket]` dictionary it replaces on the hot path finds.
@Suite struct BucketTableTests {
    let matcher = JournalRule.Matcher(transports: nil, identifiers: nil, units: nil, messageIDs: nil, maxPriority: nil,
                                      contains: [], regex: nil, exclude: [])

    /// A bucket told apart by its one ref's rule number.
    func bucket(_ rule: Int) -> MatcherIndex.Bucket {
        MatcherIndex.Bucket(refs: [MatcherIndex.Ref(rule: rule, matcher: matcher)])
    }

    func agree(_ dictionary: [String: MatcherIndex.Bucket], _ lookups: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let table = BucketTable(dictionary)
        for key in lookups {
            #expect(table.bucket(key)?.refs.map(\.rule) == dictionary[key]?.refs.map(\.rule), "\(key.debugDescription)",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func findsWhatTheDictionaryFinds() {
        var dictionary: [String: MatcherIndex.Bucket] = [:]
        // Enough keys to fill probe chains; names like real identifiers, transports and MESSAGE_IDs.
        let keys = ["kernel", "sshd", "systemd", "NetworkManager", "gnome-shell", "syslog", "journal", "",
                    "fc2e22bc6ee647b6b90729ab34a250b1"] + (0..<40).map { "program-\($0)" }
        for (i, k) in keys.enumerated() { dictionary[k] = bucket(i) }
        agree(dictionary, keys + ["kerne", "kernel ", "Kernel", "sshd\u{0}", "program-40", "x", "systemd-coredump"])
    }

    @Test func nonASCIIKeysCompareAsStringsDo() {
        // U+212A KELVIN SIGN is canonically equivalent to "K": String equality says they are the same key.
        agree(["K": bucket(1), "café": bucket(2)], ["\u{212A}", "K", "cafe\u{301}", "café", "cafe"])
        agree(["\u{212A}": bucket(1)], ["K", "\u{212A}", "k"])
        agree([:], ["", "K", "\u{212A}"])
    }
}
