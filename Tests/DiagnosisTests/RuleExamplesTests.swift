import Foundation
import Testing
@testable import Diagnosis
import Shared

/// Every journal rule against its own real-format lines (`Rules/NAME.examples.yaml`), the way
/// the engine offers entries: through the matcher index, so a rule indexed under the wrong
/// identifier or transport fails here even though its regex is right.
struct RuleExamplesTests {
    /// The rules an entry reaches through the index and matches, by rule index.
    static func matchingRules(_ entry: JournalEntry, engine: DiagnosisEngine) -> Set<Int> {
        let index = MatcherIndex(engine.journalRules)
        var refs: [MatcherIndex.Ref] = index.generic.refs
        if let id = entry.identifier { refs += index.byIdentifier[id]?.refs ?? [] }
        if let t = entry.transport { refs += index.byTransport[t]?.refs ?? [] }
        if let m = entry.messageID { refs += index.byMessageID[m]?.refs ?? [] }
        return Set(refs.filter { $0.matcher.match(entry) != nil }.map(\.rule))
    }

    @Test(arguments: sharedEngine.journalRules.map(\.id)) func ruleMatchesItsLinesAndNotItsNearMisses(_ id: String) throws {
        let r = try #require(sharedEngine.journalRules.firstIndex { $0.id == id })
        let examples = sharedEngine.journalRules[r].examples
        #expect(examples.matching.count >= 2, "\(id) needs at least two real-format lines")
        #expect(examples.nearMisses.count >= 1, "\(id) needs a near miss")
        for e in examples.matching {
            #expect(Self.matchingRules(e, engine: sharedEngine).contains(r), "\(id) does not match \(e.message ?? "")")
        }
        for e in examples.nearMisses {
            #expect(!Self.matchingRules(e, engine: sharedEngine).contains(r), "\(id) matches its near miss \(e.message ?? "")")
        }
    }

    @Test func oneNeedlePassFindsWhatOneScanPerNeedleFinds() throws {
        let index = MatcherIndex(sharedEngine.journalRules)
        let buckets = [index.generic] + index.byIdentifier.values + index.byTransport.values
        let withNeedles = buckets.filter { $0.needles != nil }
        #expect(withNeedles.contains { $0.refs.count >= 20 }, "the kernel bucket searches its needles in one pass")
        let lines = sharedEngine.journalRules.flatMap { $0.examples.matching + $0.examples.nearMisses }.compactMap(\.message)
            + ["", "x", "No space left on device", "ab", String(repeating: "certificat", count: 50) + "e"]
        let flags = UnsafeMutableBufferPointer<Bool>.allocate(capacity: index.largestBucket)
        defer { flags.deallocate() }
        for bucket in withNeedles {
            let set = try #require(bucket.needles)
            for line in lines {
                flags.initialize(repeating: false)
                set.mark(line, flags)
                for (i, ref) in bucket.refs.enumerated() where ref.matcher.hasNeedles {
                    #expect(flags[i] == ref.matcher.containsAnyNeedle(line), "needle pass and scan disagree on \(line)")
                }
            }
        }
    }

    @Test func everyBuiltInRuleFileHasAnExamplesFile() throws {
        for file in BuiltInRules.files {
            #expect(file.examples != nil, "\(file.name) has no \(JournalRuleLoader.examplesName(for: file.name))")
        }
        #expect(sharedEngine.journalRules.allSatisfy { !$0.examples.matching.isEmpty })
    }

    @Test func aMatchingLineRaisesItsRuleThroughTheWholeEngine() throws {
        // Rules without a threshold raise a finding from one example line alone.
        for rule in sharedEngine.journalRules where rule.thresholdCount == 1 {
            let line = try #require(rule.examples.matching.first)
            #expect(sharedEngine.diagnose(journal: [line]).contains { $0.ruleID == rule.id }, "\(rule.id) silent on \(line.message ?? "")")
        }
    }
}
