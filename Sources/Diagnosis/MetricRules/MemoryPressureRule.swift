import Foundation
import Shared

/// Tasks stalled waiting for memory (PSI `memory`): the machine feels slow or freezes.
struct MemoryPressureRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "memory.pressure", category: .memory, kind: .metric,
        summary: "Programs stall waiting for memory (PSI memory some/full avg60 over the thresholds).")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let psi = contents.memory?.pressure["memory"] else { return [] }
        let some = psi.some?.avg60 ?? 0, full = psi.full?.avg60 ?? 0
        /// Severity before escalation.
        let severity: Severity
        if full >= c.memoryPressureFullPercent { severity = .high }
        else if some >= c.memoryPressureSomePercent { severity = .medium }
        else { return [] }
        return [Finding(
            ruleID: description.id, category: .memory, severity: severity, confidence: 0.85,
            title: "The computer is slowed down by a lack of memory",
            detail: "Over the last minute some tasks were stalled on memory \(Figures.percent(some)) of the time and all tasks "
                + "\(Figures.percent(full)) (PSI memory avg60). The system is reclaiming or swapping hard.",
            userAdvice: "Close programs or browser tabs you are not using; restart the program using the most memory.",
            technicianAdvice: "Check the memory hogs in processes.json and swap use; consider more RAM, zram, or limits (systemd-oomd, MemoryHigh=).",
            evidence: [Figures.metric("memory.psi.some.avg60", Figures.percent(some)),
                       Figures.metric("memory.psi.full.avg60", Figures.percent(full))],
            lastSeen: contents.manifest.createdAt)]
    }
}
