/// `/proc/self/mountinfo` (proc(5)): one mount per line,
/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`.
enum Mountinfo {
    /// One mount.
    struct Mount: Sendable, Equatable {
        /// Unique id of the mount.
        var mountID: Int
        /// Id of the mount this one sits on (itself for the root of the tree).
        var parentID: Int
        /// `major:minor` of the filesystem (`st_dev`); bind mounts of one filesystem share it.
        var device: String
        /// Path inside the filesystem that is mounted (`/` unless a bind or subvolume mount).
        var root: String
        /// Where it is mounted, octal escapes decoded.
        var mountPoint: String
        /// Per-mount options (`rw`, `ro`, `noatime`…).
        var options: [String]
        /// Filesystem type (`ext4`, `tmpfs`, `fuse.sshfs`…).
        var fsType: String
        /// Source (`/dev/nvme0n1p2`, `tmpfs`…), octal escapes decoded.
        var source: String
        /// Per-superblock options.
        var superOptions: [String]

        /// The filesystem is read-only: its superblock says `ro` (mounted so, or remounted by
        /// the kernel after an error, `errors=remount-ro`).
        ///
        /// Not the per-mount `ro` flag: that is how this process's mount namespace sees the
        /// mount, and the agent's daemon runs sandboxed (systemd `ProtectSystem=strict`,
        /// `ProtectHome=read-only`), where `/`, `/usr`, `/home`… are read-only *binds* of
        /// filesystems everyone else writes to. Counted, it made every collection through the
        /// daemon report "/ is read-only" and every heartbeat mark the root filesystem so.
        var readOnly: Bool { superOptions.contains("ro") }
    }

    /// Every well-formed line; malformed lines are skipped.
    static func parse(_ text: String) -> [Mount] {
        text.split(whereSeparator: \.isNewline).compactMap { parseLine(String($0)) }
    }

    /// One line, or nil when it lacks the fields or the `-` separator.
    static func parseLine(_ line: String) -> Mount? {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        // 6 fixed fields, zero or more optional fields, "-", then 3 fields.
        guard f.count >= 10, let sep = f[6...].firstIndex(of: "-"), f.count >= sep + 4,
              let id = Int(f[0]), let parent = Int(f[1]) else { return nil }
        return Mount(mountID: id, parentID: parent, device: String(f[2]), root: unescape(f[3]),
                     mountPoint: unescape(f[4]), options: f[5].split(separator: ",").map(String.init),
                     fsType: String(f[sep + 1]), source: unescape(f[sep + 2]),
                     superOptions: f[sep + 3].split(separator: ",").map(String.init))
    }

    /// Decodes the kernel's `\ooo` octal escapes (space `\040`, tab `\011`, newline `\012`,
    /// backslash `\134`) into bytes, then reads the result as UTF-8.
    static func unescape<S: StringProtocol>(_ s: S) -> String {
        let bytes = Array(s.utf8)
        guard bytes.contains(UInt8(ascii: "\\")) else { return String(s) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let v = octal(bytes[(i + 1)...(i + 3)]) {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func octal(_ digits: ArraySlice<UInt8>) -> UInt8? {
        guard digits.count == 3 else { return nil }
        var v = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "7") else { return nil }
            v = v * 8 + Int(d - UInt8(ascii: "0"))
        }
        return v <= 255 ? UInt8(v) : nil
    }
}
