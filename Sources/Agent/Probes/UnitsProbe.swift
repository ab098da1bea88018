import Foundation
import Shared

/// `units.json`: failed systemd units of the system manager, with when they failed, their
/// `Result` and restart count, read over the system bus.
///
/// Under a sysroot the bus would describe the wrong machine, so the units come from
/// `FixtureOverrides.units()` or the probe is skipped.
struct UnitsProbe: Probe {
    /// `units`.
    let name = "units"
    /// What it gathers, for `helpline preview`.
    let summary = "Failed systemd units with their result, restart count and time of failure"
    /// A few bus round trips per failed unit.
    let timeout: Duration = .seconds(10)
    /// The bus to ask; nil: the system bus (tests name a private dbus-daemon's address).
    var busAddress: String? = nil

    /// Lists units over sd-bus and reads details of the failed ones.
    /// - Throws: `ProbeError` when the bus is there but `ListUnits` fails, or a fixture is malformed.
    func collect(_ context: ProbeContext) throws -> ProbeOutput {
        if !context.sysroot.isEmpty {
            guard let planted = try FixtureOverrides(context: context).units() else {
                return .skipped("sysroot given; units are read from the running system's bus")
            }
            return try .json(BundleMember.units, planted, items: planted.failed.count)
        }

        let bus: SystemBus
        do { bus = try SystemBus(address: busAddress) } catch {
            return .skipped("no system bus: \(error)")
        }
        let listed: [ListedUnit]
        do { listed = try bus.listUnits() } catch {
            throw ProbeError("the system bus is there but systemd did not list units: \(error)")
        }

        var unreadable: [String] = []
        var records: [UnitRecord] = []
        for unit in FailedUnits.select(listed) {
            var details = UnitDetails()
            let unitInterface = "org.freedesktop.systemd1.Unit"
            func note(_ member: String) { unreadable.append("\(unit.name) \(member)") }
            do { details.activeEnterTimestamp = try bus.uint64Property(path: unit.objectPath, interface: unitInterface,
                                                                       member: "ActiveEnterTimestamp") } catch { note("ActiveEnterTimestamp") }
            do { details.inactiveEnterTimestamp = try bus.uint64Property(path: unit.objectPath, interface: unitInterface,
                                                                         member: "InactiveEnterTimestamp") } catch { note("InactiveEnterTimestamp") }
            if let iface = FailedUnits.resultInterface(for: unit.name) {
                do { details.result = try bus.stringProperty(path: unit.objectPath, interface: iface, member: "Result") } catch { note("Result") }
                if iface == "org.freedesktop.systemd1.Service" {
                    do { details.restarts = try bus.uint32Property(path: unit.objectPath, interface: iface, member: "NRestarts") } catch { note("NRestarts") }
                }
            }
            records.append(FailedUnits.record(unit, details: details, redact: context.redactor.redact))
        }
        return try .json(BundleMember.units, UnitsInfo(failed: records), items: records.count,
                         status: unreadable.isEmpty ? .ok : .partial,
                         error: unreadable.isEmpty ? nil : "some unit properties could not be read", unreadable: unreadable)
    }
}
