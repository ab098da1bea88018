import Foundation

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
