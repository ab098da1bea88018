import Foundation
import Shared

/// Counts requests per host in fixed one-hour windows, in memory (heartbeats are frequent
/// and small: a database round trip per heartbeat to count them would cost more than
/// storing one). Bounded by the number of enrolled hosts, since only authenticated hosts
/// are counted; windows that ended are dropped as the map is touched.
public actor HostRateLimiter {
    /// Requests allowed per host per window.
    public let limit: Int
    private let window: TimeInterval
    private var counts: [String: (start: Date, count: Int)] = [:]
    private var lastSweep = Date.distantPast

    /// Creates a limiter of `limit` requests per `window` seconds per host.
    public init(limit: Int, window: TimeInterval = 3600) {
        self.limit = limit
        self.window = window
    }

    /// Counts a request from `host`; nil when allowed, else the whole seconds to wait.
    public func admit(_ host: String, now: Date = Date()) -> Int? {
        sweep(now)
        var entry = counts[host] ?? (now, 0)
        if now.timeIntervalSince(entry.start) >= window || now < entry.start { entry = (now, 0) }
        guard entry.count < limit else {
            let wait = entry.start.addingTimeInterval(window).timeIntervalSince(now)
            return max(1, Saturating.int(wait.rounded(.up)))
        }
        entry.count += 1
        counts[host] = entry
        return nil
    }

    private func sweep(_ now: Date) {
        guard now.timeIntervalSince(lastSweep) >= window else { return }
        lastSweep = now
        counts = counts.filter { now.timeIntervalSince($0.value.start) < window }
    }
}
