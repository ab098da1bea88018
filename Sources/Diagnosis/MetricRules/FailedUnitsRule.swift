import Foundation
import Shared

/// systemd units in the failed state (units.json), with start-limit-hit and restart counts.
struct FailedUnitsRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "service.failed_units", category: .service, kind: .metric,
        summary: "systemd units are failed (units.json), including services that hit their start limit or restarted many times.")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let units = contents.units else { return [] }
        return units.failed.map { u in
            let restarts = u.restarts ?? 0
            let startLimit = u.result == "start-limit-hit"
            let crashLoop = startLimit || restarts >= c.unitRestartsCrashLoop
            let isService = u.name.hasSuffix(".service")
            var evidence = [Figures.metric("unit.\(u.name).activeState", "\(u.activeState)/\(u.subState)")]
            if let r = u.result { evidence.append(Figures.metric("unit.\(u.name).result", r)) }
            if let n = u.restarts { evidence.append(Figures.metric("unit.\(u.name).restarts", "\(n)")) }
            if let s = u.since { evidence.append(Figures.metric("unit.\(u.name).since", ISO8601DateFormatter().string(from: s))) }
            let what = u.description.isEmpty ? u.name : "\(u.description) (\(u.name))"
            return Finding(
                ruleID: description.id, category: .service, severity: crashLoop ? .high : .medium, confidence: 0.9,
                title: crashLoop ? "\(what) keeps failing and was given up on" : "\(what) failed",
                detail: "\(u.name) is \(u.activeState)/\(u.subState)"
                    + (u.result.map { ", result '\($0)'" } ?? "")
                    + (u.restarts.map { ", restarted \($0) times" } ?? "")
                    + (startLimit ? "; systemd stopped restarting it (start-limit-hit)." : "."),
                userAdvice: isService ? "Features that depend on \(u.description.isEmpty ? u.name : u.description) may not work; a restart may help until it is fixed."
                    : "Something set up at start-up (\(u.name)) did not come up; tell your technician if you miss it.",
                technicianAdvice: "`systemctl status \(u.name)` and `journalctl -u \(u.name) -b` for the exit reason; "
                    + "fix the cause, then `systemctl reset-failed \(u.name)` and start it again.",
                evidence: evidence,
                lastSeen: u.since ?? contents.manifest.createdAt, subject: u.name)
        }
    }
}
