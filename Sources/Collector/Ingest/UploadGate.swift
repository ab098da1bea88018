import Foundation

/// Admission control for uploads: at most `limit` in flight, and at most `perHostLimit` of
/// them from one host, so one host trickling bodies can never hold every slot. One more is
/// refused at once (429 with Retry-After) rather than queued, so an overloaded collector
/// never fails an upload half-way for lack of resources.
public actor UploadGate {
    /// Uploads allowed at once.
    public let limit: Int
    /// Uploads one host may have in flight.
    public let perHostLimit: Int
    /// Uploads in flight now.
    public private(set) var inFlight = 0
    private var perHost: [String: Int] = [:]
    private let metrics: CollectorMetrics?

    /// Why a slot was refused.
    public enum Refusal: Sendable, Equatable {
        /// Every slot is taken.
        case full
        /// This host holds `perHostLimit` slots already.
        case hostFull
    }

    /// Creates a gate.
    public init(limit: Int, perHostLimit: Int = .max, metrics: CollectorMetrics? = nil) {
        self.limit = limit
        self.perHostLimit = perHostLimit
        self.metrics = metrics
    }

    /// Takes a slot for `host`; nil when taken, else why not.
    public func tryAcquire(host: String) -> Refusal? {
        let mine = perHost[host, default: 0]
        guard mine < perHostLimit else { return .hostFull }
        guard inFlight < limit else { return .full }
        inFlight += 1
        perHost[host] = mine + 1
        metrics?.uploadsInFlight.record(inFlight)
        return nil
    }

    /// Gives `host`'s slot back.
    public func release(host: String) {
        inFlight -= 1
        let mine = perHost[host, default: 1] - 1
        perHost[host] = mine > 0 ? mine : nil
        metrics?.uploadsInFlight.record(inFlight)
    }
}

/// Serializes work per key (a bundle id), so two uploads of the same bundle never race
/// between "is it stored?" and "store it" in this process. Across processes sharing a
/// database, the UNIQUE constraint on `bundles.bundle_id` decides.
public actor KeyedSerializer {
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// Creates an empty serializer.
    public init() {}

    /// Runs `body` while holding `key`.
    public func run<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async throws -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: String) async {
        if waiting[key] == nil {
            waiting[key] = []
            return
        }
        await withCheckedContinuation { waiting[key, default: []].append($0) }
    }

    private func release(_ key: String) {
        guard var queue = waiting[key] else { return }
        if queue.isEmpty {
            waiting[key] = nil
        } else {
            let next = queue.removeFirst()
            waiting[key] = queue
            next.resume()
        }
    }
}

/// Free space of the filesystem holding a path.
public protocol FreeSpaceProbe: Sendable {
    /// Bytes available to the collector at `path`, or nil when unknown.
    func availableBytes(at path: String) -> Int64?
}

/// `statvfs(2)`.
public struct StatvfsFreeSpace: FreeSpaceProbe {
    /// Creates the probe.
    public init() {}

    /// `f_bavail × f_frsize`.
    public func availableBytes(at path: String) -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }
}
