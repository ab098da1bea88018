import CSystemd
import Foundation

/// Why the journal could not be read.
struct JournalError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
    init(_ what: String, _ rc: Int32) {
        message = "\(what): \(String(cString: strerror(-rc)))"
    }
}

/// An open systemd journal (libsystemd's sd-journal), read entry by entry.
///
/// The only Swift file that calls sd-journal. The `sd_journal*` handle belongs to one thread
/// for its whole life (sd-journal's rule), so a `Journal` is created, used and released on
/// the same thread and is deliberately not `Sendable`.
final class Journal {
    private let handle: OpaquePointer

    /// Opens the journal files in `directory`, or this machine's journals when nil.
    /// - Parameter fieldLimit: largest field value wanted; larger compressed fields are cut
    ///   (sd-journal's data threshold; its own default of 64 KiB would cut long messages).
    /// - Throws: `JournalError` when sd-journal cannot open it.
    init(directory: String?, fieldLimit: Int) throws {
        var j: OpaquePointer?
        let rc: Int32
        if let directory {
            rc = sd_journal_open_directory(&j, directory, 0)
        } else {
            rc = sd_journal_open(&j, Int32(SD_JOURNAL_LOCAL_ONLY))
        }
        guard rc >= 0, let j else { throw JournalError("cannot open the journal\(directory.map { " in \($0)" } ?? "")", rc) }
        handle = j
        sd_journal_set_data_threshold(handle, fieldLimit)
    }

    deinit { sd_journal_close(handle) }

    /// Restricts iteration to entries with `FIELD=value`. Same field twice = OR, different
    /// fields = AND; see `addDisjunction`.
    func addMatch(_ match: String) throws {
        let rc = match.withCString { sd_journal_add_match(handle, $0, 0) }
        guard rc >= 0 else { throw JournalError("bad journal match \(match)", rc) }
    }

    /// Starts an OR branch between the matches before and after.
    func addDisjunction() throws {
        let rc = sd_journal_add_disjunction(handle)
        guard rc >= 0 else { throw JournalError("journal disjunction", rc) }
    }

    /// Drops every match.
    func flushMatches() { sd_journal_flush_matches(handle) }

    /// Positions before the oldest entry.
    func seekHead() throws {
        let rc = sd_journal_seek_head(handle)
        guard rc >= 0 else { throw JournalError("journal seek to head", rc) }
    }

    /// Positions after the newest entry.
    func seekTail() throws {
        let rc = sd_journal_seek_tail(handle)
        guard rc >= 0 else { throw JournalError("journal seek to tail", rc) }
    }

    /// Positions just before the first entry at or after `usec` (µs since the epoch).
    func seek(realtime usec: UInt64) throws {
        let rc = sd_journal_seek_realtime_usec(handle, usec)
        guard rc >= 0 else { throw JournalError("journal seek to time", rc) }
    }

    /// Moves to the next entry; false at the end.
    func next() throws -> Bool {
        let rc = sd_journal_next(handle)
        guard rc >= 0 else { throw JournalError("reading the next journal entry", rc) }
        return rc > 0
    }

    /// Moves to the previous entry; false at the start.
    func previous() throws -> Bool {
        let rc = sd_journal_previous(handle)
        guard rc >= 0 else { throw JournalError("reading the previous journal entry", rc) }
        return rc > 0
    }

    /// The current entry's wall-clock time, µs since the epoch.
    func realtime() throws -> UInt64 {
        var usec: UInt64 = 0
        let rc = sd_journal_get_realtime_usec(handle, &usec)
        guard rc >= 0 else { throw JournalError("reading an entry's time", rc) }
        return usec
    }

    /// The boot the current entry belongs to, as 32 lower-case hex digits.
    func bootID() -> String? {
        var usec: UInt64 = 0
        var id = sd_id128_t()
        guard sd_journal_get_monotonic_usec(handle, &usec, &id) >= 0 else { return nil }
        return Self.hex(id)
    }

    /// The current entry's cursor.
    func cursor() -> String? {
        var c: UnsafeMutablePointer<CChar>?
        guard sd_journal_get_cursor(handle, &c) >= 0, let c else { return nil }
        defer { free(c) }
        return String(cString: c)
    }

    /// The value of one field of the current entry (without `FIELD=`), valid until the next call.
    func field(_ name: String, _ body: (UnsafeRawBufferPointer) -> Void) {
        var data: UnsafeRawPointer?
        var length = 0
        let rc = name.withCString { sd_journal_get_data(handle, $0, &data, &length) }
        guard rc >= 0, let data else { return }
        let prefix = name.utf8.count + 1
        guard length >= prefix else { return }
        body(UnsafeRawBufferPointer(start: data + prefix, count: length - prefix))
    }

    /// Calls `body` with every `FIELD=value` of the current entry. Fields that cannot be read
    /// (compressed with an algorithm this libsystemd lacks) are skipped.
    func forEachField(_ body: (UnsafeRawBufferPointer) -> Void) {
        sd_journal_restart_data(handle)
        var data: UnsafeRawPointer?
        var length = 0
        while true {
            let rc = sd_journal_enumerate_data(handle, &data, &length)
            if rc == 0 { return }
            if rc < 0 {
                // -EBADMSG / -EPROTONOSUPPORT: skip this field, keep the rest of the entry.
                if rc == -EBADMSG || rc == -EPROTONOSUPPORT { continue }
                return
            }
            if let data { body(UnsafeRawBufferPointer(start: data, count: length)) }
        }
    }

    /// The boot id of this running system, or nil.
    static func currentBootID() -> String? {
        var id = sd_id128_t()
        guard sd_id128_get_boot(&id) >= 0 else { return nil }
        return hex(id)
    }

    private static func hex(_ id: sd_id128_t) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(32)
        withUnsafeBytes(of: id.bytes) { raw in
            for b in raw {
                out.append(digits[Int(b >> 4)])
                out.append(digits[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
