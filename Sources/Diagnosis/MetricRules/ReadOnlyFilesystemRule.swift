import Foundation
import Shared

/// Root, home or another writable system filesystem mounted read-only: usually the kernel
/// remounted it after an error (`errors=remount-ro`).
struct ReadOnlyFilesystemRule: MetricRule {
    /// Id, category, kind and summary.
    let description = RuleDescription(
        id: "disk.readonly_root", category: .storage, kind: .metric,
        summary: "A filesystem that must be writable (/, /home, /var, /tmp) is mounted read-only, usually after a disk or filesystem error.")

    /// The findings for `contents` (see `MetricRule`).
    func evaluate(_ contents: BundleContents, configuration c: DiagnosisConfiguration) -> [Finding] {
        guard let disks = contents.disks else { return [] }
        let watched = Set(c.readOnlyMountPoints)
        return disks.filesystems.filter { $0.readOnly && watched.contains($0.mountPoint) }.map { fs in
            Finding(
                ruleID: description.id, category: .storage, severity: .critical, confidence: 0.9,
                title: "The disk \(fs.mountPoint) is read-only: nothing can be saved",
                detail: "\(fs.mountPoint) (\(fs.device), \(fs.fsType)) is mounted read-only. For \(fs.fsType) with errors=remount-ro this "
                    + "follows a filesystem or I/O error; look for EXT4-fs/BTRFS/XFS errors and I/O errors in the kernel log.",
                userAdvice: "Save your work elsewhere (a USB stick or network drive) and do not restart until a technician has looked.",
                technicianAdvice: "Check `journalctl -k -b | grep -Ei 'I/O error|EXT4-fs|BTRFS|XFS'` and the drive's SMART data "
                    + "(`smartctl -a`); back up, then run fsck from a rescue system; replace the drive if it reports media errors.",
                evidence: [Figures.metric("disk.\(fs.mountPoint).readOnly", "true (\(fs.device), \(fs.fsType))")],
                lastSeen: contents.manifest.createdAt)
        }
    }
}
