import Foundation
import Shared

/// Swap nearly used up: the next memory spike ends with the OOM killer.
struct SwapExhaustionRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "memory.swap_exhausted", category: .memory, kind: .metric,
        summary: "Swap is nearly used up (used % at or over the threshold, swap of a meaningful size).")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let m = contents.memory, m.swapTotalBytes >= c.swapMinimumBytes else { return [] }
        let used = m.swapTotalBytes - min(m.swapFreeBytes, m.swapTotalBytes)
        let pct = Double(used) / Double(m.swapTotalBytes) * 100
        guard pct >= c.swapHighPercent else { return [] }
        let availableShare = m.totalBytes > 0 ? Double(m.availableBytes) / Double(m.totalBytes) * 100 : 100
        /// Severity before escalation.
        let severity: Severity = availableShare < c.lowAvailableMemoryPercent ? .critical : .high
        return [Finding(
            ruleID: description.id, category: .memory, severity: severity, confidence: 0.85,
            title: "The computer has used up its swap space",
            detail: "Swap is \(Figures.percent(pct)) used (\(Figures.bytes(used)) of \(Figures.bytes(m.swapTotalBytes))); "
                + "MemAvailable is \(Figures.percent(availableShare)) of RAM. Further demand triggers OOM kills.",
            userAdvice: "Close programs you do not need; if the computer is very slow, save your work and restart the biggest program.",
            technicianAdvice: "Find the process holding memory (processes.json, `smem -rs swap`); enlarge swap or add zram; look for a leak.",
            evidence: [Figures.metric("memory.swapUsedPercent", Figures.percent(pct)),
                       Figures.metric("memory.swapUsedBytes", "\(used) (\(Figures.bytes(used)))")],
            lastSeen: contents.manifest.createdAt)]
    }
}
