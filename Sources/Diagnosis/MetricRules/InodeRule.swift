import Foundation
import Shared

/// A filesystem running out of inodes: "No space left on device" although `df -h` shows room.
struct InodeRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "disk.inodes_low", category: .disk, kind: .metric,
        summary: "A filesystem has nearly no free inodes (too many small files), so new files fail although space is left.")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let disks = contents.disks else { return [] }
        var out: [Finding] = []
        for fs in disks.filesystems where fs.inodesTotal > 0 && !DiskSpaceRule.ignoredTypes.contains(fs.fsType) {
            /// Severity before escalation.
            let severity: Severity
            if fs.inodesUsedPercent >= c.inodesCriticalPercent { severity = .critical }
            else if fs.inodesUsedPercent >= c.inodesHighPercent { severity = .high }
            else { continue }
            let left = fs.inodesTotal >= fs.inodesUsed ? fs.inodesTotal - fs.inodesUsed : 0
            out.append(Finding(
                ruleID: description.id, category: .disk, severity: severity, confidence: 0.95,
                title: "The disk \(fs.mountPoint) cannot hold many more files",
                detail: "\(fs.mountPoint) (\(fs.device), \(fs.fsType)) uses \(fs.inodesUsed) of \(fs.inodesTotal) inodes "
                    + "(\(Figures.percent(fs.inodesUsedPercent))); \(left) left. New files fail with ENOSPC even with free blocks.",
                userAdvice: "Delete folders holding huge numbers of small files (caches, build folders) on \(fs.mountPoint).",
                technicianAdvice: "Find the directories with most entries: `sudo du --inodes -x \(fs.mountPoint) | sort -n | tail`; "
                    + "usual suspects are caches, mail spools, session files, node_modules.",
                evidence: [
                    Figures.metric("disk.\(fs.mountPoint).inodesUsedPercent", Figures.percent(fs.inodesUsedPercent)),
                    Figures.metric("disk.\(fs.mountPoint).inodesFree", "\(left)"),
                ],
                lastSeen: contents.manifest.createdAt))
        }
        return out
    }
}
