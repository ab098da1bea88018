import Foundation
import Shared

/// What the daemon last told each local user about their tickets, and what to tell them now.
///
/// Pure: a ticket list in, notices and the next record out; `NoticeLedger` keeps the record on
/// disk and `SessionNotifier` shows the notices.
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

/// One desktop notification for one local user.
struct ReplyNotice: Sendable, Equatable {
    /// The local user whose request opened the ticket(s).
    var user: String
    /// The tickets it tells about.
    var tickets: [Int64]
    /// Plain text (the Notifications spec shows the summary as is).
    var summary: String
    /// Plain text, made safe with `NoticeText.excerpt`; the sender escapes it for servers that
    /// read the body as markup (`NoticeText.markupEscaped`).
    var body: String
}

/// Decides which notices a new ticket list calls for.
enum ReplyNotices {
    /// Most notices for one user from one check-in; more changed tickets make one notice that
    /// counts them.
    static let maxPerUser = 3

    /// The notices `tickets` call for after `seen`, and what to remember next.
    ///
    /// A ticket is told about when a reply visible to the user is newer than the last one seen,
    /// or its status changed. A ticket not seen before is compared with an open ticket without
    /// replies (the user just asked; they know it is open). Tickets without a local user
    /// (`requestedBy` nil: root's or unknown) are remembered but never told about.
    /// - Parameter seen: the record so far; nil on the very first check-in, which only takes
    ///   note: a newly installed or upgraded agent does not replay every old reply.
    static func changes(in tickets: [HostTicket], since seen: TicketsSeen?) -> (notices: [ReplyNotice], seen: TicketsSeen) {
        var next = TicketsSeen()
        var changedByUser: [String: [(ticket: HostTicket, newReply: TicketComment?, statusChanged: Bool)]] = [:]
        for ticket in tickets.sorted(by: { $0.id < $1.id }) {
            let visible = ticket.replies.filter(\.visibleToUser)
            let lastReply = visible.map(\.id).max() ?? 0
            next.tickets[String(ticket.id)] = TicketsSeen.Ticket(status: ticket.status, lastReply: lastReply)
            guard let seen, let user = ticket.requestedBy, !user.isEmpty else { continue }
            let before = seen.tickets[String(ticket.id)] ?? TicketsSeen.Ticket(status: .open, lastReply: 0)
            let newReply = visible.filter { $0.id > before.lastReply }.max { $0.id < $1.id }
            let statusChanged = ticket.status != before.status
            if newReply != nil || statusChanged {
                changedByUser[user, default: []].append((ticket, newReply, statusChanged))
            }
        }
        if next.tickets.count > TicketsSeen.maxTickets {
            let keep = Set(next.tickets.keys.compactMap { Int64($0) }.sorted(by: >).prefix(TicketsSeen.maxTickets).map { String($0) })
            next.tickets = next.tickets.filter { keep.contains($0.key) }
        }
        var notices: [ReplyNotice] = []
        for user in changedByUser.keys.sorted() {
            let changes = changedByUser[user] ?? []
            if changes.count > maxPerUser {
                let numbers = changes.map { "#\($0.ticket.id)" }.joined(separator: ", ")
                notices.append(ReplyNotice(user: user, tickets: changes.map(\.ticket.id), summary: "Help desk: \(changes.count) tickets have news",
                                           body: "Tickets \(numbers) changed. " + readIt))
                continue
            }
            for change in changes {
                notices.append(notice(user: user, ticket: change.ticket, newReply: change.newReply, statusChanged: change.statusChanged))
            }
        }
        return (notices, next)
    }

    /// `seen` with the tickets of `notices` put back as they were in `before`, so that the
    /// next check-in tells about them again (their user had no session to show them in).
    static func keepPending(_ notices: [ReplyNotice], in seen: TicketsSeen, before: TicketsSeen) -> TicketsSeen {
        var result = seen
        for id in notices.flatMap(\.tickets).map({ String($0) }) {
            result.tickets[id] = before.tickets[id]
        }
        return result
    }

    /// How the user reads the whole reply.
    static let readIt = "Run helpline status to read it."

    /// The notice for one ticket.
    static func notice(user: String, ticket: HostTicket, newReply: TicketComment?, statusChanged: Bool) -> ReplyNotice {
        let summary: String
        var body = ""
        if let newReply {
            summary = statusChanged ? "Help desk replied on ticket #\(ticket.id) (\(ticket.status.words))"
                : "Help desk replied on ticket #\(ticket.id)"
            body = "“" + NoticeText.excerpt(newReply.body) + "”\n"
        } else {
            summary = "Ticket #\(ticket.id) is now \(ticket.status.words)"
            body = NoticeText.excerpt(ticket.title) + "\n"
        }
        return ReplyNotice(user: user, tickets: [ticket.id], summary: summary, body: body + readIt)
    }
}

/// Text from a ticket made fit for a notification. Replies and titles are written by people
/// elsewhere and are untrusted here.
enum NoticeText {
    /// Most characters of a reply shown in a notice.
    static let maxExcerpt = 120

    /// `text` on one line: control and format characters (newlines, escapes, bidirectional
    /// overrides) dropped or turned into spaces, runs of spaces collapsed, cut to `limit`
    /// characters with `…`.
    static func excerpt(_ text: String, limit: Int = maxExcerpt) -> String {
        var out = ""
        var lastWasSpace = true
        var count = 0
        for scalar in text.unicodeScalars {
            let category = scalar.properties.generalCategory
            let isSpace = scalar.properties.isWhitespace || category == .control
            if isSpace {
                if !lastWasSpace { out.unicodeScalars.append(" "); lastWasSpace = true }
                continue
            }
            // Format characters (U+200B…, U+202A–U+202E, U+2066–U+2069) can reorder or hide
            // what the user sees; private-use and unassigned ones have no business here either.
            if category == .format || category == .privateUse || category == .unassigned || category == .surrogate { continue }
            out.unicodeScalars.append(scalar)
            lastWasSpace = false
            count += 1
            if count > limit * 4 { break }  // enough for any cut below; stops huge inputs early
        }
        if out.last == " " { out.removeLast() }
        if out.count > limit {
            out = String(out.prefix(limit - 1)).trimmingCharacters(in: .whitespaces) + "…"
        }
        return out
    }

    /// `text` safe inside notification body markup: `&`, `<`, `>`, `"` and `'` as entities.
    /// (The spec's body is a small XML-like markup; a raw `<` could start a tag or a link.)
    static func markupEscaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
}
