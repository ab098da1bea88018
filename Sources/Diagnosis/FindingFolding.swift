import Foundation
import Shared

/// One problem, one finding: when a specific rule explains what happened to a subject (a unit,
/// device, mount, interface, account), the generic "unit failed / crash loop / start limit"
/// findings about the same subject become evidence of the specific one instead of findings of
/// their own.
public enum FindingFolding {
    /// The generic findings that fold into a specific one with the same subject.
    public static let genericRuleIDs: Set<String> = ["service.failed", "service.crash_loop", "service.start_limit_hit", "service.failed_units"]

    /// `findings` with every generic finding whose subject a specific finding shares folded into
    /// that finding (the highest-ranked one when several share it): its evidence is appended
    /// (after a line naming the folded rule and title), severity and confidence become the
    /// higher of the two, `lastSeen` the later. Order is kept; call `DiagnosisEngine.rank` after.
    public static func fold(_ findings: [Finding]) -> [Finding] {
        var specificBySubject: [String: Int] = [:]
        let ranked = DiagnosisEngine.rank(findings)
        for f in ranked where !genericRuleIDs.contains(f.ruleID) && f.ruleID != ErrorClusters.ruleID {
            guard let s = f.subject, !s.isEmpty, specificBySubject[s] == nil else { continue }
            specificBySubject[s] = findings.firstIndex(of: f)
        }
        guard !specificBySubject.isEmpty else { return findings }
        var out = findings
        var folded: Set<Int> = []
        for (i, g) in findings.enumerated() where genericRuleIDs.contains(g.ruleID) {
            guard let s = g.subject, let target = specificBySubject[s] else { continue }
            var f = out[target]
            f.evidence.append(Evidence(kind: "metric", label: "folded.\(g.ruleID)", value: g.title))
            f.evidence += g.evidence
            f.severity = max(f.severity, g.severity)
            f.confidence = max(f.confidence, g.confidence)
            if let t = g.lastSeen, t > (f.lastSeen ?? .distantPast) { f.lastSeen = t }
            out[target] = f
            folded.insert(i)
        }
        return out.enumerated().filter { !folded.contains($0.offset) }.map(\.element)
    }
}
