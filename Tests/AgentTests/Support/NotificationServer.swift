import CSystemd
import Foundation

/// A desktop notification server for tests: owns `org.freedesktop.Notifications` on a bus the
/// test started, answers `GetCapabilities` and `Notify` (with sd-bus, like the agent), and
/// records each notification with the uid of the connection that sent it (from the bus, which
/// has it from the kernel). The only test file that imports CSystemd.
final class NotificationServer: @unchecked Sendable {
    // @unchecked: `received` is guarded by `lock`; the sd-bus handle lives on `thread` only.

    /// One `Notify` call.
    struct Notification: Sendable, Equatable {
        var appName: String
        var icon: String
        var summary: String
        var body: String
        /// The sender's uid as the bus knows it; nil when the bus would not say.
        var senderUID: uid_t?
    }

    private let lock = NSLock()
    private var received: [Notification] = []
    private var stopRequested = false
    private let started = DispatchSemaphore(value: 0)
    private var startError: String?
    private var thread: Thread?
    let capabilities: [String]

    /// Connects to the bus at `address`, takes the name and starts answering (30 s at most).
    /// - Throws: `FixtureError` saying which step failed.
    init(address: String, capabilities: [String] = ["body", "body-markup"]) throws {
        self.capabilities = capabilities
        let thread = Thread { [unowned self] in self.serve(address: address) }
        thread.name = "test-notification-server"
        self.thread = thread
        thread.start()
        guard started.wait(timeout: .now() + 30) == .success else { throw FixtureError("the notification server did not start within 30 s") }
        if let startError { throw FixtureError(startError) }
    }

    /// Every notification so far, oldest first.
    var notifications: [Notification] {
        lock.lock(); defer { lock.unlock() }
        return received
    }

    /// Stops answering and closes the connection.
    func stop() {
        lock.lock(); stopRequested = true; lock.unlock()
    }

    private var shouldStop: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopRequested
    }

    private func serve(address: String) {
        var b: OpaquePointer?
        var r = sd_bus_new(&b)
        guard r >= 0, let bus = b else { startError = "sd_bus_new: \(r)"; started.signal(); return }
        defer { sd_bus_flush_close_unref(bus) }
        r = sd_bus_set_address(bus, address)
        if r >= 0 { r = sd_bus_set_bus_client(bus, 1) }
        if r >= 0 { r = sd_bus_start(bus) }
        if r >= 0 { r = sd_bus_request_name(bus, "org.freedesktop.Notifications", 0) }
        if r >= 0 {
            let handler: sd_bus_message_handler_t = { message, userdata, _ in
                guard let message, let userdata else { return 0 }
                return Unmanaged<NotificationServer>.fromOpaque(userdata).takeUnretainedValue().handle(message)
            }
            r = sd_bus_add_filter(bus, nil, handler, Unmanaged.passUnretained(self).toOpaque())
        }
        guard r >= 0 else {
            startError = "cannot serve notifications on \(address): \(String(cString: strerror(-r)))"
            started.signal()
            return
        }
        started.signal()
        while !shouldStop {
            while sd_bus_process(bus, nil) > 0 {}
            _ = sd_bus_wait(bus, 100_000)
        }
    }

    private func handle(_ m: OpaquePointer) -> Int32 {
        let interface = "org.freedesktop.Notifications"
        guard let bus = sd_bus_message_get_bus(m) else { return 0 }
        var reply: OpaquePointer?
        if sd_bus_message_is_method_call(m, interface, "GetCapabilities") > 0 {
            guard sd_bus_message_new_method_return(m, &reply) >= 0, let reply else { return -ENOMEM }
            defer { sd_bus_message_unref(reply) }
            _ = sd_bus_message_open_container(reply, CChar(UInt8(ascii: "a")), "s")
            for c in capabilities { _ = c.withCString { sd_bus_message_append_basic(reply, CChar(UInt8(ascii: "s")), $0) } }
            _ = sd_bus_message_close_container(reply)
            _ = sd_bus_send(bus, reply, nil)
            return 1
        }
        guard sd_bus_message_is_method_call(m, interface, "Notify") > 0 else { return 0 }
        func string() -> String {
            var p: UnsafePointer<CChar>?
            guard sd_bus_message_read_basic(m, CChar(UInt8(ascii: "s")), &p) > 0, let p else { return "<unreadable>" }
            return String(cString: p)
        }
        let appName = string()
        var replaces: UInt32 = 0
        _ = sd_bus_message_read_basic(m, CChar(UInt8(ascii: "u")), &replaces)
        let icon = string(), summary = string(), body = string()
        var uid: uid_t?
        var creds: OpaquePointer?
        if sd_bus_query_sender_creds(m, UInt64(SD_BUS_CREDS_UID) | UInt64(SD_BUS_CREDS_EUID), &creds) >= 0, let creds {
            var value: uid_t = 0
            if sd_bus_creds_get_euid(creds, &value) >= 0 || sd_bus_creds_get_uid(creds, &value) >= 0 { uid = value }
            sd_bus_creds_unref(creds)
        }
        lock.lock()
        received.append(Notification(appName: appName, icon: icon, summary: summary, body: body, senderUID: uid))
        var id = UInt32(received.count)
        lock.unlock()
        guard sd_bus_message_new_method_return(m, &reply) >= 0, let reply else { return -ENOMEM }
        defer { sd_bus_message_unref(reply) }
        _ = sd_bus_message_append_basic(reply, CChar(UInt8(ascii: "u")), &id)
        _ = sd_bus_send(bus, reply, nil)
        return 1
    }

    deinit { stop() }
}
