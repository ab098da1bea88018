import Foundation
import Synchronization

/// What one local user may ask of the daemon, which collects and writes as root on their behalf:
/// at most `pendingPerUser` connections waiting or served at once (so one account cannot queue
/// thousands, each holding a descriptor and, silent, up to the request deadline of everyone's
/// time), and at most `perHour` requests for help an hour (so no account can fill root's disk
/// with bundles the spool, `unsent/` and `rejected/` keep). Root is not limited.
final class UserRequestLimiter: Sendable {
    /// Most of one user's connections queued or being served.
    let pendingPerUser: Int
    /// Most requests for help from one user in an hour (`user_requests_per_hour`).
    let perHour: Int

    private struct Usage {
        var pending = 0
        var requests: [ContinuousClock.Instant] = []
    }
    private let usage = Mutex<[uid_t: Usage]>([:])

    init(perHour: Int, pendingPerUser: Int = 2) {
        self.perHour = max(1, perHour)
        self.pendingPerUser = max(1, pendingPerUser)
    }

    /// Takes a connection of `uid` in, or refuses it when the user already has
    /// `pendingPerUser`; each `true` is matched by one `leave`.
    func enter(_ uid: uid_t) -> Bool {
        guard uid != 0 else { return true }
        return usage.withLock { u in
            guard u[uid, default: Usage()].pending < pendingPerUser else { return false }
            u[uid, default: Usage()].pending += 1
            return true
        }
    }

    /// A connection taken by `enter` is done.
    func leave(_ uid: uid_t) {
        guard uid != 0 else { return }
        usage.withLock { u in
            u[uid]?.pending -= 1
            if let entry = u[uid], entry.pending <= 0, entry.requests.isEmpty { u[uid] = nil }
        }
    }

    /// Counts a request for help by `uid` at `now`: nil when it may go ahead, else how long
    /// until the oldest of the hour's `perHour` requests leaves the window.
    func request(_ uid: uid_t, now: ContinuousClock.Instant = .now) -> Duration? {
        guard uid != 0 else { return nil }
        return usage.withLock { u in
            var entry = u[uid, default: Usage()]
            entry.requests.removeAll { now - $0 >= .seconds(3600) }
            defer { u[uid] = entry }
            guard entry.requests.count < perHour else {
                return .seconds(3600) - (now - (entry.requests.first ?? now))
            }
            entry.requests.append(now)
            return nil
        }
    }
}
