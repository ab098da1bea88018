import Foundation
import Shared

/// Decides which notices a new ticket list calls for. Pure: a ticket list and the record in,
/// notices and the next record out; `SessionNotifier` shows the notices.
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
