import Foundation
import Shared

/// Tasks stalled waiting for storage (PSI `io`).
struct IOPressureRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "storage.io_pressure", category: .storage, kind: .metric,
        summary: "Programs stall waiting for the disk (PSI io some avg60 over the threshold).")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let psi = contents.memory?.pressure["io"], let some = psi.some?.avg60, some >= c.ioPressurePercent else { return [] }
        let full = psi.full?.avg60 ?? 0
        return [Finding(
            ruleID: description.id, category: .storage, severity: full >= c.ioPressurePercent ? .high : .medium, confidence: 0.75,
            title: "The computer is slowed down waiting for the disk",
            detail: "Over the last minute some tasks waited on I/O \(Figures.percent(some)) of the time, all tasks \(Figures.percent(full)) (PSI io avg60).",
            userAdvice: "Let large copies, updates or backups finish; avoid starting more of them at once.",
            technicianAdvice: "Find the I/O heavy process (`iotop -o`, D-state tasks); check for swapping, a failing disk (I/O errors, SMART) or a slow network filesystem.",
            evidence: [Figures.metric("io.psi.some.avg60", Figures.percent(some)), Figures.metric("io.psi.full.avg60", Figures.percent(full))],
            lastSeen: contents.manifest.createdAt)]
    }
}
