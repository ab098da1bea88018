import Foundation
import Shared

/// Findings as plain text for a terminal or a ticket, and as JSON for programs, so
/// `helpline-collector diagnose FILE.tar.gz [--json]` only has to print one of them.
public enum FindingReport {
    /// A readable report, worst first: one block per finding with its evidence.
    /// - Parameter findings: ranked findings (as `DiagnosisEngine.diagnose` returns them).
    public static func text(_ findings: [Finding]) -> String {
        guard !findings.isEmpty else { return "No problems found.\n" }
        let iso = ISO8601DateFormatter()
        var out = "\(findings.count) finding\(findings.count == 1 ? "" : "s"), worst first.\n"
        for (i, f) in findings.enumerated() {
            out += "\n\(i + 1). [\(f.severity.rawValue.uppercased())] \(f.title)\n"
            out += "   rule \(f.ruleID) · \(f.category.rawValue)\(f.subject.map { " · \($0)" } ?? "") · confidence \(Saturating.percentText(f.confidence * 100)) %"
            if let t = f.lastSeen { out += " · last seen \(iso.string(from: t))" }
            out += "\n"
            out += "   What happened: \(f.detail)\n"
            out += "   You can: \(f.userAdvice)\n"
            out += "   Technician: \(f.technicianAdvice)\n"
            if !f.evidence.isEmpty {
                out += "   Evidence:\n"
                for e in f.evidence {
                    if e.kind == "journal" {
                        let when = e.time.map { iso.string(from: $0) } ?? "?"
                        out += "     \(when) \(e.label): \(e.value)\n"
                        if let c = e.cursor { out += "       cursor \(c)\n" }
                    } else {
                        out += "     \(e.label) = \(e.value)\n"
                    }
                }
            }
        }
        return out
    }

    /// The shape of `json(_:)`: `{"findings": [...], "count": N, "top": ruleID or null}`.
    public struct Document: Sendable, Codable, Equatable {
        /// Ranked findings.
        public var findings: [Finding]
        /// How many.
        public var count: Int
        /// The rule of the top finding, which titles the ticket.
        public var top: String?

        /// Wraps `findings`.
        public init(findings: [Finding]) {
            self.findings = findings; count = findings.count; top = findings.first?.ruleID
        }
    }

    /// Findings as JSON (`BundleJSON` coding: ISO 8601 dates, sorted keys).
    /// - Throws: only if encoding fails, which `Finding`'s plain fields do not.
    public static func json(_ findings: [Finding], pretty: Bool = true) throws -> String {
        let data = try BundleJSON.encoder(pretty: pretty).encode(Document(findings: findings))
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
