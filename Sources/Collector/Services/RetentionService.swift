import Foundation
import Logging
import ServiceLifecycle

/// Expires bundles periodically: older than `retention_days`, or beyond each host's
/// `retention_bundles_per_host` newest. The row stays (flagged expired) so the ticket keeps
/// its findings and gets an internal note; the blob is deleted once no live row names it, and
/// the bundle's journal index rows right after.
public struct RetentionService: Service {
    let store: any CollectorStore
    let blobs: BlobStore
    let limits: CollectorLimits
    let metrics: CollectorMetrics
    let logger: Logger

    /// Creates the service.
    public init(store: any CollectorStore, blobs: BlobStore, limits: CollectorLimits, metrics: CollectorMetrics, logger: Logger) {
        self.store = store
        self.blobs = blobs
        self.limits = limits
        self.metrics = metrics
        self.logger = logger
    }

    /// Runs a pass now, then every `retention_interval_seconds`, until graceful shutdown.
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    // With several collectors on one database, one of them runs each pass.
                    do { _ = try await store.runExclusively("retention") { _ = try await runOnce(now: Date()) } } catch is CancellationError {
                        return
                    } catch {
                        logger.error("retention pass failed; will retry", metadata: ["error": "\(error)"])
                    }
                    try await Task.sleep(for: .seconds(max(1, limits.retentionIntervalSeconds)))
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: a pass in progress finished its current batch transaction.
        }
    }

    /// One pass.
    /// - Returns: the ids of the bundles expired.
    @discardableResult
    public func runOnce(now: Date) async throws -> [String] {
        let cutoff = now.addingTimeInterval(-Double(limits.retentionDays) * 86_400)
        var expired: [String] = []
        while true {
            let batch = try await store.bundlesToExpire(receivedBefore: cutoff, keepPerHost: limits.retentionBundlesPerHost, limit: 500)
            if batch.isEmpty { break }
            let reason = "retention: \(limits.retentionDays) days, \(limits.retentionBundlesPerHost) per host"
            try await store.markExpired(bundleIDs: batch.map(\.bundleID), reason: reason, now: now)
            let live = try await store.liveBlobDigests()
            for record in batch where !live.contains(record.sha256) {
                blobs.remove(record.sha256)
            }
            metrics.bundlesExpired.increment(by: batch.count)
            expired += batch.map(\.bundleID)
        }
        // Their journal indexes stopped answering when they were marked; the rows go now, a
        // bounded transaction at a time (also those a crash left behind last time).
        let rows = try await store.purgeJournalIndexes()
        if !expired.isEmpty || rows > 0 {
            logger.info("retention expired bundles", metadata: ["count": "\(expired.count)", "journal_index_rows": "\(rows)"])
        }
        // In a folder shared by several collectors a failed ingest leaves its blob to this sweep.
        if blobs.shared {
            let swept = blobs.removeOrphans(liveDigests: try await store.liveBlobDigests(), now: now)
            if swept.temporary + swept.blobs > 0 {
                logger.info("retention removed orphans from the shared data directory",
                            metadata: ["temp_files": "\(swept.temporary)", "blobs": "\(swept.blobs)"])
            }
        }
        // The audit log and ended sessions are bounded in time too.
        let auditCutoff = now.addingTimeInterval(-Double(limits.auditRetentionDays) * 86_400)
        let pruned = try await store.pruneAuditLog(before: auditCutoff)
        let sessions = try await store.deleteExpiredSessions(now: now)
        let history = try await store.pruneHealthHistory(hourlyBefore: now.addingTimeInterval(-86_400),
                                                         deleteBefore: now.addingTimeInterval(-Double(limits.healthHistoryDays) * 86_400))
        if history > 0 { logger.info("retention thinned the health history", metadata: ["rows": "\(history)"]) }
        let deliveries = try await store.pruneIntegrationHistory(before: now.addingTimeInterval(-Double(limits.integrationRetentionDays) * 86_400))
        if deliveries > 0 { logger.info("retention removed finished integration deliveries", metadata: ["rows": "\(deliveries)"]) }
        if pruned + sessions > 0 {
            logger.info("retention pruned the audit log and sessions", metadata: ["audit_rows": "\(pruned)", "sessions": "\(sessions)"])
        }
        return expired
    }
}
