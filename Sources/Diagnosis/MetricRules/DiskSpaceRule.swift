import Foundation
import Shared

/// A filesystem nearly full: by percentage (`df`'s Use%) or, on large disks, by little free space left.
struct DiskSpaceRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "disk.space_low", category: .disk, kind: .metric,
        summary: "A filesystem is nearly full (used % at or over the thresholds, or little free space left on a large disk).")

    /// Pseudo and read-only image filesystems never count.
    static let ignoredTypes: Set<String> = ["squashfs", "iso9660", "overlay", "devtmpfs", "proc", "sysfs", "efivarfs", "fuse.portal", "fuse.gvfsd-fuse"]

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let disks = contents.disks else { return [] }
        var out: [Finding] = []
        for fs in disks.filesystems where fs.sizeBytes > 0 && !Self.ignoredTypes.contains(fs.fsType) {
            let lowFree = fs.sizeBytes >= c.diskMinimumSizeForFreeBytesCheck && fs.availableBytes < c.diskLowFreeBytes
            /// Severity before escalation.
            let severity: Severity
            if fs.usedPercent >= c.diskCriticalPercent { severity = .critical }
            else if fs.usedPercent >= c.diskHighPercent || lowFree { severity = .high }
            else { continue }
            let free = Figures.bytes(fs.availableBytes)
            let isSystem = fs.mountPoint == "/" || fs.mountPoint.hasPrefix("/var") || fs.mountPoint == "/boot"
            out.append(Finding(
                ruleID: description.id, category: .disk, severity: severity, confidence: 0.95,
                title: "The disk \(fs.mountPoint) is \(Saturating.percentText(fs.usedPercent, rule: .down)) % full (\(free) free)",
                detail: "\(fs.mountPoint) (\(fs.device), \(fs.fsType)) uses \(Figures.bytes(fs.usedBytes)) of \(Figures.bytes(fs.sizeBytes)): "
                    + "\(Figures.percent(fs.usedPercent)) used, \(free) available to users. "
                    + (isSystem ? "A full system filesystem breaks package updates, logging and logins." : "Programs writing here will fail with \"No space left on device\"."),
                userAdvice: "Free some space on \(fs.mountPoint): empty the Trash, remove large downloads or old files you no longer need.",
                technicianAdvice: "Find what grew: `sudo du -xh --max-depth=2 \(fs.mountPoint) | sort -h | tail`; check `journalctl --disk-usage`, "
                    + "`apt clean`, old snaps/flatpaks, container images; consider growing the volume.",
                evidence: [
                    Figures.metric("disk.\(fs.mountPoint).usedPercent", Figures.percent(fs.usedPercent)),
                    Figures.metric("disk.\(fs.mountPoint).availableBytes", "\(fs.availableBytes) (\(free))"),
                    Figures.metric("disk.\(fs.mountPoint).sizeBytes", "\(fs.sizeBytes) (\(Figures.bytes(fs.sizeBytes)))"),
                ],
                lastSeen: contents.manifest.createdAt))
        }
        return out
    }
}
