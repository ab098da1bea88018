import Foundation
import Shared

/// One process holding a large share of RAM.
struct MemoryHogRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "memory.hog_process", category: .memory, kind: .metric,
        summary: "One process holds more than the threshold share of RAM (RSS over MemTotal).")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let list = contents.processes, let total = contents.memory?.totalBytes, total > 0 else { return [] }
        let availableShare = Double(contents.memory?.availableBytes ?? total) / Double(total) * 100
        return list.processes.filter { Double($0.rssBytes) / Double(total) * 100 >= c.memoryHogPercent }
            .sorted { $0.rssBytes > $1.rssBytes }
            .prefix(c.maxFindingsPerRule)
            .map { p in
                let share = Double(p.rssBytes) / Double(total) * 100
                return Finding(
                    ruleID: description.id, category: .memory,
                    severity: availableShare < c.lowAvailableMemoryPercent ? .high : .medium, confidence: 0.8,
                    title: "\(p.name) is using \(Saturating.percentText(share)) % of the memory",
                    detail: "PID \(p.pid) \(p.name) has \(Figures.bytes(p.rssBytes)) resident of \(Figures.bytes(total)) RAM "
                        + "(\(Figures.percent(share))); MemAvailable is \(Figures.percent(availableShare)).",
                    userAdvice: "Save your work in \(p.name) and restart it; close tabs or documents you do not need.",
                    technicianAdvice: "Check whether the size is expected for the workload or a leak (RSS over time, `smem`, `pmap -x \(p.pid)`).",
                    evidence: [Figures.metric("process.\(p.pid).rssBytes", "\(p.rssBytes) (\(Figures.bytes(p.rssBytes)))"),
                               Figures.metric("process.\(p.pid).rssPercent", Figures.percent(share))],
                    lastSeen: contents.manifest.createdAt)
            }
    }
}
