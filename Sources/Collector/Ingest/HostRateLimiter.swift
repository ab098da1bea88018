import Foundation
import Shared
import Synchronization

/// Counts requests per host in fixed one-hour windows, in memory (heartbeats are frequent
/// and small: a database round trip per heartbeat to count them would cost more than
/// storing one). Bounded by the number of enrolled hosts, since only authenticated hosts
/// are counted; windows that ended are dropped as the map is touched.
///
/// Behind a lock rather than an actor: a count is a dictionary update, far cheaper than
/// the suspension an actor hop per heartbeat cost when requests ran side by side.
public final class HostRateLimiter: Sendable {
    private struct Counts {
        var perHost: [String: (start: Date, count: Int)] = [:]
        var lastSweep = Date.distantPast
    }

    /// Requests allowed per host per window.
    public let limit: Int
    private let window: TimeInterval
    private let counts = Mutex(Counts())

    /// Creates a limiter of `limit` requests per `window` seconds per host.
    public init(limit: Int, window: TimeInterval = 3600) {
        self.limit = limit
        self.window = window
    }

    /// Counts a request from `host`; nil when allowed, else the whole seconds to wait.
    public func admit(_ host: String, now: Date = Date()) -> Int? {
        counts.withLock { c in
            if now.timeIntervalSince(c.lastSweep) >= window {
                c.lastSweep = now
                c.perHost = c.perHost.filter { now.timeIntervalSince($0.value.start) < window }
            }
            var entry = c.perHost[host] ?? (now, 0)
            if now.timeIntervalSince(entry.start) >= window || now < entry.start { entry = (now, 0) }
            guard entry.count < limit else {
                let wait = entry.start.addingTimeInterval(window).timeIntervalSince(now)
                return max(1, Saturating.int(wait.rounded(.up)))
            }
            entry.count += 1
            c.perHost[host] = entry
            return nil
        }
    }
}
