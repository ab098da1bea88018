import Foundation
import Shared
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What went wrong with the heartbeat log, and what to do.
public struct HeartbeatLogError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The write-ahead log of heartbeats answered before they are stored
/// (`heartbeat_backlog_max` above 0).
///
/// A heartbeat is appended here, on the request's thread, before the agent is answered; the
/// recorder stores it later in a large batch. The log is what makes that answer true: after
/// a crash of the collector, `replay` stores what the log holds beyond the mark the store
/// kept with its last batch (`HeartbeatLogMark`, same transaction), so each heartbeat is
/// stored exactly once. Like heartbeat commits (`synchronous = NORMAL`), appends are not
/// synced: they survive a crash of the collector, not a power cut; a record cut short by one
/// is detected by its checksum and ends the replay of its segment.
///
/// Layout: `<root>/<slot>/<segment>.log`, directories 0700, files 0600. Each collector
/// process holds one slot (an exclusive `flock` on `<slot>/lock`), so collectors sharing a
/// data directory on PostgreSQL keep separate logs; a slot whose owner is gone is replayed
/// by the next collector that starts. Segments are numbered upwards across runs and
/// deleted once every record in them is stored. A record: payload length (u32 LE), CRC-32
/// of the payload (u32 LE), payload = version 1 (u8), received-at as Float64 bits (u64 LE),
/// host id length (u16 LE), host id, body (the heartbeat's stored JSON).
public final class HeartbeatLog: Sendable {
    /// Where a record ends: its segment and the byte offset after it.
    public struct Position: Comparable, Sendable, CustomStringConvertible {
        public var segment: UInt64
        public var offset: UInt64

        public static func < (a: Position, b: Position) -> Bool { (a.segment, a.offset) < (b.segment, b.offset) }
        /// As kept in the store's mark: `segment:offset`.
        public var description: String { "\(segment):\(offset)" }

        init(segment: UInt64, offset: UInt64) { self.segment = segment; self.offset = offset }

        /// Parses `description`; nil for anything else.
        init?(_ text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let s = UInt64(parts[0]), let o = UInt64(parts[1]) else { return nil }
            segment = s; offset = o
        }
    }

    /// One logged heartbeat.
    public struct Record: Sendable {
        public var hostID: String
        public var receivedAt: Date
        public var body: String
        /// Where the record ends.
        public var end: Position
    }

    private struct Writer {
        var fd: Int32 = -1
        var segment: UInt64
        var offset: UInt64 = 0
        /// Segments on disk not yet deleted, oldest first.
        var segments: [UInt64]
    }

    /// Most slots tried (collectors sharing one data directory).
    static let maxSlots = 64
    /// Latest received-at a record may carry, in seconds since 1970 (9999-12-31T23:59:59Z, as
    /// the store's dates): a later one is damage.
    static let latestTime = 253_402_300_799.0
    /// Most bytes of a record (`max_heartbeat_bytes` is at most 1 GiB; a host id is short).
    static let maxRecordBytes = (1 << 30) + 4096

    /// The slot this process holds.
    public let slot: Int
    /// The slot's directory.
    public let directory: String
    /// The `collector_state` key of this slot's mark: `heartbeat_log.<id>`, the id a random
    /// one kept in `<slot>/id`, so two data directories on one PostgreSQL database (each with
    /// its slot 0) never read each other's marks.
    public let markKey: String
    private let segmentBytes: UInt64
    private let lockFD: Int32
    private let writer: Mutex<Writer>

    /// The mark key of the slot in `directory`, its id created when missing.
    static func markKey(directory: String) throws -> String {
        let path = "\(directory)/id"
        if let text = try? String(contentsOfFile: path, encoding: .utf8),
           let id = UUID(uuidString: text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            return "heartbeat_log.\(id.uuidString.lowercased())"
        }
        let id = UUID().uuidString.lowercased()
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw HeartbeatLogError("could not create \(path): \(String(cString: strerror(errno))); check the data directory's permissions")
        }
        defer { close(fd) }
        let bytes = Array((id + "\n").utf8)
        guard bytes.withUnsafeBytes({ writeAll(fd, $0) }) == bytes.count else {
            throw HeartbeatLogError("could not write \(path): \(String(cString: strerror(errno))); free space in the data directory")
        }
        return "heartbeat_log.\(id)"
    }

    /// Opens the log under `root`, holding the first free slot. Call `replay` before the first
    /// `append`: appends go to a segment numbered after everything the slot held.
    /// - Parameter segmentBytes: a segment is closed and the next one started once it holds
    ///   at least this many bytes (`heartbeat_log_segment_mib`).
    /// - Throws: `HeartbeatLogError` when no slot can be created or locked.
    public init(root: String, segmentBytes: Int) throws {
        try Self.makeDirectory(root)
        var claimed: (Int, Int32)?
        for n in 0..<Self.maxSlots {
            let dir = "\(root)/\(n)"
            try Self.makeDirectory(dir)
            if let fd = try Self.lock(dir) { claimed = (n, fd); break }
        }
        guard let (n, fd) = claimed else {
            throw HeartbeatLogError("all \(Self.maxSlots) heartbeat log slots under \(root) are held by running collectors; stop one, or give this one another data directory")
        }
        slot = n
        directory = "\(root)/\(n)"
        lockFD = fd
        do { markKey = try Self.markKey(directory: "\(root)/\(n)") } catch { close(fd); throw error }
        self.segmentBytes = UInt64(max(1, segmentBytes))
        let existing = Self.segments(in: "\(root)/\(n)")
        writer = Mutex(Writer(segment: (existing.last ?? 0) + 1, segments: existing))
    }

    deinit {
        writer.withLock { w in if w.fd >= 0 { close(w.fd) } }
        close(lockFD)
    }

    /// Appends one heartbeat; returns where its record ends. Thread-safe; records are in the
    /// order of the calls. On failure nothing of the record stays in the log.
    /// - Throws: `HeartbeatLogError` when the write fails (a full disk).
    public func append(hostID: String, receivedAt: Date, body: String) throws -> Position {
        let record = Self.encode(hostID: hostID, receivedAt: receivedAt, body: body)
        return try writer.withLock { w in
            if w.fd < 0 || w.offset >= segmentBytes {
                if w.fd >= 0 { close(w.fd); w.fd = -1; w.segment += 1; w.offset = 0 }
                var path = Self.segmentPath(directory, w.segment)
                var fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
                // A file already there (put there by hand, or left by another writer): the
                // next number, never its records.
                for _ in 0..<16 where fd < 0 && errno == EEXIST {
                    w.segment += 1
                    path = Self.segmentPath(directory, w.segment)
                    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
                }
                guard fd >= 0 else {
                    throw HeartbeatLogError("could not create the heartbeat log segment \(path): \(String(cString: strerror(errno))); check the data directory's free space and permissions")
                }
                w.fd = fd
                w.segments.append(w.segment)
            }
            let written = record.withUnsafeBytes { Self.writeAll(w.fd, $0) }
            guard written == record.count else {
                let reason = String(cString: strerror(errno))
                // A partial record would end the segment's replay early: cut it off.
                if written > 0, ftruncate(w.fd, off_t(w.offset)) != 0 { close(w.fd); w.fd = -1; w.segment += 1; w.offset = 0 }
                throw HeartbeatLogError("could not write to the heartbeat log in \(directory): \(reason); free space in the data directory")
            }
            w.offset += UInt64(record.count)
            return Position(segment: w.segment, offset: w.offset)
        }
    }

    /// Every record up to and including `position` is stored: deletes the segments before
    /// `position`'s (the one still being written stays until a later mark passes it).
    public func stored(through position: Position) {
        let gone: [UInt64] = writer.withLock { w in
            let old = w.segments.prefix { $0 < position.segment }
            w.segments.removeFirst(old.count)
            return Array(old)
        }
        for segment in gone { unlink(Self.segmentPath(directory, segment)) }
    }

    /// What a replay did.
    public struct ReplayOutcome: Sendable {
        /// Heartbeats handed to the store (those of hosts deleted meanwhile are left out there).
        public var stored = 0
        /// Records that could not be read or decoded.
        public var unreadable = 0
        /// Segments with damage after their last whole record, kept as `<name>.damaged`.
        public var setAside: [String] = []
        /// Heartbeats the store refused on their own while it stored the others around them
        /// (`HeartbeatIsolation`): host id, received-at and the store's error. Not stored.
        public var refused: [(hostID: String, receivedAt: Date, error: String)] = []
    }

    /// Stores what this slot's log, and any other slot no running collector holds, kept beyond
    /// their marks, oldest first, in batches of `batch` put in host order (the mark moves with
    /// each), then deletes their segments. Run it before the first `append`, before the
    /// collector takes heartbeats, so nothing newer is stored first.
    public func replay(into store: any CollectorStore, batch: Int) async throws -> ReplayOutcome {
        var total = ReplayOutcome()
        let root = (directory as NSString).deletingLastPathComponent
        for n in 0..<Self.maxSlots where n != slot {
            let dir = "\(root)/\(n)"
            guard FileManager.default.fileExists(atPath: dir), !Self.segments(in: dir).isEmpty, let fd = try Self.lock(dir) else { continue }
            defer { close(fd) }
            try await Self.replay(directory: dir, key: try Self.markKey(directory: dir), into: store, batch: batch, &total)
        }
        try await Self.replay(directory: directory, key: markKey, into: store, batch: batch, &total)
        // New segments are numbered after the mark too, so a mark left by segments already
        // deleted never covers records written from now on.
        let mark = try await store.heartbeatLogMark(key: markKey).flatMap(Position.init)
        writer.withLock { w in
            w.segments = Self.segments(in: directory)
            w.segment = max(w.segment, (w.segments.last ?? 0) + 1, (mark?.segment ?? 0) + 1)
        }
        return total
    }

    private static func replay(directory: String, key: String, into store: any CollectorStore, batch: Int,
                               _ outcome: inout ReplayOutcome) async throws {
        let segments = segments(in: directory)
        guard !segments.isEmpty else { return }
        let mark = try await store.heartbeatLogMark(key: key).flatMap(Position.init)
        var rows: [HeartbeatRow] = []
        var last: Position?
        func flush(_ outcome: inout ReplayOutcome) async throws {
            guard let end = last else { return }
            // Host order, as the recorder writes (stable: a host's records stay in log order).
            let sorted = rows.enumerated().sorted { ($0.element.hostID, $0.offset) < ($1.element.hostID, $1.offset) }.map(\.element)
            let mark = HeartbeatLogMark(key: key, value: end.description, replay: true)
            do {
                try await store.recordHeartbeats(sorted, logMark: mark)
                outcome.stored += rows.count
            } catch {
                // One heartbeat the store cannot take must not keep the collector from starting:
                // each is written on its own, and what the store refuses alone is set aside.
                let plan = await HeartbeatIsolation.run(sorted, mark: mark, store: store)
                if let failure = plan.storeFailure { throw failure }
                outcome.stored += plan.stored.count
                outcome.refused += plan.setAside.map { (sorted[$0.index].hostID, sorted[$0.index].receivedAt, "\($0.error)") }
            }
            rows.removeAll(keepingCapacity: true)
            last = nil
        }
        for segment in segments {
            let path = segmentPath(directory, segment)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw HeartbeatLogError("could not read the heartbeat log segment \(path); check its permissions")
            }
            let (records, rest) = read(data, segment: segment)
            for record in records {
                if let mark, record.end <= mark { continue }
                guard let row = row(record) else { outcome.unreadable += 1; continue }
                rows.append(row)
                last = record.end
                if rows.count >= max(1, batch) { try await flush(&outcome) }
            }
            if rest > 0 {
                outcome.unreadable += 1
                outcome.setAside.append(path + ".damaged")
            }
        }
        try await flush(&outcome)
        for segment in segments {
            let path = segmentPath(directory, segment)
            // A damaged segment is kept for a look (its name no longer ends in .log).
            if outcome.setAside.contains(path + ".damaged") { rename(path, path + ".damaged") } else { unlink(path) }
        }
    }

    /// Heartbeats the log under `root` holds beyond their slot's mark: answered, not stored yet
    /// (what a start would replay). Reads every segment; for `export`, not the request path.
    /// - Throws: the store's error reading a mark.
    public static func unstored(root: String, store: any CollectorStore) async throws -> Int {
        var count = 0
        for slot in ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted() where Int(slot) != nil {
            let dir = "\(root)/\(slot)"
            let segments = segments(in: dir)
            guard !segments.isEmpty else { continue }
            let mark = try await store.heartbeatLogMark(key: try markKey(directory: dir)).flatMap(Position.init)
            for segment in segments {
                guard let data = FileManager.default.contents(atPath: segmentPath(dir, segment)) else { continue }
                count += read(data, segment: segment).records.count { record in mark.map { record.end > $0 } ?? true }
            }
        }
        return count
    }

    /// The heartbeat a record holds, decoded as the request was; nil when it does not decode.
    static func row(_ record: Record) -> HeartbeatRow? {
        let bytes = Array(record.body.utf8)
        if let fast = bytes.withUnsafeBytes({ HeartbeatJSON.decodeLocatingProcesses($0) }) {
            return bytes.withUnsafeBytes {
                HeartbeatRow(hostID: record.hostID, receivedAt: record.receivedAt, heartbeat: fast.heartbeat, sent: $0, processes: fast.processes)
            }
        }
        guard let beat = try? BundleJSON.decoder().decode(Heartbeat.self, from: Data(bytes)) else { return nil }
        return HeartbeatRow(hostID: record.hostID, receivedAt: record.receivedAt, heartbeat: beat)
    }

    // MARK: Format

    static func encode(hostID: String, receivedAt: Date, body: String) -> [UInt8] {
        let host = Array(hostID.utf8.prefix(Int(UInt16.max)))
        var payload: [UInt8] = []
        payload.reserveCapacity(11 + host.count + body.utf8.count)
        payload.append(1)
        appendLE(&payload, receivedAt.timeIntervalSince1970.bitPattern)
        appendLE(&payload, UInt16(host.count))
        payload += host
        payload += body.utf8
        var record: [UInt8] = []
        record.reserveCapacity(8 + payload.count)
        appendLE(&record, UInt32(payload.count))
        appendLE(&record, payload.withUnsafeBytes { CRC32.checksum($0) })
        return record + payload
    }

    /// The whole records of a segment, in order, and how many bytes after them were not a
    /// whole, intact record (a write cut short, or damage: everything after it is ignored).
    static func read(_ data: Data, segment: UInt64) -> (records: [Record], rest: Int) {
        data.withUnsafeBytes { bytes in
            func le<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T { T(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self)) }
            var records: [Record] = []
            var at = 0
            while bytes.count - at >= 8 {
                let length = Int(le(at, UInt32.self))
                guard length >= 11, length <= maxRecordBytes, bytes.count - at - 8 >= length else { break }
                let p = at + 8
                let payload = UnsafeRawBufferPointer(rebasing: bytes[p..<(p + length)])
                guard CRC32.checksum(payload) == le(at + 4, UInt32.self), payload[0] == 1 else { break }
                let time = Double(bitPattern: le(p + 1, UInt64.self))
                let hostLength = Int(le(p + 9, UInt16.self))
                guard time.isFinite, (0...Self.latestTime).contains(time), 11 + hostLength <= length else { break }
                let host = String(decoding: bytes[(p + 11)..<(p + 11 + hostLength)], as: UTF8.self)
                let body = String(decoding: bytes[(p + 11 + hostLength)..<(p + length)], as: UTF8.self)
                at = p + length
                records.append(Record(hostID: host, receivedAt: Date(timeIntervalSince1970: time), body: body,
                                      end: Position(segment: segment, offset: UInt64(at))))
            }
            return (records, bytes.count - at)
        }
    }

    private static func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }


    // MARK: Files

    static func segmentPath(_ directory: String, _ segment: UInt64) -> String {
        let hex = String(segment, radix: 16)
        return "\(directory)/\(String(repeating: "0", count: max(0, 16 - hex.count)))\(hex).log"
    }

    /// The segment numbers in `directory`, ascending.
    static func segments(in directory: String) -> [UInt64] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> UInt64? in
            let digits = name.utf8.dropLast(4)
            guard name.hasSuffix(".log"), name.utf8.count == 20,
                  digits.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
            return UInt64(String(decoding: digits, as: UTF8.self), radix: 16)
        }.sorted()
    }

    private static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0, errno != EEXIST {
            throw HeartbeatLogError("could not create the heartbeat log directory \(path): \(String(cString: strerror(errno))); check the data directory's permissions")
        }
    }

    /// An exclusive lock on `directory/lock`, or nil when another process holds it.
    /// - Throws: `HeartbeatLogError` when the lock file cannot be opened or locked at all.
    private static func lock(_ directory: String) throws -> Int32? {
        let fd = open("\(directory)/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw HeartbeatLogError("could not open \(directory)/lock: \(String(cString: strerror(errno))); the data directory must belong to the collector's user")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw HeartbeatLogError("could not lock \(directory)/lock: \(String(cString: strerror(code))); the data directory's filesystem must support flock")
        }
        return fd
    }

    /// Writes all of `bytes`, retrying short writes and interruptions; the bytes written.
    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 { if errno == EINTR { continue }; return done }
            if n == 0 { return done }
            done += n
        }
        return done
    }
}
