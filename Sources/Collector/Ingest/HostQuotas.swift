import Foundation
import Hummingbird
import Shared

/// Per-host limits checked when an upload is admitted, so one host (a broken agent, or a
/// stolen token) cannot fill the disk or the queue for the whole fleet.
///
/// Both figures come from the database, not from this process's memory, so they hold across
/// restarts and across collectors sharing one database.
/// - `host_bundles_per_hour`: bundles stored from the host in the last hour; one more
///   answers 429 `host_rate_limited`, Retry-After until the oldest leaves the hour.
/// - `host_max_stored_mb`: compressed bytes of the host's live bundles plus the declared size
///   of this one; past it answers 507 `host_quota_exceeded` until retention frees room (the
///   agent keeps the bundle in its spool and retries).
public struct HostQuotas: Sendable {
    let store: any CollectorStore
    let limits: CollectorLimits
    let metrics: CollectorMetrics

    /// Creates the checker.
    public init(store: any CollectorStore, limits: CollectorLimits, metrics: CollectorMetrics) {
        self.store = store
        self.limits = limits
        self.metrics = metrics
    }

    /// Throws the documented refusal when `host` is over a quota.
    /// - Returns: how many compressed bytes this upload may still take (a chunked upload,
    ///   which declares no length, is checked against it while it streams).
    /// - Throws: `APIError` 429 or 507.
    @discardableResult
    public func admit(host: HostRecord, declaredBytes: Int?, now: Date) async throws -> Int64 {
        let usage = try await store.hostUsage(hostID: host.id, since: now.addingTimeInterval(-3600))
        if usage.bundlesInWindow >= limits.hostBundlesPerHour {
            let freeAt = (usage.oldestInWindow ?? now).addingTimeInterval(3600)
            let wait = max(1, min(3600, Saturating.int(freeAt.timeIntervalSince(now).rounded(.up))))
            metrics.hostLimited(reason: "host_rate_limited")
            throw APIError.overloaded(.tooManyRequests, code: "host_rate_limited",
                                      "this host sent \(usage.bundlesInWindow) bundles in the last hour, the most allowed (host_bundles_per_hour); retry after \(wait) s",
                                      retryAfter: wait)
        }
        let quota = Int64(limits.hostMaxStoredMB) << 20
        if usage.liveBytes + Int64(declaredBytes ?? 0) > quota {
            throw exceeded(host: host, storedBytes: usage.liveBytes)
        }
        return quota - usage.liveBytes
    }

    /// The 507 answer for a host over its storage quota (counted in metrics).
    public func exceeded(host: HostRecord, storedBytes: Int64? = nil) -> APIError {
        metrics.hostLimited(reason: "host_quota_exceeded")
        let held = storedBytes.map { "take \($0 >> 20) MiB" } ?? "and this upload would pass"
        return APIError.overloaded(.init(code: 507, reasonPhrase: "Insufficient Storage"), code: "host_quota_exceeded",
                                   "this host's stored bundles \(held) of its \(limits.hostMaxStoredMB) MiB (host_max_stored_mb); "
                                   + "older bundles expire under the retention policy; retry later",
                                   retryAfter: limits.retentionIntervalSeconds)
    }
}
