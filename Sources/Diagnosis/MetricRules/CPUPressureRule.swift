import Foundation
import Shared

/// Runnable tasks waiting for a CPU (PSI `cpu`).
struct CPUPressureRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "cpu.pressure", category: .cpu, kind: .metric,
        summary: "Runnable programs wait for a free CPU (PSI cpu some avg60 over the threshold).")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let some = contents.memory?.pressure["cpu"]?.some?.avg60, some >= c.cpuPressurePercent else { return [] }
        return [Finding(
            ruleID: description.id, category: .cpu, severity: .medium, confidence: 0.7,
            title: "Programs are waiting for the processor",
            detail: "Over the last minute runnable tasks waited for a CPU \(Figures.percent(some)) of the time (PSI cpu some avg60).",
            userAdvice: "Close programs you do not need; let heavy jobs finish.",
            technicianAdvice: "See the CPU hogs in processes.json; consider nice/CPUWeight= for background jobs.",
            evidence: [Figures.metric("cpu.psi.some.avg60", Figures.percent(some))],
            lastSeen: contents.manifest.createdAt)]
    }
}
