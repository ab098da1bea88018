import Foundation
import Shared

/// One process burning a whole core (or more) between the agent's two samples.
struct CPUHogRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "cpu.hog_process", category: .cpu, kind: .metric,
        summary: "One process uses more than the threshold of one CPU core (processes.json cpuPercent).")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let list = contents.processes else { return [] }
        let cpus = max(1, contents.system?.cpuCount ?? 1)
        // The agent itself is busy while it collects (its CPU sample overlaps the journal
        // read); that is the measurement, not the user's problem.
        return list.processes.filter { $0.cpuPercent >= c.cpuHogPercent && $0.name != "helpline" }
            .sorted { $0.cpuPercent > $1.cpuPercent }
            .prefix(c.maxFindingsPerRule)
            .map { p in
                let allCores = p.cpuPercent >= Double(cpus) * 90
                let cmd = p.commandLine.isEmpty ? p.name : String(p.commandLine.prefix(200))
                return Finding(
                    ruleID: description.id, category: .cpu, severity: allCores ? .high : .medium, confidence: 0.8,
                    title: "\(p.name) is keeping the processor busy (\(Saturating.percentText(p.cpuPercent)) % of a core)",
                    detail: "PID \(p.pid) \(p.name) (user \(p.user ?? String(p.uid)), state \(p.state)) used \(Figures.percent(p.cpuPercent)) "
                        + "of one core over \(list.sampleIntervalMS) ms, on a \(cpus)-CPU machine. Command: \(cmd)",
                    userAdvice: "If you are not running something heavy in \(p.name) on purpose, save your work in it and close or restart it.",
                    technicianAdvice: "Is the load expected (build, video encode)? Otherwise inspect it (`top -H -p \(p.pid)`, `perf top -p \(p.pid)`), "
                        + "check for a runaway loop, and update or restart the program.",
                    evidence: [Figures.metric("process.\(p.pid).cpuPercent", Figures.percent(p.cpuPercent)),
                               Figures.metric("process.\(p.pid).name", p.name)],
                    lastSeen: contents.manifest.createdAt)
            }
    }
}
