import Foundation

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
