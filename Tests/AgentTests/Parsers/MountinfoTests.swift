import Testing
@testable import Agent

@Test func mountinfoParsesOptionalFieldsAndEscapes() {
    let text = #"""
    28 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
    112 28 8:1 / /media/alice/USB\040DISK ro,nosuid,nodev,relatime shared:522 master:3 - vfat /dev/sda1 rw,fmask=0022
    40 22 0:12 / /sys/kernel/tracing rw,nosuid - tracefs tracefs rw
    bogus line
    """#
    let m = Mountinfo.parse(text)
    #expect(m.count == 3)
    #expect(m[0].mountPoint == "/")
    #expect(m[0].device == "259:2")
    #expect(m[0].source == "/dev/nvme0n1p2")
    #expect(!m[0].readOnly)
    #expect(m[1].mountPoint == "/media/alice/USB DISK")
    #expect(m[1].fsType == "vfat")
    #expect(!m[1].readOnly, "a read-only view (per-mount ro) of a writable filesystem")
    #expect(m[2].fsType == "tracefs")
}

@Test func mountinfoUnescapesOctalButNotGarbage() {
    #expect(Mountinfo.unescape(#"/a\040b\011c\134d\012e"#) == "/a b\tc\\d\ne")
    #expect(Mountinfo.unescape(#"/trailing\04"#) == #"/trailing\04"#)
    #expect(Mountinfo.unescape(#"/not\999octal"#) == #"/not\999octal"#)
    #expect(Mountinfo.unescape(#"/caf\303\251"#) == "/café")
}

@Test func mountinfoReadOnlySuperblock() {
    let m = Mountinfo.parseLine("30 1 8:2 / /mnt rw,relatime - ext4 /dev/sdb2 ro")
    #expect(m?.readOnly == true)
    #expect(Mountinfo.parseLine("30 1 8:2 / /mnt rw,relatime shared:1 ext4 /dev/sdb2 rw") == nil)
}

/// The daemon's own mount namespace (systemd ProtectSystem=strict, ProtectHome=read-only) shows
/// `/` and `/home` as read-only binds of filesystems that are writable: not read-only disks.
/// A filesystem the kernel remounted read-only after an error is.
@Test func mountinfoReadOnlyIsTheFilesystemsNotASandboxesView() {
    let sandboxed = Mountinfo.parse("""
        46 45 254:0 / / ro,relatime - ext4 /dev/vda rw,discard
        47 46 254:1 / /home ro,nosuid,nodev,relatime - ext4 /dev/vdb rw
        """)
    #expect(sandboxed.count == 2 && sandboxed.allSatisfy { !$0.readOnly })
    let failed = Mountinfo.parseLine("28 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 ro,errors=remount-ro")
    #expect(failed?.readOnly == true)
}
