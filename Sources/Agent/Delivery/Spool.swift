import Foundation
import Shared

/// One bundle waiting to be sent.
struct SpoolItem: Codable, Sendable, Equatable {
    var bundleID: String
    var reason: BundleReason
    var createdAt: Date
    var bytes: Int
    var attempts: Int = 0
    var lastError: String?
    var nextAttemptAt: Date?
}

/// Bundles that could not be delivered yet, kept durably until they are.
///
/// Each item is `<bundle id>.tar.gz` plus `<bundle id>.json` (its state), written with
/// fsync and rename so a crash leaves either the whole item or nothing. Bounded by count
/// and bytes: when full, the oldest *scheduled* bundles go first; a user's request is never
/// dropped to make room — `add` refuses instead and the caller keeps the file and says so.
/// The bundle id makes delivery idempotent, so a retry after a lost answer is harmless.
struct Spool: Sendable {
    let directory: String
    let maxBundles: Int
    let maxBytes: Int

    func bundlePath(_ id: String) -> String { directory + "/\(id).tar.gz" }
    private func statePath(_ id: String) -> String { directory + "/\(id).json" }

    /// Creates the folder (mode 0700).
    func prepare() throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw SpoolError("cannot create the spool \(directory): \(error.localizedDescription)")
        }
    }

    /// Items waiting, oldest first. Repairs what a crash may have left: a bundle without its
    /// state file gets one again (read from its manifest); a state file without a bundle goes.
    func items() -> [SpoolItem] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var items: [(item: SpoolItem, written: timespec)] = []
        let ids = Set(names.compactMap { n -> String? in
            if n.hasSuffix(".tar.gz") && !n.contains(".tmp") { return String(n.dropLast(7)) }
            if n.hasSuffix(".json") && !n.contains(".tmp") { return String(n.dropLast(5)) }
            return nil
        })
        for id in ids {
            let hasBundle = FileManager.default.fileExists(atPath: bundlePath(id))
            let state = FileManager.default.contents(atPath: statePath(id)).flatMap { try? BundleJSON.decoder().decode(SpoolItem.self, from: $0) }
            var st = stat()
            let written = stat(bundlePath(id), &st) == 0 ? st.st_mtim : timespec()
            switch (hasBundle, state) {
            case (true, let s?):
                items.append((s, written))
            case (true, nil):
                if let contents = try? BundleReader.read(path: bundlePath(id)) {
                    let item = SpoolItem(bundleID: contents.manifest.bundleID, reason: contents.manifest.reason,
                                         createdAt: contents.manifest.createdAt, bytes: contents.compressedBytes)
                    try? save(item)
                    items.append((item, written))
                } else if isStale(bundlePath(id)) {
                    // Unreadable and not being written: set aside once, not read again every tick
                    // (and never listed, counted or evicted).
                    setAside(id)
                }
            case (false, _):
                unlink(statePath(id))
            }
        }
        // Leftover temporary files from an interrupted write; a fresh one may be another
        // process's write in flight (the listing runs without the spool's lock).
        for n in names where n.contains(".tmp-") && isStale(directory + "/" + n) { unlink(directory + "/" + n) }
        // The state file keeps createdAt to the whole second (ISO 8601), so bundles made within
        // one second tie: the bundle file's write time, then the id, keep "oldest first" exact
        // and the same on every call (eviction and flush order depend on it).
        return items.sorted { a, b in
            if a.item.createdAt != b.item.createdAt { return a.item.createdAt < b.item.createdAt }
            if a.written.tv_sec != b.written.tv_sec { return a.written.tv_sec < b.written.tv_sec }
            if a.written.tv_nsec != b.written.tv_nsec { return a.written.tv_nsec < b.written.tv_nsec }
            return a.item.bundleID < b.item.bundleID
        }.map(\.item)
    }

    /// Moves the bundle at `path` into the spool.
    /// - Returns: bundle ids evicted to make room (scheduled ones only).
    /// - Throws: `SpoolError` when it cannot be kept; the file at `path` is then untouched.
    @discardableResult
    func add(bundleAt path: String, manifest: Manifest) throws -> [String] {
        try prepare()
        var size = 0
        var st = stat()
        if stat(path, &st) == 0 { size = Int(st.st_size) }
        guard size <= maxBytes else {
            throw SpoolError("the bundle (\(size) bytes) is larger than the whole spool (\(maxBytes) bytes); raise spool_max_bytes")
        }
        let waiting = items().filter { $0.bundleID != manifest.bundleID }
        // Choose every victim before removing any: when even evicting all the scheduled
        // bundles cannot make room, nothing is lost for a bundle that is refused anyway.
        var kept = waiting
        var victims: [String] = []
        while kept.count + 1 > maxBundles || kept.reduce(0, { $0 + $1.bytes }) + size > maxBytes {
            guard let victim = kept.first(where: { $0.reason == .scheduled }) else {
                if manifest.reason == .scheduled {
                    throw SpoolError("the spool is full of users' requests; this scheduled bundle was not kept")
                }
                throw SpoolError("the spool is full (\(waiting.count) bundles, limits \(maxBundles) bundles / \(maxBytes) bytes) of other requests waiting to be sent")
            }
            victims.append(victim.bundleID)
            kept.removeAll { $0.bundleID == victim.bundleID }
        }
        let item = SpoolItem(bundleID: manifest.bundleID, reason: manifest.reason, createdAt: manifest.createdAt, bytes: size)
        // The state first, then the bundle: a failure at either step leaves the file at `path`
        // as it was (a state file without its bundle is removed here, or by the next listing).
        do {
            try save(item)
        } catch {
            throw SpoolError("could not keep the bundle in \(directory): \(error)")
        }
        do {
            try DurableFile.move(path, to: bundlePath(item.bundleID))
        } catch {
            unlink(statePath(item.bundleID))
            throw SpoolError("could not keep the bundle in \(directory): \(error)")
        }
        // Evicted only once the new bundle is safely in: a failed move above loses nothing.
        for victim in victims { remove(victim) }
        return victims
    }

    /// Records a failed attempt on `item` (as listed by `items()`) and when to try again.
    func recordFailure(_ item: SpoolItem, error: String, retryAt: Date) {
        var item = item
        item.attempts += 1
        item.lastError = error
        item.nextAttemptAt = retryAt
        try? save(item)
    }

    /// Removes a delivered (or evicted) item.
    func remove(_ id: String) {
        unlink(statePath(id))
        unlink(bundlePath(id))
        DurableFile.syncDirectory(of: statePath(id))
    }

    /// How old a temporary or unreadable file must be before a listing touches it: older than
    /// any write in flight (a bundle is written in seconds).
    static let staleAfter: TimeInterval = 600

    /// Whether `path` was last written over `staleAfter` ago.
    private func isStale(_ path: String, now: Date = Date()) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        return now.timeIntervalSince1970 - Double(st.st_mtim.tv_sec) > Self.staleAfter
    }

    /// Where unreadable bundles go: `rejected/` beside the spool, as the collector's refusals do.
    var rejectedDirectory: String { (directory as NSString).deletingLastPathComponent + "/rejected" }

    /// Moves bundle `id` to `rejectedDirectory` (0700): an unreadable one, or one the collector
    /// refused for good. Its state file stays for `remove`. The folder keeps the spool's
    /// limits (`pruneSetAside`).
    func setAside(_ id: String) {
        try? FileManager.default.createDirectory(atPath: rejectedDirectory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        if (try? DurableFile.move(bundlePath(id), to: rejectedDirectory + "/\(id).tar.gz")) == nil { unlink(bundlePath(id)) }
        Self.pruneSetAside(rejectedDirectory, keeping: "\(id).tar.gz", maxBundles: maxBundles, maxBytes: maxBytes)
    }

    /// Keeps a folder of set-aside bundles (`rejected/`, `unsent/`: bundles the user was told
    /// where to find, which nothing sends) within the spool's limits, `spool_max_bundles` and
    /// `spool_max_bytes`, deleting the oldest `*.tar.gz` first (by modification time). `keeping`,
    /// the bundle just set aside, always stays, so it is where the user was told. Without this,
    /// a collector that refused every bundle (or a machine never enrolled) would fill the disk
    /// one request at a time.
    /// - Returns: the names deleted.
    @discardableResult
    static func pruneSetAside(_ folder: String, keeping: String, maxBundles: Int, maxBytes: Int) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var bundles: [(name: String, modified: Int, bytes: Int)] = names.filter { $0.hasSuffix(".tar.gz") }.compactMap { name in
            var st = stat()
            guard lstat(folder + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
            return (name, st.st_mtim.tv_sec * 1_000_000_000 + st.st_mtim.tv_nsec, Int(st.st_size))
        }
        // The one to keep first, then newest first.
        bundles.sort { ($0.name == keeping ? 1 : 0, $0.modified, $0.name) > ($1.name == keeping ? 1 : 0, $1.modified, $1.name) }
        var kept = 0, bytes = 0
        var deleted: [String] = []
        for bundle in bundles {
            if bundle.name == keeping || (kept < maxBundles && bytes + bundle.bytes <= maxBytes) {
                kept += 1
                bytes += bundle.bytes
            } else if unlink(folder + "/" + bundle.name) == 0 {
                deleted.append(bundle.name)
            }
        }
        return deleted
    }

    private func save(_ item: SpoolItem) throws {
        try DurableFile.write(try BundleJSON.encoder().encode(item), to: statePath(item.bundleID), mode: 0o600)
    }

    /// Runs `body` holding the spool's lock, so the daemon and a user's `helpline` never send
    /// the same item at once. Returns nil when another process holds it.
    func withLock<T>(_ body: () async throws -> T) async rethrows -> T? {
        try? prepare()
        let fd = open(directory + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return try await body() }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return nil }
        defer { flock(fd, LOCK_UN) }
        return try await body()
    }
}

/// The spool could not keep a bundle.
struct SpoolError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
