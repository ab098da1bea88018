import Foundation
import Testing
@testable import Agent
@testable import Shared

/// What the daemon tells users about their tickets, without a bus: which changes make a
/// notice, what it says, and how untrusted reply text is made safe.
@Suite struct ReplyNoticesTests {
    let t0 = Date(timeIntervalSince1970: 1_790_000_000)

    func ticket(_ id: Int64, _ user: String?, _ status: TicketStatus = .open, replies: [(Int64, String, Bool)] = []) -> HostTicket {
        HostTicket(id: id, status: status, title: "Printer \(id)", createdAt: t0, updatedAt: t0,
                   replies: replies.map { TicketComment(id: $0.0, author: "tech", body: $0.1, visibleToUser: $0.2, createdAt: t0) },
                   requestedBy: user)
    }

    @Test func theFirstCheckInOnlyTakesNote() {
        let (notices, seen) = ReplyNotices.changes(in: [ticket(1, "alice", .resolved, replies: [(5, "done", true)])], since: nil)
        #expect(notices.isEmpty)
        #expect(seen.tickets["1"] == TicketsSeen.Ticket(status: .resolved, lastReply: 5))
    }

    @Test func aNewVisibleReplyOrAStatusChangeIsToldOnce() {
        let (_, first) = ReplyNotices.changes(in: [ticket(1, "alice"), ticket(2, "bob")], since: nil)
        let now = [ticket(1, "alice", replies: [(5, "Try  the\nother tray", true), (6, "internal", false)]), ticket(2, "bob", .resolved)]
        let (notices, seen) = ReplyNotices.changes(in: now, since: first)
        #expect(notices == [
            ReplyNotice(user: "alice", tickets: [1], summary: "Help desk replied on ticket #1",
                        body: "“Try the other tray”\nRun helpline status to read it."),
            ReplyNotice(user: "bob", tickets: [2], summary: "Ticket #2 is now resolved", body: "Printer 2\nRun helpline status to read it."),
        ])
        #expect(ReplyNotices.changes(in: now, since: seen).notices.isEmpty, "the same list again tells nothing")
    }

    @Test func internalNotesAndTicketsWithoutALocalUserTellNothing() {
        let (_, first) = ReplyNotices.changes(in: [ticket(1, "alice"), ticket(2, nil)], since: nil)
        let now = [ticket(1, "alice", replies: [(5, "internal", false)]), ticket(2, nil, .closed, replies: [(6, "hi", true)]), ticket(3, "")]
        #expect(ReplyNotices.changes(in: now, since: first).notices.isEmpty)
    }

    @Test func aTicketSeenForTheFirstTimeIsComparedWithAnOpenTicketWithoutReplies() {
        let (_, first) = ReplyNotices.changes(in: [], since: nil)
        let (notices, _) = ReplyNotices.changes(in: [ticket(7, "alice"), ticket(8, "alice", replies: [(1, "On my way", true)])], since: first)
        #expect(notices.map(\.tickets) == [[8]])
    }

    @Test func manyChangesForOneUserMakeOneNotice() {
        let (_, first) = ReplyNotices.changes(in: [], since: nil)
        let now = (1...5).map { ticket(Int64($0), "alice", .resolved) }
        let (notices, _) = ReplyNotices.changes(in: now, since: first)
        #expect(notices == [ReplyNotice(user: "alice", tickets: [1, 2, 3, 4, 5], summary: "Help desk: 5 tickets have news",
                                        body: "Tickets #1, #2, #3, #4, #5 changed. Run helpline status to read it.")])
    }

    @Test func aNoticeThatFoundNoSessionIsToldAgainLater() {
        let (_, first) = ReplyNotices.changes(in: [ticket(1, "alice")], since: nil)
        let now = [ticket(1, "alice", replies: [(5, "fixed", true)])]
        let (notices, seen) = ReplyNotices.changes(in: now, since: first)
        let kept = ReplyNotices.keepPending(notices, in: seen, before: first)
        #expect(kept.tickets["1"] == TicketsSeen.Ticket(status: .open, lastReply: 0))
        #expect(ReplyNotices.changes(in: now, since: kept).notices.count == 1)
    }

    @Test func theRecordKeepsTheNewestTickets() {
        let many = (1...Int64(TicketsSeen.maxTickets + 10)).map { ticket($0, "alice") }
        let (_, seen) = ReplyNotices.changes(in: many, since: nil)
        #expect(seen.tickets.count == TicketsSeen.maxTickets)
        #expect(seen.tickets["1"] == nil && seen.tickets[String(TicketsSeen.maxTickets + 10)] != nil)
    }

    @Test(arguments: [
        ("plain reply", "plain reply"),
        ("  line one\r\n\tline two  ", "line one line two"),
        ("bell\u{07}escape\u{1B}[2Jnul\u{0}end", "bell escape [2Jnul end"),
        ("abc\u{202E}fed\u{2066}x\u{200B}y", "abcfedxy"),
        ("private\u{E000}use", "privateuse"),
        ("café ✓ 日本", "café ✓ 日本"),
    ])
    func excerptsAreOneSafeLine(_ text: String, _ expected: String) {
        #expect(NoticeText.excerpt(text) == expected)
    }

    @Test func excerptsAreBounded() {
        let long = String(repeating: "word ", count: 10_000)
        let e = NoticeText.excerpt(long)
        #expect(e.count == NoticeText.maxExcerpt && e.hasSuffix("…"))
        #expect(NoticeText.excerpt(String(repeating: "é", count: 500), limit: 10) == String(repeating: "é", count: 9) + "…")
    }

    @Test func markupIsEscaped() {
        #expect(NoticeText.markupEscaped("<a href='x'>R&D</a> \"q\"") == "&lt;a href=&apos;x&apos;&gt;R&amp;D&lt;/a&gt; &quot;q&quot;")
    }

    @Test func busAddressesAreEscaped() {
        #expect(SessionBus.address(socketPath: "/run/user/1000/bus") == "unix:path=/run/user/1000/bus")
        #expect(SessionBus.address(socketPath: "/tmp/a b,c=d;é") == "unix:path=/tmp/a%20b%2cc%3dd%3b%c3%a9")
    }

    @Test func theLedgerRoundTripsOwnerOnly() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let state = AgentState(directory: dir.path)
        let ledger = NoticeLedger(state: state)
        #expect(ledger.load() == nil)
        let (_, seen) = ReplyNotices.changes(in: [ticket(3, "alice", .waitingOnUser, replies: [(9, "x", true)])], since: nil)
        try ledger.save(seen)
        #expect(ledger.load() == seen)
        var st = stat()
        #expect(stat(ledger.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        try "not json".write(toFile: ledger.path, atomically: true, encoding: .utf8)
        #expect(ledger.load() == nil, "a damaged record starts over instead of replaying old replies")
    }

    @Test(arguments: [("true", true), ("false", false), ("no", false), ("ON", true)])
    func notifyRepliesIsASwitch(_ value: String, _ expected: Bool) throws {
        var c = AgentConfig()
        try c.apply(text: "notify_replies = \(value)\n", source: "agent.conf")
        #expect(c.notifyReplies == expected)
    }

    @Test func notifyRepliesRefusesOtherWords() {
        var c = AgentConfig()
        #expect(c.notifyReplies, "on by default")
        #expect(throws: AgentConfigError.self) { try c.apply(text: "notify_replies = maybe\n", source: "agent.conf") }
    }
}
