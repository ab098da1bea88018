import Foundation
import Shared

/// What the daemon has seen of this computer's tickets, as far as telling users goes: the
/// record `ReplyNotices` compares a new ticket list with, kept on disk by `NoticeLedger`.
struct TicketsSeen: Codable, Sendable, Equatable {
    /// What a ticket looked like when it was last seen.
    struct Ticket: Codable, Sendable, Equatable {
        /// Its status then.
        var status: TicketStatus
        /// The highest id of a reply visible to the user then (0: none).
        var lastReply: Int64
    }

    /// Format of the file (`NoticeLedger`).
    var version = 1
    /// Ticket id (decimal) → what was seen. String keys keep the file a JSON object.
    var tickets: [String: Ticket] = [:]

    /// The most tickets remembered: the newest (highest ids) are kept. A ticket dropped from
    /// the record and seen again counts as new: it is told about only if it has a reply or a
    /// status other than open, so an old one can at worst be told about once more.
    static let maxTickets = 2000
}
