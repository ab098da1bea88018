import CSystemd
import Foundation

/// Tells systemd how the daemon is doing (sd_notify): ready, alive, stopping.
/// The only Swift file that calls sd-daemon; a no-op when not run by systemd.
enum ServiceNotifier {
    /// `READY=1`: the daemon is up.
    static func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    /// `WATCHDOG=1`: still alive.
    static func alive() { send("WATCHDOG=1") }
    /// `STATUS=…`: a line for `systemctl status`.
    static func status(_ text: String) { send("STATUS=\(text)") }
    /// `STOPPING=1`.
    static func stopping() { send("STOPPING=1") }

    /// Half the watchdog interval systemd asked for, or nil when there is no watchdog.
    static var watchdogInterval: Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec / 2))
    }

    private static func send(_ state: String) {
        _ = state.withCString { sd_notify(0, $0) }
    }
}
