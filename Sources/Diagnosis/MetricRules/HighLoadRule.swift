import Foundation
import Shared

/// Load average well above the number of CPUs.
struct HighLoadRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "load.high", category: .load, kind: .metric,
        summary: "The 1- and 5-minute load averages are well above the number of CPUs.")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let sys = contents.system, let load = sys.loadAverage, load.count >= 2, let cpus = sys.cpuCount, cpus > 0 else { return [] }
        // Both the 1- and 5-minute figures must be high: a one-minute spike is normal.
        let perCPU = min(load[0], load[1]) / Double(cpus)
        /// Severity before escalation.
        let severity: Severity
        if perCPU >= c.loadPerCPUHigh { severity = .high }
        else if perCPU >= c.loadPerCPUMedium { severity = .medium }
        else { return [] }
        return [Finding(
            ruleID: description.id, category: .load, severity: severity, confidence: 0.7,
            title: "The computer is overloaded (more work than processors)",
            detail: "Load average \(load.map(Figures.decimal).joined(separator: " ")) on \(cpus) CPUs "
                + "(\(Figures.decimal(perCPU)) per CPU over 1 and 5 minutes). Load counts runnable tasks and tasks in "
                + "uninterruptible I/O (state D), so check I/O pressure too.",
            userAdvice: "Close programs you do not need and let long jobs (updates, backups, builds) finish.",
            technicianAdvice: "Look at CPU hogs and D-state processes in processes.json and PSI cpu/io; a high load with idle CPUs means storage or NFS stalls.",
            evidence: [Figures.metric("system.loadAverage", load.map(Figures.decimal).joined(separator: " ")),
                       Figures.metric("system.cpuCount", "\(cpus)")],
            lastSeen: contents.manifest.createdAt)]
    }
}
