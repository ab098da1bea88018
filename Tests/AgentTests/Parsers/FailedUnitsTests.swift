import Foundation
import Shared
import Testing
@testable import Agent

private func unit(_ name: String, _ active: String, sub: String = "dead") -> ListedUnit {
    ListedUnit(name: name, description: "desc of \(name)", loadState: "loaded", activeState: active, subState: sub,
               following: "", objectPath: "/org/freedesktop/systemd1/unit/x", jobID: 0, jobType: "", jobPath: "/")
}

@Test func failedUnitsSelectsFailedSortedByName() {
    let listed = [unit("zz.service", "failed", sub: "failed"), unit("ok.service", "active", sub: "running"),
                  unit("aa.mount", "failed", sub: "failed"), unit("idle.socket", "inactive")]
    #expect(FailedUnits.select(listed).map(\.name) == ["aa.mount", "zz.service"])
}

@Test func failedUnitsRecordUsesInactiveTimestampAndDetails() {
    let details = UnitDetails(activeEnterTimestamp: 1_717_390_000_000_000, inactiveEnterTimestamp: 1_717_405_964_500_000,
                              restarts: 5, result: "exit-code")
    let r = FailedUnits.record(unit("cups.service", "failed", sub: "failed"), details: details, redact: { $0.uppercased() })
    #expect(r.since == Date(timeIntervalSince1970: 1_717_405_964.5))
    #expect(r.restarts == 5)
    #expect(r.result == "exit-code")
    #expect(r.description == "DESC OF CUPS.SERVICE")
    let never = FailedUnits.record(unit("x.target", "failed"), details: UnitDetails(inactiveEnterTimestamp: 0, result: ""))
    #expect(never.since == nil)
    #expect(never.result == nil)
    let active = FailedUnits.record(unit("y.service", "active"), details: details)
    #expect(active.since == Date(timeIntervalSince1970: 1_717_390_000))
}

@Test func failedUnitsResultInterfaceBySuffix() {
    #expect(FailedUnits.resultInterface(for: "cups.service") == "org.freedesktop.systemd1.Service")
    #expect(FailedUnits.resultInterface(for: "home-alice-nas.mount") == "org.freedesktop.systemd1.Mount")
    #expect(FailedUnits.resultInterface(for: "graphical.target") == nil)
    #expect(FailedUnits.resultInterface(for: "noextension") == nil)
}
