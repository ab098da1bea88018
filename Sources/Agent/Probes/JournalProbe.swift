import Foundation
import Shared

/// Gathers the systemd journal through sd-journal into `journal.jsonl`, streaming.
///
/// The window (see `CollectOptions`): every entry of the last hour, warnings and worse of
/// the last 72 hours, and the kernel's messages of the current boot, oldest first. Caps on
/// entries and bytes keep the newest part of the window: a counting pass walks backwards
/// from the newest entry to find where the cap cuts, then the writing pass goes forwards
/// from there, so a cap never hides what happened just before the user asked for help.
/// Entries are encoded on this thread and deflated on another (`ChunkPipe`); memory stays
/// flat however large the journal is.
struct JournalProbe {
    /// The probe's name in the manifest.
    static let name = "journal"
    /// One-line description for `helpline preview`.
    static let summary = "systemd journal: last hour, warnings of 72 h, kernel messages of this boot"

    /// Largest value of one field (messages longer than this are cut).
    static let fieldLimit = 1 << 20

    /// Most entries of one stream after a BEGIN's redacted as the body of its key, so that a
    /// BEGIN whose END never comes cannot blank the rest of the stream's journal. The largest
    /// keys in use print under 200 body lines (measured): a 16384-bit RSA key, the most
    /// ssh-keygen makes, is 194 lines of 64 in PKCS#8 PEM (9,260 bytes of DER; 8192 bits gave
    /// 98) and about 180 of 70 in OpenSSH's format (8192 bits gave 91); an armoured GnuPG
    /// secret key of RSA 4096 (its default largest) with a 4096 subkey is 103, about twice that
    /// at the 8192 bits `--enable-large-rsa` allows. 256 leaves room above all of them.
    static let privateKeyBodyEntryCap = 256

    /// What a collection found.
    struct Outcome {
        var output: ProbeOutput
        var window: CollectionWindow?
    }

    /// Receives the finished lines; called on the deflate thread.
    typealias Sink = @Sendable ([UInt8]) throws -> Void

    /// Collects into `sink`. Runs on the calling thread, which owns the sd-journal handle.
    static func collect(_ context: ProbeContext, sink: @escaping Sink) throws -> Outcome {
        let options = context.options
        let journal: Journal
        do {
            journal = try Journal(directory: options.journalDirectory, fieldLimit: fieldLimit)
        } catch {
            return Outcome(output: .skipped("no journal found: \(error)"), window: nil)
        }
        try journal.seekTail()
        guard try journal.previous() else {
            return Outcome(output: .skipped("no journal found\(options.journalDirectory.map { " in \($0)" } ?? "")"), window: nil)
        }
        let newestBoot = journal.bootID()

        let nowUS = Self.microseconds(since1970: context.now)
        // Saturating: a window longer than the time since 1970 starts at 1970, never wraps
        // round to the far future (which would select nothing).
        let allSince = Self.start(of: options.allSince, before: nowUS)
        let importantSince = Self.start(of: options.importantSince, before: nowUS)
        // "This boot": the sysroot's, else the newest boot of a journal read from a folder
        // (someone else's journal), else this machine's.
        let bootID = currentBootID(context) ?? (options.journalDirectory != nil ? newestBoot : Journal.currentBootID()) ?? newestBoot
        var window = CollectionWindow(
            allSince: date(allSince), importantSince: date(importantSince), importantPriority: options.importantPriority,
            kernelBootID: bootID, until: context.now, maxEntries: options.maxJournalEntries, maxBytes: options.maxJournalBytes)

        // Where the kernel messages of this boot start.
        var phase1Start = importantSince
        if let bootID {
            try journal.addMatch("_BOOT_ID=\(bootID)")
            try journal.seekHead()
            if try journal.next() { phase1Start = min(phase1Start, try journal.realtime()) }
            journal.flushMatches()
        }
        let selection = Selection(journal: journal, importantPriority: options.importantPriority, bootID: bootID,
                                  allSince: allSince, importantSince: importantSince, phase1Start: phase1Start)

        // Counting pass, newest first: where do the caps cut?
        let cut = try selection.findCut(maxEntries: options.maxJournalEntries, maxBytes: options.maxJournalBytes)

        // Writing pass, oldest first.
        let pipe = ChunkPipe(consume: sink)
        var chunk: [UInt8] = []
        chunk.reserveCapacity(300_000)
        var count = 0
        var bytes = 0
        var firstCursor: String?
        var lastCursor: String?
        var byteCapHit: UInt64?
        var encoder = EntryEncoder(redactor: context.redactor)
        do {
            try selection.forEachSelected(from: cut.fromUS) { journal in
                let before = chunk.count
                try encoder.append(journal, to: &chunk)
                let lineBytes = chunk.count - before
                if bytes + lineBytes > options.maxJournalBytes {
                    chunk.removeLast(lineBytes)
                    byteCapHit = try journal.realtime()
                    return false
                }
                bytes += lineBytes
                count += 1
                if firstCursor == nil { firstCursor = encoder.lastCursor }
                lastCursor = encoder.lastCursor
                if chunk.count >= 256 * 1024 {
                    try pipe.send(chunk)
                    chunk.removeAll(keepingCapacity: true)
                }
                return true
            }
            if !chunk.isEmpty { try pipe.send(chunk) }
            try pipe.finish()
        } catch {
            try? pipe.finish()
            throw error
        }

        window.firstCursor = firstCursor
        window.lastCursor = lastCursor
        var output = ProbeOutput(member: BundleMember.journal, bytes: [], items: count)
        if let cutUS = cut.cutAtUS {
            output.truncated = true
            output.status = .partial
            output.truncation = "entries before \(iso(cutUS)) left out: the window held more than the cap of \(cut.reason)"
        } else if let hit = byteCapHit {
            output.truncated = true
            output.status = .partial
            output.truncation = "entries from \(iso(hit)) on left out: \(options.maxJournalBytes)-byte cap"
        }
        if geteuid() != 0, options.journalDirectory == nil, !FileManager.default.isReadableFile(atPath: "/var/log/journal") {
            output.unreadable.append("system journal (needs root, or membership of the systemd-journal group)")
            if output.status == .ok { output.status = .partial }
        }
        return Outcome(output: output, window: window)
    }

    private static func currentBootID(_ context: ProbeContext) -> String? {
        guard !context.sysroot.isEmpty else { return nil }
        if let text = context.readText("/proc/sys/kernel/random/boot_id") {
            let id = text.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "-", with: "")
            if id.count == 32 { return id.lowercased() }
        }
        return nil
    }

    /// `date` in µs since 1970; 0 before 1970, and `UInt64.max` for dates too far ahead.
    static func microseconds(since1970 date: Date) -> UInt64 {
        let us = date.timeIntervalSince1970 * 1_000_000
        guard us.isFinite, us > 0 else { return 0 }
        return us < 1.8e19 ? UInt64(us) : .max
    }

    /// An entry's `__REALTIME_TIMESTAMP` as the `ts` of its line: clamped into
    /// `JournalEntry.realtimeRange`.
    ///
    /// The clock that stamped an entry may have been anywhere (a dead RTC battery, a bad NTP
    /// answer, a forged export), and sd-journal hands back any UInt64. `Int64(_:)` would trap
    /// above `Int64.max`, and a `ts` outside the range makes the collector refuse the whole
    /// bundle, so the entry keeps its message and gets the nearest time a line may carry.
    static func entryTime(_ realtimeUS: UInt64) -> Int64 {
        let range = JournalEntry.realtimeRange
        return realtimeUS > UInt64(range.upperBound) ? range.upperBound : max(range.lowerBound, Int64(realtimeUS))
    }

    /// µs since 1970 at which a window of `length` ending at `nowUS` starts (0 at the earliest).
    static func start(of length: Duration, before nowUS: UInt64) -> UInt64 {
        let us = UInt64(max(0, length.microseconds))
        return us >= nowUS ? 0 : nowUS - us
    }

    private static func date(_ us: UInt64) -> Date { Date(timeIntervalSince1970: Double(us) / 1_000_000) }
    private static func iso(_ us: UInt64) -> String { date(us).formatted(.iso8601) }
}

/// Which entries the window holds, walked in either direction.
private struct Selection {
    let journal: Journal
    let importantPriority: Int
    let bootID: String?
    let allSince: UInt64
    let importantSince: UInt64
    let phase1Start: UInt64

    /// Phase 1 matches: important priorities OR kernel messages of this boot.
    func matchOlder() throws {
        journal.flushMatches()
        for p in 0...max(0, importantPriority) { try journal.addMatch("PRIORITY=\(p)") }
        if let bootID {
            try journal.addDisjunction()
            try journal.addMatch("_TRANSPORT=kernel")
            try journal.addMatch("_BOOT_ID=\(bootID)")
        }
    }

    /// Whether the current phase-1 entry at `t` belongs to the window (the matches are wider
    /// than the window: old warnings of earlier days match PRIORITY too).
    func olderEntryWanted(_ t: UInt64) -> Bool {
        if t >= importantSince { return true }
        guard let bootID else { return false }
        var isKernel = false
        journal.field("_TRANSPORT") { isKernel = $0.elementsEqual("kernel".utf8) }
        return isKernel && journal.bootID() == bootID
    }

    struct Cut {
        /// Oldest time to write (0 = no cut).
        var fromUS: UInt64 = 0
        /// Time of the oldest kept entry when a cap cut the window.
        var cutAtUS: UInt64?
        var reason = ""
    }

    /// Walks newest → oldest counting entries and (estimated) bytes until a cap is reached.
    func findCut(maxEntries: Int, maxBytes: Int) throws -> Cut {
        var count = 0
        var bytes = 0
        var cut = Cut()
        func account() throws -> Bool {
            var messageBytes = 0
            journal.field("MESSAGE") { messageBytes = $0.count }
            let t = try journal.realtime()
            // Saturating: an entry stamped UInt64.max (a broken clock) must not trap here.
            let after = t < .max ? t + 1 : t
            if count + 1 > maxEntries {
                cut = Cut(fromUS: after, cutAtUS: after, reason: "\(maxEntries) entries")
                return false
            }
            // A line is the message plus about 250 bytes of fields and cursor.
            if bytes + messageBytes + 250 > maxBytes {
                cut = Cut(fromUS: after, cutAtUS: after, reason: "\(maxBytes) bytes")
                return false
            }
            count += 1
            bytes += messageBytes + 250
            return true
        }
        journal.flushMatches()
        try journal.seekTail()
        while try journal.previous() {
            let t = try journal.realtime()
            if t < allSince { break }
            if try !account() { return cut }
        }
        try matchOlder()
        try journal.seek(realtime: allSince)
        while try journal.previous() {
            let t = try journal.realtime()
            if t < phase1Start { break }
            if t >= allSince { continue }
            if !olderEntryWanted(t) { continue }
            if try !account() { return cut }
        }
        return cut
    }

    /// Walks oldest → newest over the window from `fromUS`; `body` returns false to stop.
    func forEachSelected(from fromUS: UInt64, _ body: (Journal) throws -> Bool) throws {
        if fromUS < allSince {
            try matchOlder()
            try journal.seek(realtime: max(phase1Start, fromUS))
            while try journal.next() {
                let t = try journal.realtime()
                if t >= allSince { break }
                if t < fromUS || !olderEntryWanted(t) { continue }
                if try !body(journal) { return }
            }
        }
        journal.flushMatches()
        try journal.seek(realtime: max(allSince, fromUS))
        while try journal.next() {
            if try !body(journal) { return }
        }
    }
}

/// Turns the current journal entry into a `journal.jsonl` line, redacting free text.
///
/// A private key printed one line per entry (a service running `cat id_rsa`, or `set -x`
/// output) reaches journald as one entry for the `-----BEGIN … PRIVATE KEY-----` line, one per
/// base64 line and one for the `-----END` line; redacting each message alone would let every
/// body line through. So the encoder remembers, per stream (`JournalStream`), a BEGIN left
/// without its END, and the stream's next messages are redacted as key body, up to and
/// including the one holding `-----END` (the END line itself stays, as in a single message),
/// for at most `JournalProbe.privateKeyBodyEntryCap` entries. Other streams' entries in
/// between are not touched.
private struct EntryEncoder {
    let redactor: Redactor
    var lastCursor: String?
    /// Streams whose last message left a private key's body open → entries it may still cover.
    private var openKeyBodies: [JournalStream: Int] = [:]

    init(redactor: Redactor) { self.redactor = redactor }

    /// Fields of systemd-coredump entries worth keeping (never the core itself, the
    /// environment or memory maps, which may hold secrets and are large).
    static let coredumpFields: Set<String> = [
        "EXE", "COMM", "PID", "UID", "GID", "SIGNAL", "SIGNAL_NAME", "UNIT", "USER_UNIT", "SLICE", "CMDLINE",
        "TIMESTAMP", "FILENAME", "PACKAGE_NAME", "PACKAGE_VERSION", "HOSTNAME", "BOOT_ID", "CGROUP", "OWNER_UID", "RLIMIT",
    ]

    mutating func append(_ journal: Journal, to out: inout [UInt8]) throws {
        var e = JournalEntry(realtime: JournalProbe.entryTime(try journal.realtime()))
        e.bootID = journal.bootID()
        journal.forEachField { raw in
            guard let eq = raw.firstIndex(of: UInt8(ascii: "=")) else { return }
            let name = UnsafeRawBufferPointer(rebasing: raw[..<eq])
            let value = UnsafeRawBufferPointer(rebasing: raw[(eq + 1)...])
            switch name.count {
            case 4 where name.elementsEqual("_PID".utf8): e.pid = Int(text(value))
            case 5 where name.elementsEqual("_COMM".utf8): e.comm = text(value)
            case 4 where name.elementsEqual("_EXE".utf8): e.exe = text(value)
            case 7 where name.elementsEqual("MESSAGE".utf8): e.setMessage(bytes: value)
            case 8 where name.elementsEqual("PRIORITY".utf8): e.priority = Int(text(value))
            case 10 where name.elementsEqual("_TRANSPORT".utf8): e.transport = text(value)
            case 10 where name.elementsEqual("MESSAGE_ID".utf8): e.messageID = text(value)
            case 13 where name.elementsEqual("_SYSTEMD_UNIT".utf8): e.unit = text(value)
            case 15 where name.elementsEqual("SYSLOG_FACILITY".utf8): e.facility = Int(text(value))
            case 17 where name.elementsEqual("SYSLOG_IDENTIFIER".utf8): e.identifier = text(value)
            case 18 where name.elementsEqual("_SYSTEMD_USER_UNIT".utf8): e.userUnit = text(value)
            default:
                if name.count > 9, name.starts(with: "COREDUMP_".utf8) {
                    let key = String(decoding: name[9...], as: UTF8.self)
                    if Self.coredumpFields.contains(key) {
                        var map = e.coredump ?? [:]
                        map[key] = text(value)
                        e.coredump = map
                    }
                }
            }
        }
        if let m = e.message {
            let stream = JournalStream(e)
            let remaining = openKeyBodies[stream]
            var keyBody: PrivateKeyBody = remaining == nil ? .closed : .continued
            let redacted = redactor.redactInStream(m, privateKey: &keyBody)
            switch keyBody {
            case .closed: openKeyBodies[stream] = nil
            case .opened: openKeyBodies[stream] = JournalProbe.privateKeyBodyEntryCap
            case .continued: openKeyBodies[stream] = remaining.flatMap { $0 > 1 ? $0 - 1 : nil }
            }
            if redacted != m {
                e.message = redacted
                e.messageBase64 = nil  // the exact bytes held the secret; the text copy is what leaves
            }
        }
        if let cmd = e.coredump?["CMDLINE"] { e.coredump?["CMDLINE"] = redactor.redact(cmd) }
        // No per-entry cursor: it would be a third of the line. `JournalEntry.locator`
        // derives one journalctl accepts from the boot id and timestamp.
        lastCursor = e.locator
        JournalLineCodec.append(e, to: &out)
    }

    private func text(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}

/// One writer's stream of entries, as far as an entry tells: the lines of a key printed one per
/// entry come from one stream, and entries of other streams may fall between them.
///
/// A service's stdout stream carries `_SYSTEMD_UNIT` (`_SYSTEMD_USER_UNIT` too for a user's
/// service) and the `_PID` that opened it, whichever child wrote the line; a restart is a new
/// stream. Without a unit (syslog from outside systemd's units, the kernel), the sender is
/// `SYSLOG_IDENTIFIER`, else `_COMM`, with `_PID` when present. The boot is part of it: PIDs
/// start again each boot, and the window spans several.
private struct JournalStream: Hashable {
    var bootID: String?
    var unit: String?
    var userUnit: String?
    /// `SYSLOG_IDENTIFIER` or `_COMM`, only for an entry without a unit.
    var sender: String?
    var pid: Int?

    init(_ e: JournalEntry) {
        bootID = e.bootID
        unit = e.unit
        userUnit = e.userUnit
        sender = e.unit == nil && e.userUnit == nil ? e.identifier ?? e.comm : nil
        pid = e.pid
    }
}

extension Duration {
    /// Whole microseconds, saturating at `Int64.min`/`Int64.max` (about ±292,000 years).
    var microseconds: Int64 {
        let (s, atto) = components
        let (us, overflow) = s.multipliedReportingOverflow(by: 1_000_000)
        if overflow { return s < 0 ? .min : .max }
        let (sum, overflow2) = us.addingReportingOverflow(atto / 1_000_000_000_000)
        return overflow2 ? (s < 0 ? .min : .max) : sum
    }
}
