import Foundation
import Shared

extension BundleArchive {
    /// A filter for journal pages, answered the same by the blob scan and the SQLite index.
    public struct JournalFilter: Sendable, Equatable {
        /// Entries at this syslog priority or more urgent (numerically ≤); no priority counts as 6.
        public var maxPriority: Int?
        /// Entries of this unit, user unit or syslog identifier.
        public var unit: String?
        /// Entries with this syslog identifier.
        public var identifier: String?
        /// Entries of this boot (`_BOOT_ID`).
        public var bootID: String?
        /// Entries whose message contains this text, ignoring case (see `JournalText`).
        public var text: String?
        /// Entries at or after this time.
        public var since: Date?
        /// Entries before this time.
        public var until: Date?

        /// Creates a filter.
        public init(maxPriority: Int? = nil, unit: String? = nil, identifier: String? = nil, bootID: String? = nil,
                    text: String? = nil, since: Date? = nil, until: Date? = nil) {
            self.maxPriority = maxPriority; self.unit = unit; self.identifier = identifier; self.bootID = bootID
            self.text = text; self.since = since; self.until = until
        }

        /// Whether the filter keeps every entry.
        public var isEmpty: Bool { self == JournalFilter() }

        /// Whether `e` passes; `foldedText` is `text` already folded by `JournalText.fold`.
        func matches(_ e: JournalEntry, foldedText: String?) -> Bool {
            if let maxPriority, (e.priority ?? 6) > maxPriority { return false }
            if let unit, e.unit != unit, e.userUnit != unit, e.identifier != unit { return false }
            if let identifier, e.identifier != identifier { return false }
            if let bootID, e.bootID != bootID { return false }
            if let since, e.realtime < Saturating.microseconds(since1970: since) { return false }
            if let until, e.realtime >= Saturating.microseconds(since1970: until) { return false }
            if let foldedText, !JournalText.contains(e.message ?? "", foldedNeedle: foldedText) { return false }
            return true
        }
    }

    /// A page of journal entries.
    public struct JournalPage: Sendable, Codable, Equatable {
        /// Matching entries, oldest first.
        public var entries: [JournalEntry]
        /// Matching entries skipped before this page.
        public var offset: Int
        /// Page size asked for.
        public var limit: Int
        /// Offset of the next page, nil on the last one.
        public var nextOffset: Int?

        /// Creates a page.
        public init(entries: [JournalEntry], offset: Int, limit: Int, nextOffset: Int?) {
            self.entries = entries; self.offset = offset; self.limit = limit; self.nextOffset = nextOffset
        }
    }

    /// The journal entry a finding cites, with entries around it: what a ticket shows in
    /// place of the bare evidence, and where to open the journal view.
    public struct JournalContext: Sendable, Codable, Equatable {
        /// The cited entry's position in the bundle's unfiltered journal (the journal view's
        /// `offset` that shows it first); nil when no entry has that locator.
        public var offset: Int?
        /// Position of `entries[0]` in the unfiltered journal.
        public var firstOffset: Int
        /// Up to `before` entries, the cited one, up to `after` entries, in bundle order.
        public var entries: [JournalEntry]

        /// Creates a context.
        public init(offset: Int?, firstOffset: Int, entries: [JournalEntry]) {
            self.offset = offset; self.firstOffset = firstOffset; self.entries = entries
        }
    }
}
