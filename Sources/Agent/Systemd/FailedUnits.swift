import Foundation
import Shared

/// One entry of systemd's `ListUnits` reply, signature `(ssssssouso)`.
struct ListedUnit: Sendable, Equatable {
    /// Unit name (`cups.service`).
    var name: String
    /// `Description=` of the unit.
    var description: String
    /// `loaded`, `not-found`, `masked`…
    var loadState: String
    /// `active`, `failed`, `inactive`…
    var activeState: String
    /// Type-specific state (`running`, `dead`, `failed`…).
    var subState: String
    /// Unit this one follows (`""` when none).
    var following: String
    /// D-Bus object path of the unit (`/org/freedesktop/systemd1/unit/...`).
    var objectPath: String
    /// Queued job id, 0 when none.
    var jobID: UInt32
    /// Queued job type (`start`…), empty when none.
    var jobType: String
    /// Queued job object path (`/` when none).
    var jobPath: String
}

/// Per-unit properties read after `ListUnits`, each nil when it could not be read.
struct UnitDetails: Sendable, Equatable {
    /// `ActiveEnterTimestamp`, µs since the epoch (0 = never).
    var activeEnterTimestamp: UInt64?
    /// `InactiveEnterTimestamp`, µs since the epoch (0 = never); set when a unit fails too.
    var inactiveEnterTimestamp: UInt64?
    /// `NRestarts` (services only).
    var restarts: UInt32?
    /// `Result` (`success`, `exit-code`, `signal`, `start-limit-hit`…).
    var result: String?
}

/// Turns a `ListUnits` reply into the `units.json` records. Pure: no bus needed.
enum FailedUnits {
    /// The units to report: those whose active state is `failed`, by name.
    static func select(_ units: [ListedUnit]) -> [ListedUnit] {
        units.filter { $0.activeState == "failed" }.sorted { $0.name < $1.name }
    }

    /// The D-Bus interface holding `Result` for a unit, by its type suffix; nil for types
    /// without one (targets, devices, slices).
    static func resultInterface(for name: String) -> String? {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        switch name[name.index(after: dot)...] {
        case "service": return "org.freedesktop.systemd1.Service"
        case "socket": return "org.freedesktop.systemd1.Socket"
        case "mount": return "org.freedesktop.systemd1.Mount"
        case "swap": return "org.freedesktop.systemd1.Swap"
        case "timer": return "org.freedesktop.systemd1.Timer"
        case "path": return "org.freedesktop.systemd1.Path"
        case "automount": return "org.freedesktop.systemd1.Automount"
        case "scope": return "org.freedesktop.systemd1.Scope"
        default: return nil
        }
    }

    /// The record of `unit`. `since` is when it entered its current state: the
    /// `ActiveEnterTimestamp` of an active unit, else the `InactiveEnterTimestamp`.
    static func record(_ unit: ListedUnit, details: UnitDetails, redact: (String) -> String = { $0 }) -> UnitRecord {
        let stamp = unit.activeState == "active" ? details.activeEnterTimestamp : details.inactiveEnterTimestamp
        let since = stamp.flatMap { $0 == 0 ? nil : Date(timeIntervalSince1970: Double($0) / 1_000_000) }
        return UnitRecord(name: unit.name, description: redact(unit.description), loadState: unit.loadState,
                          activeState: unit.activeState, subState: unit.subState, since: since,
                          restarts: details.restarts.map(Int.init),
                          result: details.result.flatMap { $0.isEmpty ? nil : $0 })
    }
}
