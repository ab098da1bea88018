import Foundation
import Shared
import Synchronization

/// The `statvfs(3)` counters of one filesystem, as `statvfs.json` gives them.
struct FilesystemCounts: Sendable, Codable, Equatable {
    /// Size in `frsize` units.
    var blocks: UInt64
    /// Free units, including those reserved for root.
    var bfree: UInt64
    /// Free units available to unprivileged users.
    var bavail: UInt64
    /// Fragment size: the unit of `blocks`, `bfree` and `bavail`, in bytes.
    var frsize: UInt64
    /// Inodes in total (0 where the filesystem has no fixed count).
    var files: UInt64
    /// Free inodes.
    var ffree: UInt64

    /// The usage record of `mount`, computed as `df` does: used = blocks − bfree, and
    /// used % = used / (used + bavail), so root-reserved blocks count as unavailable.
    ///
    /// The counters come from the filesystem unchecked (FUSE passes whatever its helper
    /// says, e.g. sshfs `blocks=UINT64_MAX, bfree=0, bavail=1`), so nothing here may trap:
    /// differences clamp at 0, byte sizes saturate at `UInt64.max`, and the percentages
    /// are computed in `Double` and always lie in 0…100.
    func usage(of mount: Mountinfo.Mount) -> FilesystemUsage {
        let used = blocks >= bfree ? blocks - bfree : 0
        let avail = bavail
        // In Double: used + avail can pass UInt64.max; the ratio cannot pass 1.
        let usedPercent = used == 0 ? 0 : Double(used) / (Double(used) + Double(avail)) * 100
        let inodesUsed = files >= ffree ? files - ffree : 0
        return FilesystemUsage(
            mountPoint: mount.mountPoint, device: mount.source, fsType: mount.fsType, readOnly: mount.readOnly,
            sizeBytes: saturatingBytes(blocks, frsize), usedBytes: saturatingBytes(used, frsize),
            availableBytes: saturatingBytes(avail, frsize),
            usedPercent: usedPercent, inodesTotal: files, inodesUsed: inodesUsed,
            inodesUsedPercent: files == 0 ? 0 : Double(inodesUsed) / Double(files) * 100)
    }
}

/// `units × unitSize` bytes, saturating at `UInt64.max` rather than wrapping to a small number.
private func saturatingBytes(_ units: UInt64, _ unitSize: UInt64) -> UInt64 {
    let (product, overflow) = units.multipliedReportingOverflow(by: unitSize)
    return overflow ? .max : product
}

/// `disks.json`: every real mounted filesystem with its usage, and the block devices.
///
/// Which mounts count as real (`reportedMounts`):
/// - pseudo filesystems (proc, sysfs, cgroup, cgroup2, devtmpfs, devpts, debugfs, …) are left out;
/// - tmpfs is kept only where users fill it: `/tmp`, `/var/tmp`, `/dev/shm`, `/run` and
///   `/run/user/<uid>` (a full `/run/user/1000` breaks a desktop session);
/// - squashfs and erofs images (snaps, live media) are always 100% full by design and left
///   out, as is overlay, unless mounted at `/` (containers, live systems);
/// - desktop FUSE helpers (gvfsd-fuse, portal, lxcfs, snapfuse) are left out;
/// - a mount point mounted over twice is listed once, for the mount on top (the one in use);
/// - a filesystem mounted several times (bind mounts, btrfs subvolumes share one device
///   number) is listed once, at its shortest mount point, as `df` does.
///
/// Network filesystems are kept; their `statvfs` runs with a time limit so a dead server
/// cannot stall the probe, and a mount that does not answer is named in `unreadable`.
struct DisksProbe: Probe {
    /// `disks`.
    let name = "disks"
    /// What it gathers, for `helpline preview`.
    let summary = "Mounted filesystems with size, use and inodes (like df), block devices"
    /// statvfs of network mounts may be slow.
    let timeout: Duration = .seconds(15)
    /// How long one network filesystem's `statvfs` may take.
    var networkStatTimeout: Duration = .seconds(3)

    /// Filesystem types that never hold user data.
    static let pseudoTypes: Set<String> = [
        "proc", "sysfs", "cgroup", "cgroup2", "devtmpfs", "devpts", "securityfs", "pstore", "efivarfs", "bpf",
        "debugfs", "tracefs", "configfs", "fusectl", "mqueue", "hugetlbfs", "autofs", "binfmt_misc", "rpc_pipefs",
        "nsfs", "ramfs", "selinuxfs", "nfsd", "rootfs", "none",
        "fuse.gvfsd-fuse", "fuse.portal", "fuse.lxcfs", "fuse.snapfuse",
    ]
    /// Read-only image filesystems, full by design.
    static let imageTypes: Set<String> = ["squashfs", "erofs"]
    /// Filesystems whose `statvfs` goes over the network.
    static let networkTypes: Set<String> = [
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "fuse.sshfs", "9p", "afs", "fuse.rclone",
    ]

    /// Reads `/proc/self/mountinfo`, `statvfs` of each reported mount (or
    /// `FixtureOverrides`), and `/sys/block`.
    /// - Throws: `ProbeError` when mountinfo cannot be read or a fixture is malformed.
    func collect(_ context: ProbeContext) throws -> ProbeOutput {
        var unreadable: [String] = []
        let mountinfoPath = "/proc/self/mountinfo"
        let text: String
        switch context.source(mountinfoPath) {
        case .text(let t): text = t
        case .missing: throw ProbeError("\(context.path(mountinfoPath)) does not exist; is /proc mounted?")
        case .unreadable(let e): throw ProbeError("cannot read \(context.path(mountinfoPath)): \(String(cString: strerror(e)))")
        }
        let overrides = FixtureOverrides(context: context)
        let planted = try overrides.filesystemCounts() ?? [:]

        var filesystems: [FilesystemUsage] = []
        // Mount points and sources are text anyone could set: a FUSE source carries URL
        // credentials (`curlftpfs ftp://user:pass@host/`), a path a user name.
        for found in Self.reportedMounts(Mountinfo.parse(text)) {
            var mount = found
            mount.mountPoint = context.redactor.redact(found.mountPoint)
            mount.source = context.redactor.redact(found.source)
            if overrides.active, let counts = planted[found.mountPoint] {
                filesystems.append(counts.usage(of: mount))
                continue
            }
            let target = context.path(found.mountPoint)
            let limit: Duration? = Self.networkTypes.contains(mount.fsType) ? networkStatTimeout : nil
            if overrides.active && !FileManager.default.fileExists(atPath: target) {
                unreadable.append("statvfs \(mount.mountPoint) (not in the sysroot nor statvfs.json)")
                filesystems.append(FilesystemCounts(blocks: 0, bfree: 0, bavail: 0, frsize: 0, files: 0, ffree: 0).usage(of: mount))
                continue
            }
            switch Self.stat(target, limit: limit) {
            case .success(let counts): filesystems.append(counts.usage(of: mount))
            case .failure(let why):
                unreadable.append("statvfs \(mount.mountPoint) (\(why.message))")
                filesystems.append(FilesystemCounts(blocks: 0, bfree: 0, bavail: 0, frsize: 0, files: 0, ffree: 0).usage(of: mount))
            }
        }

        let devices = blockDevices(context, unreadable: &unreadable)
        let info = DiskInfo(filesystems: filesystems, blockDevices: devices)
        return try .json(BundleMember.disks, info, items: filesystems.count + devices.count,
                         status: unreadable.isEmpty ? .ok : .partial,
                         error: unreadable.isEmpty ? nil : "some filesystems or devices could not be read",
                         unreadable: unreadable)
    }

    /// The mounts worth reporting, in mountinfo order (see the type's documentation).
    static func reportedMounts(_ mounts: [Mountinfo.Mount]) -> [Mountinfo.Mount] {
        // A mount over an existing mount point has the one below as parent and hides it.
        let covered = Set(mounts.compactMap { m in
            mounts.contains { $0.mountID == m.parentID && $0.mountPoint == m.mountPoint } ? m.parentID : nil
        })
        let visible = mounts.filter { !covered.contains($0.mountID) }
        let real = visible.filter { m in
            if m.fsType == "tmpfs" {
                return ["/tmp", "/var/tmp", "/dev/shm", "/run"].contains(m.mountPoint)
                    || (m.mountPoint.hasPrefix("/run/user/") && !m.mountPoint.dropFirst("/run/user/".count).contains("/"))
            }
            if pseudoTypes.contains(m.fsType) { return false }
            if imageTypes.contains(m.fsType) || m.fsType == "overlay" { return m.mountPoint == "/" }
            return true
        }
        // One entry per device number: the shortest mount point, at its first position.
        var best: [String: Mountinfo.Mount] = [:]
        for m in real where best[m.device].map({ m.mountPoint.count < $0.mountPoint.count }) ?? true {
            best[m.device] = m
        }
        var emitted = Set<String>()
        return real.compactMap { m in
            guard !emitted.contains(m.device), let chosen = best[m.device] else { return nil }
            emitted.insert(m.device)
            return chosen
        }
    }

    /// Why a `statvfs` gave no numbers.
    struct StatFailure: Error {
        /// `strerror` text or the time limit that passed.
        var message: String
    }

    /// `statvfs` of `path`; with `limit`, on a worker thread abandoned when it overruns
    /// (a hung NFS server blocks the call in the kernel, which cannot be cancelled).
    static func stat(_ path: String, limit: Duration?) -> Result<FilesystemCounts, StatFailure> {
        guard let limit else { return statNow(path) }
        let done = DispatchSemaphore(value: 0)
        let shared = SharedResult()
        Thread.detachNewThread {
            let r = statNow(path)
            shared.box.withLock { $0 = r }
            done.signal()
        }
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        if done.wait(timeout: .now() + seconds) == .timedOut {
            return .failure(StatFailure(message: "no answer within \(limit)"))
        }
        return shared.box.withLock { $0 } ?? .failure(StatFailure(message: "no result"))
    }

    private static func statNow(_ path: String) -> Result<FilesystemCounts, StatFailure> {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else {
            return .failure(StatFailure(message: String(cString: strerror(errno))))
        }
        return .success(FilesystemCounts(blocks: UInt64(s.f_blocks), bfree: UInt64(s.f_bfree), bavail: UInt64(s.f_bavail),
                                         frsize: UInt64(s.f_frsize == 0 ? s.f_bsize : s.f_frsize),
                                         files: UInt64(s.f_files), ffree: UInt64(s.f_ffree)))
    }

    /// Every `/sys/block` device, except empty loop and RAM devices (size 0).
    private func blockDevices(_ context: ProbeContext, unreadable: inout [String]) -> [BlockDevice] {
        guard let names = context.directory("/sys/block") else { return [] }
        var out: [BlockDevice] = []
        for name in names {
            let base = "/sys/block/" + name
            guard let sizeText = context.text(base + "/size", unreadable: &unreadable),
                  let sectors = UInt64(sizeText.trimmingWhitespace) else { continue }
            let virtualKind = name.hasPrefix("loop") || name.hasPrefix("ram") || name.hasPrefix("zram")
            if sectors == 0 && virtualKind { continue }
            func flag(_ p: String) -> Bool {
                context.text(base + p, unreadable: &unreadable).map { $0.trimmingWhitespace == "1" } ?? false
            }
            let model = context.text(base + "/device/model", unreadable: &unreadable)
                .map { String($0.trimmingWhitespace) }.flatMap { $0.isEmpty ? nil : $0 }
            // /sys/block/*/size is always in 512-byte sectors, whatever the logical block size.
            out.append(BlockDevice(name: name, sizeBytes: saturatingBytes(sectors, 512),
                                   rotational: flag("/queue/rotational"), removable: flag("/removable"), model: model))
        }
        return out
    }
}

/// Carries the worker thread's result back; the `Mutex` makes it safe to share.
private final class SharedResult: Sendable {
    /// The result, set once by the worker.
    let box = Mutex<Result<FilesystemCounts, DisksProbe.StatFailure>?>(nil)
}
