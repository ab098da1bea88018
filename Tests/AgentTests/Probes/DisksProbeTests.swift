import Foundation
import Shared
import Testing
@testable import Agent

@Test func disksProbeOnLaptopFixture() throws {
    let out = try DisksProbe().collect(fixtureContext(fixturePath("sysroot-laptop")))
    #expect(out.status == .ok)
    #expect(out.unreadable.isEmpty)
    let d = try decode(DiskInfo.self, out)
    // Pseudo filesystems, /run/lock, the snap squashfs, FUSE helpers and the /home bind
    // mount at /srv/projects are gone; the escaped USB path is decoded.
    #expect(d.filesystems.map(\.mountPoint) == ["/run", "/", "/dev/shm", "/home", "/boot/efi", "/tmp", "/run/user/1000",
                                                "/media/alice/USB DISK"])
    let root = try #require(d.filesystems.first { $0.mountPoint == "/" })
    #expect(root.device == "/dev/nvme0n1p2")
    #expect(root.fsType == "ext4")
    #expect(!root.readOnly)
    #expect(root.sizeBytes == 63_000_000 * 4096)
    #expect(root.usedBytes == 58_200_000 * 4096)
    #expect(root.availableBytes == 1_800_000 * 4096)
    #expect(abs(root.usedPercent - 97.0) < 1e-9)
    #expect(root.inodesTotal == 15_728_640)
    #expect(root.inodesUsed == 1_572_864)
    #expect(abs(root.inodesUsedPercent - 10.0) < 1e-9)
    let usb = try #require(d.filesystems.last)
    #expect(usb.readOnly)
    #expect(usb.device == "/dev/sda1")
    #expect(usb.inodesUsedPercent == 0)
    #expect(abs((d.filesystems.first { $0.mountPoint == "/home" }?.usedPercent ?? 0) - 60.0 / 95.0 * 100) < 1e-9)

    #expect(d.blockDevices.map(\.name) == ["loop1", "nvme0n1", "sda"])
    let nvme = d.blockDevices[1]
    #expect(nvme == BlockDevice(name: "nvme0n1", sizeBytes: 1_000_215_216 * 512, rotational: false, removable: false,
                                model: "SAMSUNG MZVL2512HCJQ-00BL7"))
    #expect(d.blockDevices[2] == BlockDevice(name: "sda", sizeBytes: 61_341_696 * 512, rotational: true, removable: true,
                                             model: "Ultra Fit"))
    #expect(d.blockDevices[0].model == nil)
    #expect(out.items == 11)
}

@Test func disksProbeStatvfsFallbackUnderSysroot() throws {
    let tree = try FixtureCopy("sysroot-laptop")
    defer { tree.cleanup() }
    // Only "/" planted: /run exists in the tree (statvfs of the folder), /home does not.
    try tree.write("/helpline-fixture/statvfs.json",
                   #"{"/": {"blocks": 100, "bfree": 50, "bavail": 40, "frsize": 1024, "files": 10, "ffree": 5}}"#)
    let out = try DisksProbe().collect(fixtureContext(tree.root))
    #expect(out.status == .partial)
    let d = try decode(DiskInfo.self, out)
    let root = try #require(d.filesystems.first { $0.mountPoint == "/" })
    #expect(root.sizeBytes == 102_400)
    #expect(abs(root.usedPercent - 50.0 / 90.0 * 100) < 1e-9)
    #expect((d.filesystems.first { $0.mountPoint == "/run" }?.sizeBytes ?? 0) > 0)
    let home = try #require(d.filesystems.first { $0.mountPoint == "/home" })
    #expect(home.sizeBytes == 0)
    #expect(out.unreadable.contains { $0.hasPrefix("statvfs /home ") })
    #expect(!out.unreadable.contains { $0.hasPrefix("statvfs /run ") })
}

@Test func disksProbeRejectsMalformedStatvfsJSON() throws {
    let tree = try FixtureCopy("sysroot-laptop")
    defer { tree.cleanup() }
    try tree.write("/helpline-fixture/statvfs.json", #"{"/": {"blocks": "lots"}}"#)
    let error = #expect(throws: ProbeError.self) { try DisksProbe().collect(fixtureContext(tree.root)) }
    #expect(error?.message.contains("statvfs.json") == true)
}

@Test func disksReportedMountsOverlayRootAndDedupe() {
    let mounts = Mountinfo.parse("""
    500 400 0:60 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
    501 500 0:61 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw
    502 500 8:2 /data /srv/data rw - btrfs /dev/sda2 rw,subvol=/data
    503 500 8:2 /@home /home rw - btrfs /dev/sda2 rw,subvol=/@home
    504 500 0:62 / /run/user/1000/extra rw - tmpfs tmpfs rw
    505 500 0:63 / /mnt/nas rw - nfs4 nas:/export rw
    506 500 0:70 / /dev/shm rw - tmpfs tmpfs rw
    507 506 0:71 / /dev/shm rw - tmpfs tmpfs rw,size=65536k
    """)
    let reported = DisksProbe.reportedMounts(mounts)
    #expect(reported.map(\.mountPoint) == ["/", "/home", "/mnt/nas", "/dev/shm"])
    // The mount stacked on top is the one that is seen.
    #expect(reported.last?.device == "0:71")
}

@Test func disksUsageAsDfComputesIt() {
    let m = Mountinfo.parseLine("1 0 8:1 / / rw - ext4 /dev/sda1 rw")!
    let empty = FilesystemCounts(blocks: 0, bfree: 0, bavail: 0, frsize: 4096, files: 0, ffree: 0).usage(of: m)
    #expect(empty.usedPercent == 0)
    #expect(empty.inodesUsedPercent == 0)
    // Corrupt counters (bfree > blocks) do not underflow.
    let odd = FilesystemCounts(blocks: 10, bfree: 20, bavail: 5, frsize: 512, files: 1, ffree: 2).usage(of: m)
    #expect(odd.usedBytes == 0)
    #expect(odd.inodesUsed == 0)
    #expect(odd.usedPercent == 0)
}

@Test func disksUsageOfFuseCountersAtTheLimitsDoesNotTrap() {
    let m = Mountinfo.parseLine("1 0 0:50 / /mnt/remote rw - fuse.sshfs alice@host:/ rw")!
    // sshfs passes its helper's numbers through: used + avail passes UInt64.max.
    let huge = FilesystemCounts(blocks: .max, bfree: 0, bavail: 1, frsize: 4096, files: .max, ffree: 0).usage(of: m)
    #expect(huge.usedPercent.isFinite && (0...100).contains(huge.usedPercent))
    #expect(abs(huge.usedPercent - 100) < 1e-9)
    #expect(huge.inodesUsedPercent.isFinite && (0...100).contains(huge.inodesUsedPercent))
    // blocks × frsize does not fit: the size saturates rather than wrapping to a small number.
    #expect(huge.sizeBytes == .max)
    #expect(huge.usedBytes == .max)
    #expect(huge.availableBytes == 4096)
    let allFree = FilesystemCounts(blocks: .max, bfree: .max, bavail: .max, frsize: 1, files: 0, ffree: 0).usage(of: m)
    #expect(allFree.usedPercent == 0)
    let bfreeOver = FilesystemCounts(blocks: 1, bfree: .max, bavail: .max, frsize: .max, files: 0, ffree: .max).usage(of: m)
    #expect(bfreeOver.usedBytes == 0)
    #expect(bfreeOver.usedPercent == 0)
    #expect(bfreeOver.availableBytes == .max)
    #expect(bfreeOver.inodesUsed == 0)
}

@Test func disksProbeOnLiveSystem() throws {
    let out = try DisksProbe().collect(liveContext())
    let d = try decode(DiskInfo.self, out)
    let root = try #require(d.filesystems.first { $0.mountPoint == "/" })
    #expect(root.sizeBytes > 0)
    #expect(root.usedPercent > 0 && root.usedPercent <= 100)
}
