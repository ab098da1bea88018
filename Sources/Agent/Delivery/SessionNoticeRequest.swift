import Foundation

/// What the daemon hands `helpline notify-session` on standard input.
struct SessionNoticeRequest: Codable, Sendable, Equatable {
    /// The user's bus socket.
    var socketPath: String
    /// Plain-text summary.
    var summary: String
    /// Plain-text body; escaped when the server reads markup.
    var body: String
    /// Most bytes read from standard input.
    static let maxBytes = 64 << 10
    /// `notify-session`'s exit status when nothing listens on the bus socket: the user has no
    /// session now.
    static let noSessionStatus: Int32 = 69  // EX_UNAVAILABLE
}
