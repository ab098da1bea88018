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
