import Foundation
import Shared

/// Keeps an upload's journal entries, as `BundleReader` validates them, for the journal index
/// written after the bundle commits: the same pass that feeds the diagnosis, so the bundle
/// is inflated once.
///
/// Bounded by `journal_index_max_entries`: past it the entries kept so far are dropped and
/// the bundle gets no index (its journal pages are then answered by scanning the blob).
public final class JournalIndexBuilder: @unchecked Sendable {
    // @unchecked Sendable: `entries` and `overflowed` are only touched under `lock`.
    /// Most entries indexed per bundle.
    public let maxEntries: Int
    private let lock = NSLock()
    private var entries: [JournalEntry] = []
    private var overflowed: Bool

    /// Creates a builder for one upload.
    public init(maxEntries: Int) {
        self.maxEntries = maxEntries
        overflowed = maxEntries == 0
    }

    /// One entry, in bundle order.
    public func consume(_ entry: JournalEntry) {
        lock.withLock {
            guard !overflowed else { return }
            guard entries.count < maxEntries else {
                overflowed = true
                entries = []
                return
            }
            entries.append(entry)
        }
    }

    /// The entries to index, or nil when the bundle has more than `maxEntries`. Empties the builder.
    public func take() -> [JournalEntry]? {
        lock.withLock {
            if overflowed { return nil }
            defer { entries = [] }
            return entries
        }
    }
}
