import Foundation
import Shared
import Testing
@testable import Agent

@Test func unitsProbeReadsPlantedUnitsUnderSysroot() throws {
    let out = try UnitsProbe().collect(fixtureContext(fixturePath("sysroot-laptop")))
    #expect(out.status == .ok)
    #expect(out.member == BundleMember.units)
    let u = try decode(UnitsInfo.self, out)
    #expect(u.failed.map(\.name) == ["cups.service", "home-alice-nas.mount"])
    #expect(u.failed[0].restarts == 5)
    #expect(u.failed[0].result == "exit-code")
    #expect(u.failed[0].since == ISO8601DateFormatter().date(from: "2024-06-03T09:12:44Z"))
    #expect(u.failed[1].restarts == nil)
}

@Test func unitsProbeSkippedUnderSysrootWithoutFixture() throws {
    let tree = try FixtureCopy("sysroot-laptop")
    defer { tree.cleanup() }
    try tree.remove("/helpline-fixture/units.json")
    let out = try UnitsProbe().collect(fixtureContext(tree.root))
    #expect(out.status == .skipped)
    #expect(out.member == nil)
    #expect(out.error == "sysroot given; units are read from the running system's bus")
}

@Test func unitsProbeRejectsMalformedFixture() throws {
    let tree = try FixtureCopy("sysroot-laptop")
    defer { tree.cleanup() }
    try tree.write("/helpline-fixture/units.json", #"{"failed": [{"name": 3}]}"#)
    #expect(throws: ProbeError.self) { try UnitsProbe().collect(fixtureContext(tree.root)) }
}

/// Tests that touch `DBUS_SYSTEM_BUS_ADDRESS`, one at a time.
@Suite(.serialized) struct UnitsProbeLiveTests {
    /// This container has no system bus, so the probe must skip and say why; on a machine
    /// with one it must list (possibly zero) failed units.
    @Test func unitsProbeOnLiveSystem() throws {
        let out = try UnitsProbe().collect(liveContext())
        if out.status == .skipped {
            #expect(out.error?.hasPrefix("no system bus: open the system bus: ") == true)
        } else {
            _ = try decode(UnitsInfo.self, out)
        }
    }

    /// A real dbus-daemon stands in for the system bus, without systemd on it: the
    /// connection and the ListUnits call are real, and the D-Bus error must reach the report.
    @Test func unitsProbeOnABusWithoutSystemd() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/dbus-daemon"),
                     "/usr/bin/dbus-daemon is missing: this test needs a real D-Bus daemon; scripts/setup.sh installs it (Debian package dbus-daemon)")
        let tree = try FixtureCopy()
        defer { tree.cleanup() }
        let socket = tree.path("/bus")
        // A private config: no service activation (the stock session config would try to
        // start org.freedesktop.systemd1 itself).
        try tree.write("/bus.conf", """
        <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
         "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
        <busconfig>
          <type>session</type>
          <listen>unix:path=\(socket)</listen>
          <auth>EXTERNAL</auth>
          <policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy>
        </busconfig>
        """)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/dbus-daemon")
        daemon.arguments = ["--config-file=" + tree.path("/bus.conf"), "--nofork", "--nopidfile", "--print-address"]
        let out = Pipe()
        daemon.standardOutput = out
        try daemon.run()
        defer { daemon.waitForExit(upTo: 0) }
        // The address is printed once the daemon listens (the socket file appears at bind,
        // a moment before: a connection then was refused on a loaded machine).
        let address = LineReader(out.fileHandleForReading).nextLine(before: Date().addingTimeInterval(30))
        try #require(address?.hasPrefix("unix:") == true, "dbus-daemon printed no address within 30 s")
        try #require(FileManager.default.fileExists(atPath: socket), "dbus-daemon did not create \(socket)")
        // The address goes to the probe, not into the environment: setenv here raced with
        // other tests starting processes (Foundation's Process.run copying `environ` crashed).
        let error = #expect(throws: ProbeError.self) { try UnitsProbe(busAddress: "unix:path=" + socket).collect(liveContext()) }
        #expect(error?.message.contains("call ListUnits: org.freedesktop.DBus.Error.ServiceUnknown") == true)
    }
}
