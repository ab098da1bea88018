import Foundation
import Logging
import Shared

/// Builds a bundle's journal index the first time someone looks at its journal, in the
/// background, one bundle at a time.
///
/// Not at ingest: measured on a 200,000-entry bundle, the index costs about 14 s of CPU and
/// 30× the blob's size on disk, which at ingest would delay the user's answer and cut the
/// collector's bundles/s by an order of magnitude for bundles nobody may ever open. Until a
/// bundle's index is complete its pages are read from the blob (bounded by the read pool).
public actor JournalIndexer {
    let store: any CollectorStore
    let limits: CollectorLimits
    let logger: Logger
    private var running: String?
    private var waiting: [(bundleID: String, path: String)] = []
    /// Bundles that could not be indexed (too many entries, unreadable): not tried again in
    /// this process.
    private var skipped: Set<String> = []

    /// Creates the indexer.
    public init(store: any CollectorStore, limits: CollectorLimits, logger: Logger) {
        self.store = store
        self.limits = limits
        self.logger = logger
    }

    /// Asks for the bundle's index; returns at once. Duplicate asks are ignored.
    public func request(bundleID: String, path: String) {
        guard limits.journalIndexMaxEntries > 0, !skipped.contains(bundleID), running != bundleID,
              !waiting.contains(where: { $0.bundleID == bundleID }), waiting.count < 100 else { return }
        waiting.append((bundleID, path))
        if running == nil { startNext() }
    }

    /// Waits until nothing is being indexed (tests and benchmarks).
    public func idle() async {
        while running != nil || !waiting.isEmpty { try? await Task.sleep(for: .milliseconds(20)) }
    }

    private func startNext() {
        guard !waiting.isEmpty else { running = nil; return }
        let (bundleID, path) = waiting.removeFirst()
        running = bundleID
        let bundleLimits = limits.bundleLimits
        let maxEntries = limits.journalIndexMaxEntries
        Task.detached { [store, logger] in
            // Reading and parsing is blocking work: on a thread of its own, not the pool's.
            let entries: [JournalEntry]? = await withCheckedContinuation { done in
                let thread = Thread {
                    let page = try? BundleArchive(path: path, limits: bundleLimits).journal(.init(), offset: 0, limit: maxEntries + 1)
                    done.resume(returning: page.flatMap { $0.entries.count > maxEntries ? nil : $0.entries })
                }
                thread.name = "helpline-journal-index"
                thread.start()
            }
            var ok = false
            if let entries {
                do { ok = try await store.storeJournalIndex(bundleID: bundleID, entries: entries, now: Date()) } catch {
                    logger.error("could not index a bundle's journal; its pages stay read from the blob",
                                 metadata: ["bundle.id": "\(bundleID)", "error": "\(error)"])
                }
            } else {
                logger.info("journal not indexed: unreadable, or more entries than journal_index_max_entries",
                            metadata: ["bundle.id": "\(bundleID)", "limit": "\(maxEntries)"])
            }
            await self.finished(bundleID, ok: ok)
        }
    }

    private func finished(_ bundleID: String, ok: Bool) {
        if !ok { skipped.insert(bundleID) }
        running = nil
        startNext()
    }
}
