import Foundation

/// One journal entry as a line of `journal.jsonl`.
///
/// The line is a compact JSON object with short keys in a fixed order (`ts`, `boot`, `prio`,
/// `fac`, `ident`, `unit`, `uunit`, `pid`, `comm`, `exe`, `transport`, `msgid`, `msg`,
/// `msg_b64`, `cursor`, `coredump`); absent fields are left out. A message that is not valid
/// UTF-8 keeps its exact bytes in `msg_b64` (base64), and `msg` holds a readable copy with
/// the bad bytes replaced by U+FFFD, so nothing is dropped and rules still match.
public struct JournalEntry: Sendable, Equatable, Codable {
    /// `__REALTIME_TIMESTAMP`: microseconds since the epoch.
    public var realtime: Int64

    /// The times a `journal.jsonl` line may carry (`JournalLineCodec` refuses others): 1970 to
    /// 9999-12-31T23:59:59Z, the range every stored date keeps to. (Not to the last microsecond:
    /// stored with milliseconds, 23:59:59.9995 rounds into year 10000, which SQLite's date
    /// columns cannot give back.)
    public static let realtimeRange: ClosedRange<Int64> = 0...253_402_300_799_000_000
    /// `_BOOT_ID`.
    public var bootID: String?
    /// `PRIORITY` (0 emerg … 7 debug).
    public var priority: Int?
    /// `SYSLOG_FACILITY`.
    public var facility: Int?
    /// `SYSLOG_IDENTIFIER`.
    public var identifier: String?
    /// `_SYSTEMD_UNIT`.
    public var unit: String?
    /// `_SYSTEMD_USER_UNIT`.
    public var userUnit: String?
    /// `_PID`.
    public var pid: Int?
    /// `_COMM`.
    public var comm: String?
    /// `_EXE`.
    public var exe: String?
    /// `_TRANSPORT` (kernel, syslog, journal, stdout, audit, driver).
    public var transport: String?
    /// `MESSAGE_ID`.
    public var messageID: String?
    /// `MESSAGE`, as text.
    public var message: String?
    /// `MESSAGE`'s exact bytes, base64, only when they are not valid UTF-8.
    public var messageBase64: String?
    /// sd-journal's cursor for the entry, when the writer stored one (the agent does not:
    /// see `locator`).
    public var cursor: String?
    /// `COREDUMP_*` fields of systemd-coredump entries, without the prefix (`EXE`, `SIGNAL_NAME`…).
    public var coredump: [String: String]?

    enum CodingKeys: String, CodingKey {
        case realtime = "ts", bootID = "boot", priority = "prio", facility = "fac", identifier = "ident"
        case unit, userUnit = "uunit", pid, comm, exe, transport, messageID = "msgid", message = "msg"
        case messageBase64 = "msg_b64", cursor, coredump
    }

    public init(realtime: Int64, bootID: String? = nil, priority: Int? = nil, facility: Int? = nil, identifier: String? = nil,
                unit: String? = nil, userUnit: String? = nil, pid: Int? = nil, comm: String? = nil, exe: String? = nil,
                transport: String? = nil, messageID: String? = nil, message: String? = nil, messageBase64: String? = nil,
                cursor: String? = nil, coredump: [String: String]? = nil) {
        self.realtime = realtime; self.bootID = bootID; self.priority = priority; self.facility = facility
        self.identifier = identifier; self.unit = unit; self.userUnit = userUnit; self.pid = pid; self.comm = comm
        self.exe = exe; self.transport = transport; self.messageID = messageID; self.message = message
        self.messageBase64 = messageBase64; self.cursor = cursor; self.coredump = coredump
    }

    /// Sets `message` from raw bytes: text when valid UTF-8, otherwise a readable copy plus
    /// the exact bytes in `messageBase64`.
    public mutating func setMessage(bytes: UnsafeRawBufferPointer) {
        if let text = String(validating: bytes, as: UTF8.self) {
            message = text
            messageBase64 = nil
        } else {
            message = String(decoding: bytes, as: UTF8.self)
            messageBase64 = Data(bytes).base64EncodedString()
        }
    }

    /// The message's original bytes (decoding `messageBase64` when present).
    public var messageBytes: [UInt8]? {
        if let b64 = messageBase64, let data = Data(base64Encoded: b64) { return [UInt8](data) }
        return message.map { Array($0.utf8) }
    }

    /// A cursor `journalctl --cursor` accepts (`b=<boot>;t=<realtime hex>`), derived from the
    /// boot id and timestamp so lines need not carry sd-journal's 130-byte cursors.
    /// Uses the stored `cursor` when the line has one.
    public var locator: String {
        if let cursor { return cursor }
        let t = "t=" + String(UInt64(max(0, realtime)), radix: 16)
        return bootID.map { "b=\($0);" + t } ?? t
    }

    /// The time of the entry.
    public var date: Date { Date(timeIntervalSince1970: Double(realtime) / 1_000_000) }
}
