import Foundation

/// A hand-written reader for the heartbeat JSON the agent writes, for the collector's
/// hottest route: Foundation's `JSONDecoder` spent ~300 µs of CPU on a realistic 5.4 KiB
/// heartbeat (generic `Codable` dispatch, not parsing), a fifth of all the work per beat.
///
/// It reads only a strict subset: exactly the keys `Heartbeat`'s `Codable` knows, each at
/// most once; integers without fraction or exponent; dates as `YYYY-MM-DDTHH:MM:SSZ`
/// (years 1900–9999); UTF-8 text; nothing after the value. Anything else — an unknown key,
/// a duplicate, a float where an integer goes, a leap second, a missing member, bad JSON —
/// answers nil, and the caller decodes with `BundleJSON.decoder()`, which accepts or refuses
/// it with its usual message. So this reader never refuses anything and never accepts
/// anything Foundation would not decode to the same value (tested side by side, and fuzzed).
///
/// A document it accepts names only known keys, so its bytes can be stored as they came
/// without carrying a sender's extra payload.
public enum HeartbeatJSON {
    /// The heartbeat in `bytes`, or nil when they are outside the strict subset (decode them
    /// with `BundleJSON.decoder()` then).
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> Heartbeat? {
        decodeLocatingProcesses(bytes)?.heartbeat
    }

    /// `decode(_:)`, and where the `topProcesses` array lies in `bytes` (from its `[` to just
    /// after its `]`): the collector stores the heartbeat without it, since its processes are
    /// rows of their own.
    public static func decodeLocatingProcesses(_ bytes: UnsafeRawBufferPointer) -> (heartbeat: Heartbeat, processes: Range<Int>)? {
        var reader = Reader(bytes)
        do {
            let beat = try reader.heartbeat()
            reader.skipSpace()
            guard reader.atEnd, let processes = reader.processesRange else { return nil }
            return (beat, processes)
        } catch {
            return nil
        }
    }

    /// `decode(_:)` over a byte array.
    public static func decode(_ bytes: [UInt8]) -> Heartbeat? {
        bytes.withUnsafeBytes { decode($0) }
    }
}

/// Each type's keys, as its synthesized `Codable` names them (static: no array per object).
private enum Keys {
    static let heartbeatKeys: [StaticString] = ["schemaVersion", "host", "sentAt", "agentVersion", "system", "memory", "filesystems", "topProcesses", "failedUnits", "spooledBundles"]
    static let hostKeys: [StaticString] = ["hostID", "hostname", "machineID", "bootID"]
    static let systemKeys: [StaticString] = ["hostname", "machineID", "bootID", "osRelease", "kernel", "uptimeSeconds", "cpuModel", "cpuCount", "loadAverage", "timezone", "virtualization", "container"]
    static let osReleaseKeys: [StaticString] = ["id", "versionID", "prettyName"]
    static let kernelKeys: [StaticString] = ["sysname", "release", "version", "machine"]
    static let memoryKeys: [StaticString] = ["totalBytes", "availableBytes", "freeBytes", "buffersBytes", "cachedBytes", "swapTotalBytes", "swapFreeBytes", "meminfo", "pressure", "oomKills"]
    static let stallKeys: [StaticString] = ["some", "full"]
    static let lineKeys: [StaticString] = ["avg10", "avg60", "avg300", "totalMicroseconds"]
    static let filesystemKeys: [StaticString] = ["mountPoint", "device", "fsType", "readOnly", "sizeBytes", "usedBytes", "availableBytes", "usedPercent", "inodesTotal", "inodesUsed", "inodesUsedPercent"]
    static let processKeys: [StaticString] = ["pid", "ppid", "uid", "user", "state", "name", "commandLine", "threads", "rssBytes", "startTime", "cpuPercent", "topCPU", "topMemory"]
    static let unitKeys: [StaticString] = ["name", "description", "loadState", "activeState", "subState", "since", "restarts", "result"]
}

/// The one failure: "not in the strict subset, let Foundation decide".
private struct OutsideSubset: Error {}

private struct Reader {
    let bytes: UnsafeRawBufferPointer
    var i = 0
    /// Where the heartbeat's `topProcesses` array lies, once read.
    var processesRange: Range<Int>?

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { i == bytes.count }

    // MARK: Lexing

    mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    /// Consumes `byte` after optional white space.
    mutating func expect(_ byte: UInt8) throws(OutsideSubset) {
        skipSpace()
        guard i < bytes.count, bytes[i] == byte else { throw OutsideSubset() }
        i += 1
    }

    /// Consumes `byte` after optional white space when it is next.
    mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard i < bytes.count, bytes[i] == byte else { return false }
        i += 1
        return true
    }

    /// Consumes `null` when it is next.
    mutating func takeNull() -> Bool {
        skipSpace()
        guard i + 4 <= bytes.count, bytes[i] == 0x6E, bytes[i + 1] == 0x75, bytes[i + 2] == 0x6C, bytes[i + 3] == 0x6C else { return false }
        i += 4
        return true
    }

    /// An object key: plain bytes between quotes (a key with an escape is outside the subset).
    mutating func key() throws(OutsideSubset) -> UnsafeRawBufferPointer {
        try expect(0x22)
        let start = i
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x22 {
                let key = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
                i += 1
                try expect(0x3A)
                return key
            }
            if b == 0x5C || b < 0x20 || b >= 0x80 { throw OutsideSubset() }
            i += 1
        }
        throw OutsideSubset()
    }

    mutating func string() throws(OutsideSubset) -> String {
        try expect(0x22)
        let start = i
        var escaped = false
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x22 { break }
            if b < 0x20 { throw OutsideSubset() }
            if b == 0x5C {
                escaped = true
                i += 2
                continue
            }
            i += 1
        }
        guard i < bytes.count else { throw OutsideSubset() }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
        i += 1
        guard ByteScan.isValidUTF8(raw) else { throw OutsideSubset() }
        return escaped ? try Self.unescape(raw) : String(decoding: raw, as: UTF8.self)
    }

    /// Text with JSON escapes resolved; `\u` escapes must form whole scalars.
    static func unescape(_ raw: UnsafeRawBufferPointer) throws(OutsideSubset) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var j = 0
        func hex4(_ at: Int) throws(OutsideSubset) -> UInt32 {
            guard at + 4 <= raw.count else { throw OutsideSubset() }
            var v: UInt32 = 0
            for k in at..<(at + 4) {
                let c = raw[k]
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: throw OutsideSubset()
                }
                v = v << 4 | UInt32(d)
            }
            return v
        }
        while j < raw.count {
            let b = raw[j]
            guard b == 0x5C else { out.append(b); j += 1; continue }
            guard j + 1 < raw.count else { throw OutsideSubset() }
            let e = raw[j + 1]
            j += 2
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var scalar = try hex4(j)
                j += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    guard j + 6 <= raw.count, raw[j] == 0x5C, raw[j + 1] == 0x75 else { throw OutsideSubset() }
                    let low = try hex4(j + 2)
                    guard (0xDC00...0xDFFF).contains(low) else { throw OutsideSubset() }
                    j += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw OutsideSubset()
                }
                guard let u = Unicode.Scalar(scalar) else { throw OutsideSubset() }
                out.append(contentsOf: UTF8.encode(u)!)
            default: throw OutsideSubset()
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of a JSON number, and whether it has a fraction or an exponent.
    mutating func number() throws(OutsideSubset) -> (UnsafeRawBufferPointer, integral: Bool) {
        skipSpace()
        let start = i
        if i < bytes.count, bytes[i] == 0x2D { i += 1 }
        let digitsStart = i
        while i < bytes.count, bytes[i] &- 0x30 < 10 { i += 1 }
        let digits = i - digitsStart
        guard digits > 0, digits == 1 || bytes[digitsStart] != 0x30 else { throw OutsideSubset() }
        var integral = true
        if i < bytes.count, bytes[i] == 0x2E {
            integral = false
            i += 1
            let f = i
            while i < bytes.count, bytes[i] &- 0x30 < 10 { i += 1 }
            guard i > f else { throw OutsideSubset() }
        }
        if i < bytes.count, bytes[i] == 0x65 || bytes[i] == 0x45 {
            integral = false
            i += 1
            if i < bytes.count, bytes[i] == 0x2B || bytes[i] == 0x2D { i += 1 }
            let e = i
            while i < bytes.count, bytes[i] &- 0x30 < 10 { i += 1 }
            guard i > e else { throw OutsideSubset() }
        }
        return (UnsafeRawBufferPointer(rebasing: bytes[start..<i]), integral)
    }

    mutating func int() throws(OutsideSubset) -> Int {
        let (raw, integral) = try number()
        guard integral, raw.count <= 19 || (raw.count == 20 && raw[0] == 0x2D) else { throw OutsideSubset() }
        let negative = raw[0] == 0x2D
        var v = 0
        for k in (negative ? 1 : 0)..<raw.count {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int(raw[k] - 0x30)) : m.addingReportingOverflow(Int(raw[k] - 0x30))
            guard !o1, !o2 else { throw OutsideSubset() }
            v = s
        }
        if negative && v == 0 { throw OutsideSubset() }  // "-0": let Foundation say what it is
        return v
    }

    mutating func uint64() throws(OutsideSubset) -> UInt64 {
        let (raw, integral) = try number()
        guard integral, raw[0] != 0x2D, raw.count <= 20 else { throw OutsideSubset() }
        var v: UInt64 = 0
        for k in 0..<raw.count {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(raw[k] - 0x30))
            guard !o1, !o2 else { throw OutsideSubset() }
            v = s
        }
        return v
    }

    mutating func double() throws(OutsideSubset) -> Double {
        let (raw, integral) = try number()
        // Up to 15 digits an integer is exact as a Double; anything else goes through strtod.
        if integral, raw.count <= 15 {
            let negative = raw[0] == 0x2D
            var v: Int64 = 0
            for k in (negative ? 1 : 0)..<raw.count { v = v * 10 + Int64(raw[k] - 0x30) }
            if negative && v == 0 { throw OutsideSubset() }
            return Double(negative ? -v : v)
        }
        // Overflow, and underflow to zero or below the normal range (Foundation refuses some
        // of these), are left to Foundation.
        guard raw.count <= 64, let d = Double(String(decoding: raw, as: UTF8.self)), d.isFinite else { throw OutsideSubset() }
        if d.magnitude < Double.leastNormalMagnitude {
            // Only a plain zero (`0.0`, as Python writes it) is read here. Underflow, subnormals,
            // negative zero and zero with an exponent go to Foundation, which refuses some of
            // them (`8e-3500`, and `0e3` though it takes `0.0e0`).
            for b in raw where b == 0x2D || b == 0x65 || b == 0x45 || (b >= 0x31 && b <= 0x39) { throw OutsideSubset() }
        }
        return d
    }

    mutating func bool() throws(OutsideSubset) -> Bool {
        skipSpace()
        if i + 4 <= bytes.count, bytes[i] == 0x74, bytes[i + 1] == 0x72, bytes[i + 2] == 0x75, bytes[i + 3] == 0x65 {
            i += 4
            return true
        }
        if i + 5 <= bytes.count, bytes[i] == 0x66, bytes[i + 1] == 0x61, bytes[i + 2] == 0x6C, bytes[i + 3] == 0x73, bytes[i + 4] == 0x65 {
            i += 5
            return false
        }
        throw OutsideSubset()
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, years 1900–9999, no leap second.
    mutating func date() throws(OutsideSubset) -> Date {
        try expect(0x22)
        guard i + 21 <= bytes.count, bytes[i + 20] == 0x22 else { throw OutsideSubset() }
        let p = UnsafeRawBufferPointer(rebasing: bytes[i..<(i + 20)])
        func n(_ from: Int, _ count: Int) throws(OutsideSubset) -> Int {
            var v = 0
            for k in from..<(from + count) {
                let d = p[k] &- 0x30
                guard d < 10 else { throw OutsideSubset() }
                v = v * 10 + Int(d)
            }
            return v
        }
        guard p[4] == 0x2D, p[7] == 0x2D, p[10] == 0x54, p[13] == 0x3A, p[16] == 0x3A, p[19] == 0x5A else { throw OutsideSubset() }
        let year = try n(0, 4), month = try n(5, 2), day = try n(8, 2)
        let hour = try n(11, 2), minute = try n(14, 2), second = try n(17, 2)
        guard (1900...9999).contains(year), (1...12).contains(month), hour < 24, minute < 60, second < 60 else { throw OutsideSubset() }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = month == 2 ? (leap ? 29 : 28) : (month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31)
        guard day >= 1, day <= monthDays else { throw OutsideSubset() }
        i += 21
        // Days since 1970-01-01 in the proleptic Gregorian calendar (Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Date(timeIntervalSince1970: Double(days * 86_400 + hour * 3600 + minute * 60 + second))
    }

    mutating func optionalString() throws(OutsideSubset) -> String? { takeNull() ? nil : try string() }

    /// Reads `{ key: value, … }`, calling `member` with each key and the index of that key in
    /// `keys`; a key not in `keys` or seen twice is outside the subset.
    mutating func object(_ keys: [StaticString], _ member: (inout Reader, Int) throws(OutsideSubset) -> Void) throws(OutsideSubset) -> UInt64 {
        try expect(0x7B)
        var seen: UInt64 = 0
        if take(0x7D) { return seen }
        repeat {
            let name = try key()
            guard let index = Self.index(of: name, in: keys), seen & (1 << index) == 0 else { throw OutsideSubset() }
            seen |= 1 << index
            try member(&self, index)
        } while take(0x2C)
        try expect(0x7D)
        return seen
    }

    /// Reads `{ "name": value, … }` with free names (a dictionary); a name seen twice or
    /// with an escape is outside the subset. At most `limit` members.
    mutating func dictionary<V>(limit: Int, _ value: (inout Reader) throws(OutsideSubset) -> V) throws(OutsideSubset) -> [String: V] {
        try expect(0x7B)
        var out: [String: V] = [:]
        if take(0x7D) { return out }
        repeat {
            let name = String(decoding: try key(), as: UTF8.self)
            guard out.count < limit, out.updateValue(try value(&self), forKey: name) == nil else { throw OutsideSubset() }
        } while take(0x2C)
        try expect(0x7D)
        return out
    }

    mutating func array<V>(limit: Int, _ element: (inout Reader) throws(OutsideSubset) -> V) throws(OutsideSubset) -> [V] {
        try expect(0x5B)
        var out: [V] = []
        if take(0x5D) { return out }
        repeat {
            guard out.count < limit else { throw OutsideSubset() }
            out.append(try element(&self))
        } while take(0x2C)
        try expect(0x5D)
        return out
    }

    static func index(of name: UnsafeRawBufferPointer, in keys: [StaticString]) -> Int? {
        for (k, key) in keys.enumerated() where key.utf8CodeUnitCount == name.count {
            if ByteScan.equal(UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount), name) { return k }
        }
        return nil
    }

    /// True when every bit in `required` is in `seen`.
    static func has(_ seen: UInt64, _ required: UInt64) throws(OutsideSubset) {
        guard seen & required == required else { throw OutsideSubset() }
    }

    // MARK: The heartbeat's types (keys as their synthesized Codable names them)

    /// The most members of any array or dictionary here; a heartbeat the agent sends holds far fewer.
    static let most = 4096

    mutating func heartbeat() throws(OutsideSubset) -> Heartbeat {
        var schema = 0, host: HostIdentity?, sent: Date?, agent = "", system: SystemInfo?, memory: MemoryInfo?
        var filesystems: [FilesystemUsage] = [], processes: [ProcessRecord] = [], units: [UnitRecord] = [], spooled = 0
        let seen = try object(Keys.heartbeatKeys) { (r: inout Reader, k: Int) throws(OutsideSubset) in
            switch k {
            case 0: schema = try r.int()
            case 1: host = try r.hostIdentity()
            case 2: sent = try r.date()
            case 3: agent = try r.string()
            case 4: system = r.takeNull() ? nil : try r.systemInfo()
            case 5: memory = r.takeNull() ? nil : try r.memoryInfo()
            case 6: filesystems = try r.array(limit: Self.most) { (r: inout Reader) throws(OutsideSubset) in try r.filesystem() }
            case 7:
                r.skipSpace()
                let start = r.i
                processes = try r.array(limit: Self.most) { (r: inout Reader) throws(OutsideSubset) in try r.process() }
                r.processesRange = start..<r.i
            case 8: units = try r.array(limit: Self.most) { (r: inout Reader) throws(OutsideSubset) in try r.unit() }
            default: spooled = try r.int()
            }
        }
        try Self.has(seen, 0b11_1100_1111)
        guard let host, let sent else { throw OutsideSubset() }
        return Heartbeat(schemaVersion: schema, host: host, sentAt: sent, agentVersion: agent, system: system, memory: memory,
                         filesystems: filesystems, topProcesses: processes, failedUnits: units, spooledBundles: spooled)
    }

    mutating func hostIdentity() throws(OutsideSubset) -> HostIdentity {
        var id: String?, name = "", machine: String?, boot: String?
        let seen = try object(Keys.hostKeys) { (r: inout Reader, k: Int) throws(OutsideSubset) in
            switch k {
            case 0: id = try r.optionalString()
            case 1: name = try r.string()
            case 2: machine = try r.optionalString()
            default: boot = try r.optionalString()
            }
        }
        try Self.has(seen, 0b10)
        return HostIdentity(hostID: id, hostname: name, machineID: machine, bootID: boot)
    }

    mutating func systemInfo() throws(OutsideSubset) -> SystemInfo {
        var s = SystemInfo(hostname: "")
        let seen = try object(Keys.systemKeys) { (r: inout Reader, k: Int) throws(OutsideSubset) in
            switch k {
            case 0: s.hostname = try r.string()
            case 1: s.machineID = try r.optionalString()
            case 2: s.bootID = try r.optionalString()
            case 3: s.osRelease = r.takeNull() ? nil : try r.osRelease()
            case 4: s.kernel = r.takeNull() ? nil : try r.kernel()
            case 5: s.uptimeSeconds = r.takeNull() ? nil : try r.double()
            case 6: s.cpuModel = try r.optionalString()
            case 7: s.cpuCount = r.takeNull() ? nil : try r.int()
            case 8: s.loadAverage = r.takeNull() ? nil : try r.array(limit: Self.most) { (r: inout Reader) throws(OutsideSubset) in try r.double() }
            case 9: s.timezone = try r.optionalString()
            case 10: s.virtualization = try r.optionalString()
            default: s.container = try r.optionalString()
            }
        }
        try Self.has(seen, 0b1)
        return s
    }

    mutating func osRelease() throws(OutsideSubset) -> SystemInfo.OSRelease {
        var o = SystemInfo.OSRelease()
        _ = try object(Keys.osReleaseKeys) { (r: inout Reader, k: Int) throws(OutsideSubset) in
            switch k {
            case 0: o.id = try r.optionalString()
            case 1: o.versionID = try r.optionalString()
            default: o.prettyName = try r.optionalString()
            }
        }
        return o
    }

    mutating func kernel() throws(OutsideSubset) -> SystemInfo.Kernel {
        var kernel = SystemInfo.Kernel(sysname: "", release: "", version: "", machine: "")
        let seen = try object(Keys.kernelKeys) { (r: inout Reader, k: Int) throws(OutsideSubset) in
            switch k {
            case 0: kernel.sysname = try r.string()
            case 1: kernel.release = try r.string()
            case 2: kernel.version = try r.string()
            default: kernel.machine = try r.string()
            }
        }
        try Self.has(seen, 0b1111)
        return kernel
    }

    mutating func memoryInfo() throws(OutsideSubset) -> MemoryInfo {
        var m = MemoryInfo(totalBytes: 0, availableBytes: 0, freeBytes: 0, buffersBytes: 0, cachedBytes: 0, swapTotalBytes: 0, swapFreeBytes: 0)
        let seen = try object(Keys.memoryKeys) { (r: inout Reader, k: Int) throws(OutsideSubset) in
            switch k {
            case 0: m.totalBytes = try r.uint64()
            case 1: m.availableBytes = try r.uint64()
            case 2: m.freeBytes = try r.uint64()
            case 3: m.buffersBytes = try r.uint64()
            case 4: m.cachedBytes = try r.uint64()
            case 5: m.swapTotalBytes = try r.uint64()
            case 6: m.swapFreeBytes = try r.uint64()
            case 7: m.meminfo = try r.dictionary(limit: Self.most) { (r: inout Reader) throws(OutsideSubset) in try r.uint64() }
            case 8: m.pressure = try r.dictionary(limit: Self.most) { (r: inout Reader) throws(OutsideSubset) in try r.pressureStall() }
            default: m.oomKills = r.takeNull() ? nil : try r.uint64()
            }
        }
        try Self.has(seen, 0b1_1111_1111)
        return m
    }

    mutating func pressureStall() throws(OutsideSubset) -> PressureStall {
        var p = PressureStall()
        _ = try object(Keys.stallKeys) { (r: inout Reader, k: Int) throws(OutsideSubset) in
            let line = r.takeNull() ? nil : try r.pressureLine()
            if k == 0 { p.some = line } else { p.full = line }
        }
        return p
    }

    mutating func pressureLine() throws(OutsideSubset) -> PressureStall.Line {
        var line = PressureStall.Line(avg10: 0, avg60: 0, avg300: 0, totalMicroseconds: 0)
        let seen = try object(Keys.lineKeys) { (r: inout Reader, k: Int) throws(OutsideSubset) in
            switch k {
            case 0: line.avg10 = try r.double()
            case 1: line.avg60 = try r.double()
            case 2: line.avg300 = try r.double()
            default: line.totalMicroseconds = try r.uint64()
            }
        }
        try Self.has(seen, 0b1111)
        return line
    }

    mutating func filesystem() throws(OutsideSubset) -> FilesystemUsage {
        var f = FilesystemUsage(mountPoint: "", device: "", fsType: "", readOnly: false, sizeBytes: 0, usedBytes: 0, availableBytes: 0,
                                usedPercent: 0, inodesTotal: 0, inodesUsed: 0, inodesUsedPercent: 0)
        let seen = try object(Keys.filesystemKeys) { (r: inout Reader, k: Int) throws(OutsideSubset) in
            switch k {
            case 0: f.mountPoint = try r.string()
            case 1: f.device = try r.string()
            case 2: f.fsType = try r.string()
            case 3: f.readOnly = try r.bool()
            case 4: f.sizeBytes = try r.uint64()
            case 5: f.usedBytes = try r.uint64()
            case 6: f.availableBytes = try r.uint64()
            case 7: f.usedPercent = try r.double()
            case 8: f.inodesTotal = try r.uint64()
            case 9: f.inodesUsed = try r.uint64()
            default: f.inodesUsedPercent = try r.double()
            }
        }
        try Self.has(seen, 0b111_1111_1111)
        return f
    }

    mutating func process() throws(OutsideSubset) -> ProcessRecord {
        var p = ProcessRecord(pid: 0, ppid: 0, uid: 0, state: "", name: "", commandLine: "", threads: 0, rssBytes: 0, cpuPercent: 0)
        let seen = try object(Keys.processKeys) { (r: inout Reader, k: Int) throws(OutsideSubset) in
            switch k {
            case 0: p.pid = try r.int()
            case 1: p.ppid = try r.int()
            case 2: p.uid = try r.int()
            case 3: p.user = try r.optionalString()
            case 4: p.state = try r.string()
            case 5: p.name = try r.string()
            case 6: p.commandLine = try r.string()
            case 7: p.threads = try r.int()
            case 8: p.rssBytes = try r.uint64()
            case 9: p.startTime = r.takeNull() ? nil : try r.date()
            case 10: p.cpuPercent = try r.double()
            case 11: p.topCPU = try r.bool()
            default: p.topMemory = try r.bool()
            }
        }
        try Self.has(seen, 0b1_1101_1111_0111)
        return p
    }

    mutating func unit() throws(OutsideSubset) -> UnitRecord {
        var u = UnitRecord(name: "", description: "", loadState: "", activeState: "", subState: "")
        let seen = try object(Keys.unitKeys) {
            (r: inout Reader, k: Int) throws(OutsideSubset) in
            switch k {
            case 0: u.name = try r.string()
            case 1: u.description = try r.string()
            case 2: u.loadState = try r.string()
            case 3: u.activeState = try r.string()
            case 4: u.subState = try r.string()
            case 5: u.since = r.takeNull() ? nil : try r.date()
            case 6: u.restarts = r.takeNull() ? nil : try r.int()
            default: u.result = try r.optionalString()
            }
        }
        try Self.has(seen, 0b1_1111)
        return u
    }
}
