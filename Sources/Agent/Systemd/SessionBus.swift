import CSystemd
import Foundation

/// A connection to a user's session bus, to show desktop notifications
/// (`org.freedesktop.Notifications`). Owns the `sd_bus*` and closes it in deinit.
///
/// It authenticates with the credentials of the process that opens it (sd-bus's EXTERNAL
/// authentication sends `geteuid()`, and the bus compares it with the socket's peer
/// credentials). A session bus admits only its own user, so the daemon, which runs as root,
/// never opens one itself: it starts `helpline notify-session` as that user (`SessionNotifier`),
/// and that process opens this. Not `Sendable`: one thread for its whole life.
final class SessionBus {
    private let bus: OpaquePointer
    /// Reply timeout per call, µs: a notification server answers at once or not at all.
    private let timeout: UInt64 = 5_000_000
    private static let destination = "org.freedesktop.Notifications"
    private static let path = "/org/freedesktop/Notifications"

    /// Connects to the bus at the D-Bus `address` (`unix:path=/run/user/1000/bus`).
    /// - Throws: `BusError` (code `ENOENT`/`ECONNREFUSED` when nothing listens there).
    init(address: String) throws {
        bus = try connectBus(at: address, what: "the session bus")
    }

    deinit { sd_bus_flush_close_unref(bus) }

    /// The address of a bus listening on the Unix socket `path`, escaped as D-Bus addresses
    /// require (bytes outside `[-0-9A-Za-z_/.*]` as `%XX`).
    static func address(socketPath path: String) -> String {
        var out = "unix:path="
        for byte in path.utf8 {
            if ASCII.isAlnum(byte) || "-_/.*".utf8.contains(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: false).leftPadded(to: 2)
            }
        }
        return out
    }

    /// `GetCapabilities`: what the notification server supports (`body`, `body-markup`…).
    /// - Throws: `BusError` when no server answers.
    func capabilities() throws -> [String] {
        let call = try newCall("GetCapabilities")
        defer { sd_bus_message_unref(call) }
        let reply = try send(call, "GetCapabilities")
        defer { sd_bus_message_unref(reply) }
        var r = sd_bus_message_enter_container(reply, CChar(UInt8(ascii: "a")), "s")
        guard r >= 0 else { throw BusError(operation: "read the GetCapabilities reply", code: -r) }
        var result: [String] = []
        while result.count < 256 {
            var p: UnsafePointer<CChar>?
            r = sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "s")), &p)
            guard r >= 0 else { throw BusError(operation: "read the GetCapabilities reply", code: -r) }
            guard r > 0, let p else { break }
            result.append(String(cString: p))
        }
        return result
    }

    /// `Notify`: shows a notification and returns the id the server gave it.
    /// - Parameters:
    ///   - summary: one line, plain text.
    ///   - body: text or markup, as the server's `body-markup` capability says.
    /// - Throws: `BusError` when the call fails (no notification server, refused…).
    func notify(appName: String, icon: String, summary: String, body: String) throws -> UInt32 {
        let call = try newCall("Notify")
        defer { sd_bus_message_unref(call) }
        var r: Int32 = 0
        func string(_ s: String) { if r >= 0 { r = s.withCString { sd_bus_message_append_basic(call, CChar(UInt8(ascii: "s")), $0) } } }
        func emptyArray(_ contents: String) {
            if r >= 0 { r = sd_bus_message_open_container(call, CChar(UInt8(ascii: "a")), contents) }
            if r >= 0 { r = sd_bus_message_close_container(call) }
        }
        var replacesID: UInt32 = 0
        var expireTimeout: Int32 = -1  // the server's default
        string(appName)
        if r >= 0 { r = sd_bus_message_append_basic(call, CChar(UInt8(ascii: "u")), &replacesID) }
        string(icon)
        string(summary)
        string(body)
        emptyArray("s")  // actions
        emptyArray("{sv}")  // hints
        if r >= 0 { r = sd_bus_message_append_basic(call, CChar(UInt8(ascii: "i")), &expireTimeout) }
        guard r >= 0 else { throw BusError(operation: "build the Notify call", code: -r) }
        let reply = try send(call, "Notify")
        defer { sd_bus_message_unref(reply) }
        var id: UInt32 = 0
        r = sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "u")), &id)
        guard r > 0 else { throw BusError(operation: "read the Notify reply", code: r < 0 ? -r : EBADMSG) }
        return id
    }

    private func newCall(_ member: String) throws -> OpaquePointer {
        var call: OpaquePointer?
        let r = sd_bus_message_new_method_call(bus, &call, Self.destination, Self.path, Self.destination, member)
        guard r >= 0, let call else { throw BusError(operation: "build the \(member) call", code: -r) }
        return call
    }

    private func send(_ call: OpaquePointer, _ member: String) throws -> OpaquePointer {
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var reply: OpaquePointer?
        let r = sd_bus_call(bus, call, timeout, &error, &reply)
        guard r >= 0, let reply else {
            throw BusError(operation: "call \(Self.destination).\(member)", code: -r, busError: SystemBus.describe(error))
        }
        return reply
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// A client connection to the D-Bus bus at `address` (`sd_bus_new`, `sd_bus_set_address`,
/// `sd_bus_start`); the caller owns it.
/// - Throws: `BusError` naming `what` (code `ENOENT`/`ECONNREFUSED` when nothing listens there).
func connectBus(at address: String, what: String) throws -> OpaquePointer {
    var b: OpaquePointer?
    var r = sd_bus_new(&b)
    guard r >= 0, let b else { throw BusError(operation: "create a bus connection", code: -r) }
    r = sd_bus_set_address(b, address)
    if r >= 0 { r = sd_bus_set_bus_client(b, 1) }
    if r >= 0 { r = sd_bus_start(b) }
    guard r >= 0 else {
        sd_bus_unref(b)
        throw BusError(operation: "connect to \(what) at \(address)", code: -r)
    }
    return b
}
