import Foundation

/// Admission control for uploads: at most `limit` in flight; one more is refused at once
/// (429 with Retry-After) rather than queued, so an overloaded collector never fails an
/// upload half-way for lack of resources.
public actor UploadGate {
    /// Uploads allowed at once.
    public let limit: Int
    /// Uploads in flight now.
    public private(set) var inFlight = 0
    private let metrics: CollectorMetrics?

    /// Creates a gate.
    public init(limit: Int, metrics: CollectorMetrics? = nil) {
        self.limit = limit
        self.metrics = metrics
    }

    /// Takes a slot; false when all `limit` slots are taken.
    public func tryAcquire() -> Bool {
        guard inFlight < limit else { return false }
        inFlight += 1
        metrics?.uploadsInFlight.record(inFlight)
        return true
    }

    /// Gives a slot back.
    public func release() {
        inFlight -= 1
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
