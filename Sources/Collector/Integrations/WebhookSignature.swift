import Crypto
import Foundation

/// The signature both webhook directions use: `Helpline-Signature: v1=<hex>` where hex is
/// HMAC-SHA256(key, "<Helpline-Timestamp>.<body>"), the timestamp in Unix seconds. Binding
/// the timestamp stops an old request being replayed outside the replay window; inside it,
/// the receiver remembers signatures it has seen.
public enum WebhookSignature {
    /// Header with the Unix time the sender signed at.
    public static let timestampHeader = "Helpline-Timestamp"
    /// Header with `v1=<hex>`.
    public static let signatureHeader = "Helpline-Signature"
    /// Header with the event kind (outbound).
    public static let eventHeader = "Helpline-Event"
    /// Header with the event's stable id (outbound; the receiver's idempotency key).
    public static let deliveryHeader = "Helpline-Event-Id"

    /// Hex HMAC-SHA256 of `timestamp.body`.
    public static func hex(key: String, timestamp: Int, body: Data) -> String {
        var message = Data("\(timestamp).".utf8)
        message.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(key.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// The `Helpline-Signature` value.
    public static func header(key: String, timestamp: Int, body: Data) -> String {
        "v1=" + hex(key: key, timestamp: timestamp, body: body)
    }

    /// Why an inbound request is refused.
    public enum Failure: Error, Sendable, Equatable {
        /// Headers missing or malformed.
        case malformed
        /// Timestamp outside the window.
        case stale
        /// Signature does not match.
        case mismatch
    }

    /// Checks an inbound request; answers the signature's hex on success (the replay key).
    /// - Throws: `Failure`.
    public static func verify(key: String, timestampHeader: String?, signatureHeader: String?, body: Data,
                              now: Date, window: TimeInterval) throws(Failure) -> String {
        guard let t = timestampHeader, t.utf8.count <= 12, let timestamp = Int(t),
              let s = signatureHeader, s.hasPrefix("v1="), s.utf8.count == 67 else { throw .malformed }
        guard abs(now.timeIntervalSince1970 - TimeInterval(timestamp)) <= window else { throw .stale }
        let expected = hex(key: key, timestamp: timestamp, body: body)
        let sent = String(s.dropFirst(3)).lowercased()
        // Constant time: how much of a guess matched must not show in the answer's timing.
        let a = Array(expected.utf8), b = Array(sent.utf8)
        guard a.count == b.count else { throw .mismatch }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        guard diff == 0 else { throw .mismatch }
        return expected
    }
}
