import Foundation
import Shared

/// Little memory left (`MemAvailable` share of `MemTotal`).
struct LowAvailableMemoryRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "memory.available_low", category: .memory, kind: .metric,
        summary: "Little memory is available (MemAvailable under the thresholds as a share of MemTotal).")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let m = contents.memory, m.totalBytes > 0 else { return [] }
        let share = Double(m.availableBytes) / Double(m.totalBytes) * 100
        /// Severity before escalation.
        let severity: Severity
        if share < c.criticalAvailableMemoryPercent { severity = .critical }
        else if share < c.lowAvailableMemoryPercent { severity = .high }
        else { return [] }
        return [Finding(
            ruleID: description.id, category: .memory, severity: severity, confidence: 0.9,
            title: "The computer is almost out of memory (\(Figures.bytes(m.availableBytes)) left)",
            detail: "MemAvailable is \(Figures.bytes(m.availableBytes)) of \(Figures.bytes(m.totalBytes)) (\(Figures.percent(share))). "
                + "Next: heavy swapping, then the OOM killer.",
            userAdvice: "Save your work and close programs you do not need right now.",
            technicianAdvice: "Identify the largest RSS in processes.json; check for leaks (RSS growing over days) and whether RAM fits the workload.",
            evidence: [Figures.metric("memory.availableBytes", "\(m.availableBytes) (\(Figures.bytes(m.availableBytes)))"),
                       Figures.metric("memory.availablePercent", Figures.percent(share))],
            lastSeen: contents.manifest.createdAt)]
    }
}
