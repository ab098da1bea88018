import Foundation

/// A failure talking to a D-Bus bus (the system bus, or a user's session bus): what was asked,
/// and the errno or D-Bus error.
struct BusError: Error, CustomStringConvertible {
    /// What was being done (`open the system bus`, `call ListUnits`…).
    var operation: String
    /// Positive errno from the negative sd-bus return code.
    var code: Int32
    /// The D-Bus error name and message, when the peer sent one.
    var busError: String?

    /// One line for the manifest.
    var description: String {
        let reason = busError ?? String(cString: strerror(code))
        return "\(operation): \(reason)"
    }
}
