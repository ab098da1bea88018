import Foundation

/// Host-token hash → host, in memory, so most authenticated agent requests skip a database
/// read (a read is a hop to a GRDB reader thread and back, which cost more than the query).
///
/// Correctness comes first:
/// - Only hosts found in the database are cached; an unknown token always asks the database,
///   so a token issued a moment ago works at once.
/// - `SQLiteStore.enrollHost`, the only code that changes `hosts.token_hash`, calls
///   `invalidate(hostID:)` once its transaction has committed, so a token replaced by a
///   re-enrollment stops working in this process at once.
/// - A lookup that missed takes a `ticket()` before its database read and `insert`s only if
///   no invalidation happened in between, so a read that raced a re-enrollment cannot put
///   the old token back.
/// - Another process sharing the database file is not seen: an entry lives at most `maxAge`,
///   which bounds how long a token that another process replaced keeps working here.
/// - At most `capacity` entries (memory stays flat); past it an arbitrary entry goes.
///
/// The cached `HostRecord.lastSeenAt` is the value when the entry was filled; callers use
/// the host's id, machine id and hostname, which only a re-enrollment changes.
final class HostTokenCache: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is read and written only under `lock`.
    private struct Entry {
        var host: HostRecord
        var expiresAt: UInt64
    }

    /// Proof that no invalidation happened between a miss and the matching `insert`.
    struct Ticket: Sendable {
        fileprivate let generation: UInt64
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var hashByHost: [String: String] = [:]
    private var generation: UInt64 = 0
    private var suspended = false
    /// Most entries kept.
    let capacity: Int
    /// Longest life of an entry, in nanoseconds.
    private let maxAgeNanoseconds: UInt64

    /// Creates an empty cache.
    /// - Parameters:
    ///   - capacity: most entries kept (0 turns the cache off).
    ///   - maxAge: longest life of an entry; bounds what another process's re-enrollment can miss.
    init(capacity: Int, maxAge: Duration) {
        self.capacity = max(0, capacity)
        let (seconds, attoseconds) = maxAge.components
        maxAgeNanoseconds = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    /// Monotonic nanoseconds (not wall-clock, so a clock step cannot stretch an entry's life).
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The cached host for a token hash, if present and not expired.
    func host(tokenHash: String, now: UInt64 = HostTokenCache.now()) -> HostRecord? {
        lock.withLock {
            guard let entry = entries[tokenHash] else { return nil }
            guard entry.expiresAt > now else {
                remove(tokenHash: tokenHash, hostID: entry.host.id)
                return nil
            }
            return entry.host
        }
    }

    /// Taken before a database read whose answer may be `insert`ed.
    func ticket() -> Ticket {
        lock.withLock { Ticket(generation: generation) }
    }

    /// Caches a host read from the database, unless an invalidation happened since `ticket`.
    func insert(tokenHash: String, host: HostRecord, ticket: Ticket, now: UInt64 = HostTokenCache.now()) {
        guard capacity > 0 else { return }
        lock.withLock {
            guard ticket.generation == generation, !suspended else { return }
            if let old = hashByHost[host.id], old != tokenHash {
                // The database says this host now holds `tokenHash`: its old token is gone.
                entries[old] = nil
            }
            if entries[tokenHash] == nil, entries.count >= capacity, let victim = entries.first {
                remove(tokenHash: victim.key, hostID: victim.value.host.id)
            }
            entries[tokenHash] = Entry(host: host, expiresAt: now &+ maxAgeNanoseconds)
            hashByHost[host.id] = tokenHash
        }
    }

    /// Forgets a host's token (call after committing a change to it), and voids every
    /// `ticket()` taken before.
    func invalidate(hostID: String) {
        lock.withLock {
            generation &+= 1
            if let hash = hashByHost[hostID] {
                remove(tokenHash: hash, hostID: hostID)
            }
        }
    }

    /// Forgets every entry and answers nothing until `resume()`: for a store whose change
    /// notifications stopped (PostgreSQL's listener lost its connection), so that no entry
    /// outlives a change it could not hear about.
    func suspend() {
        lock.withLock {
            suspended = true
            generation &+= 1
            entries.removeAll()
            hashByHost.removeAll()
        }
    }

    /// Starts caching again, from empty (call once notifications flow again).
    func resume() {
        lock.withLock {
            suspended = false
            generation &+= 1
            entries.removeAll()
            hashByHost.removeAll()
        }
    }

    /// Whether `suspend()` is in force.
    var isSuspended: Bool { lock.withLock { suspended } }

    /// Entries now (for tests).
    var count: Int { lock.withLock { entries.count } }

    /// Call with `lock` held.
    private func remove(tokenHash: String, hostID: String) {
        entries[tokenHash] = nil
        if hashByHost[hostID] == tokenHash { hashByHost[hostID] = nil }
    }
}
