import Foundation
import CSystemd

/// A connection to the system bus (sd-bus), owning the `sd_bus*` and closing it in deinit.
///
/// Not `Sendable`: sd-bus handles belong to one thread, so a `SystemBus` lives inside one
/// probe run. Uses only non-variadic calls (`sd_bus_call`, `sd_bus_message_read_basic`…),
/// which Swift imports without shims.
final class SystemBus {
    private let bus: OpaquePointer
    /// Reply timeout per call, µs.
    private let timeout: UInt64 = 5_000_000
    private static let destination = "org.freedesktop.systemd1"

    /// Connects to the system bus, or to the bus at `address` (a D-Bus address such as
    /// `unix:path=/run/…`; tests give a private dbus-daemon's instead of changing the process's
    /// environment, which races with every other thread that starts a process).
    /// - Throws: `BusError` when there is none (no socket, no permission).
    init(address: String? = nil) throws {
        guard let address else {
            var b: OpaquePointer?
            let r = sd_bus_open_system(&b)
            guard r >= 0, let b else { throw BusError(operation: "open the system bus", code: -r) }
            bus = b
            return
        }
        bus = try connectBus(at: address, what: "the bus")
    }

    deinit { sd_bus_flush_close_unref(bus) }

    /// `org.freedesktop.systemd1.Manager.ListUnits`: every loaded unit.
    /// - Throws: `BusError` when the call or the reply fails.
    func listUnits() throws -> [ListedUnit] {
        var call: OpaquePointer?
        var r = sd_bus_message_new_method_call(bus, &call, Self.destination, "/org/freedesktop/systemd1",
                                               "org.freedesktop.systemd1.Manager", "ListUnits")
        guard r >= 0, let call else { throw BusError(operation: "build the ListUnits call", code: -r) }
        defer { sd_bus_message_unref(call) }

        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var reply: OpaquePointer?
        r = sd_bus_call(bus, call, timeout, &error, &reply)
        guard r >= 0, let reply else {
            throw BusError(operation: "call ListUnits", code: -r, busError: Self.describe(error))
        }
        defer { sd_bus_message_unref(reply) }

        func check(_ r: Int32, _ what: String) throws {
            if r < 0 { throw BusError(operation: "read the ListUnits reply (\(what))", code: -r) }
        }
        try check(sd_bus_message_enter_container(reply, CChar(UInt8(ascii: "a")), "(ssssssouso)"), "array")
        var units: [ListedUnit] = []
        while true {
            r = sd_bus_message_enter_container(reply, CChar(UInt8(ascii: "r")), "ssssssouso")
            try check(r, "struct")
            if r == 0 { break }
            var s: [String] = []
            for _ in 0..<6 { s.append(try readString(reply, type: "s")) }
            let path = try readString(reply, type: "o")
            var jobID: UInt32 = 0
            try check(sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "u")), &jobID), "job id")
            let jobType = try readString(reply, type: "s")
            let jobPath = try readString(reply, type: "o")
            try check(sd_bus_message_exit_container(reply), "struct end")
            units.append(ListedUnit(name: s[0], description: s[1], loadState: s[2], activeState: s[3], subState: s[4],
                                    following: s[5], objectPath: path, jobID: jobID, jobType: jobType, jobPath: jobPath))
        }
        try check(sd_bus_message_exit_container(reply), "array end")
        return units
    }

    /// A `t` (UInt64) property of the object at `path`.
    func uint64Property(path: String, interface: String, member: String) throws -> UInt64 {
        var value: UInt64 = 0
        try trivialProperty(path: path, interface: interface, member: member, type: "t", into: &value)
        return value
    }

    /// A `u` (UInt32) property of the object at `path`.
    func uint32Property(path: String, interface: String, member: String) throws -> UInt32 {
        var value: UInt32 = 0
        try trivialProperty(path: path, interface: interface, member: member, type: "u", into: &value)
        return value
    }

    /// An `s` property of the object at `path`.
    func stringProperty(path: String, interface: String, member: String) throws -> String {
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var out: UnsafeMutablePointer<CChar>?
        let r = sd_bus_get_property_string(bus, Self.destination, path, interface, member, &error, &out)
        guard r >= 0, let out else {
            throw BusError(operation: "read \(member) of \(path)", code: -r, busError: Self.describe(error))
        }
        defer { free(out) }
        return String(cString: out)
    }

    private func trivialProperty<T>(path: String, interface: String, member: String, type: Unicode.Scalar,
                                    into value: inout T) throws {
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        let r = withUnsafeMutablePointer(to: &value) { ptr in
            sd_bus_get_property_trivial(bus, Self.destination, path, interface, member, &error,
                                        CChar(UInt8(ascii: type)), ptr)
        }
        if r < 0 { throw BusError(operation: "read \(member) of \(path)", code: -r, busError: Self.describe(error)) }
    }

    private func readString(_ m: OpaquePointer, type: Unicode.Scalar) throws -> String {
        var p: UnsafePointer<CChar>?
        let r = sd_bus_message_read_basic(m, CChar(UInt8(ascii: type)), &p)
        guard r > 0, let p else {
            throw BusError(operation: "read the ListUnits reply (\(type))", code: r < 0 ? -r : EBADMSG)
        }
        // The string belongs to the message; copy it before the message is freed.
        return String(cString: p)
    }

    /// The D-Bus error name and message in `e`, or nil when none was set.
    static func describe(_ e: sd_bus_error) -> String? {
        guard let name = e.name else { return nil }
        let message = e.message.map { String(cString: $0) } ?? ""
        return message.isEmpty ? String(cString: name) : "\(String(cString: name)): \(message)"
    }
}
