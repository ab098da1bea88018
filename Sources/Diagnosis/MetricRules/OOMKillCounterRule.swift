import Foundation
import Shared

/// The kernel's OOM killer fired since boot (`oom_kill` in /proc/vmstat), even when the
/// journal lines have rotated away.
struct OOMKillCounterRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "memory.oom_kill_counter", category: .memory, kind: .metric,
        summary: "The kernel killed processes for lack of memory since boot (/proc/vmstat oom_kill > 0).")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let kills = contents.memory?.oomKills, kills > 0 else { return [] }
        return [Finding(
            ruleID: description.id, category: .memory, severity: kills >= 3 ? .high : .medium, confidence: 0.9,
            title: kills == 1 ? "A program was closed by the system for lack of memory" : "Programs were closed \(kills) times by the system for lack of memory",
            detail: "/proc/vmstat oom_kill = \(kills) since boot: the kernel OOM killer ended processes. "
                + "The journal's \"Out of memory: Killed process\" lines name them, when still in the window.",
            userAdvice: "If a program vanished, reopen it and keep fewer programs open at once.",
            technicianAdvice: "`journalctl -k -b | grep -E 'Out of memory|oom-kill'` for the victims; check memory hogs and swap size.",
            evidence: [Figures.metric("memory.oomKills", "\(kills)")],
            lastSeen: contents.manifest.createdAt)]
    }
}
