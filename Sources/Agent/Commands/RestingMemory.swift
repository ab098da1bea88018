import Foundation

/// Gives the kernel back the pages of the daemon's own binary that its start and its last
/// piece of work left mapped, so that at rest mostly what the idle loop touches stays resident.
///
/// Why: a page of the binary, once touched, stays in the daemon's memory for as long as it
/// runs, and the kernel maps its neighbours with it (read-ahead and fault-around, 64 KiB and
/// more a fault). Argument parsing, configuration, Foundation's start and the socket set-up
/// touch code spread over 17 MB of text that no idle tick runs again: ~8 of the 17 MB the
/// daemon held at rest (BENCHMARKS.md, "Agent daemon at rest, small"). `MADV_PAGEOUT` has
/// the kernel reclaim those pages now rather than under memory pressure: clean pages of the
/// file go (read again from it if ever needed), the process's own copies (written data, the
/// relocated GOT) stay, and pages another process maps too are skipped. `MADV_RANDOM` stops
/// read-ahead for later faults. (Dropping the pages with `MADV_DONTNEED` and the page cache
/// with `POSIX_FADV_DONTNEED` as well measured no smaller: the kernel's large page-cache folios
/// stay cached while any of their pages is mapped, and fault-around maps their neighbours.)
enum RestingMemory {
    /// What one release did.
    struct Released: Sendable, Equatable {
        /// Mappings of the binary advised.
        var mappings = 0
        /// Their size in bytes (not what was resident).
        var bytes = 0
    }

    /// Advises every mapping of this process's executable `MADV_RANDOM` then `MADV_PAGEOUT`.
    /// Cheap (one read of /proc/self/maps, two system calls a mapping); call it when the
    /// daemon is about to sleep after work. Errors are ignored: advice is only advice.
    @discardableResult
    static func release() -> Released {
        var released = Released()
        guard let exe = executablePath(), let maps = fopen("/proc/self/maps", "r") else { return released }
        defer { fclose(maps) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        var ranges: [Range<UInt>] = []
        while getline(&line, &capacity, maps) > 0, let line {
            if let range = Self.range(ofMappingLine: String(cString: line), of: exe) { ranges.append(range) }
        }
        // Advised after reading, so the walk itself does not fault the pages straight back.
        for range in ranges {
            guard let address = UnsafeMutableRawPointer(bitPattern: range.lowerBound) else { continue }
            _ = madvise(address, range.count, MADV_RANDOM)
            _ = madvise(address, range.count, MADV_PAGEOUT)
            released.mappings += 1
            released.bytes += range.count
        }
        return released
    }

    /// The addresses of a `/proc/PID/maps` line, when it maps the file `path`.
    static func range(ofMappingLine line: String, of path: String) -> Range<UInt>? {
        // "start-end perms offset dev inode   path"; the path is everything after the fifth
        // field (it may hold spaces).
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count == 6 else { return nil }
        let mapped = fields[5].drop { $0 == " " }.dropLast(fields[5].hasSuffix("\n") ? 1 : 0)
        guard mapped == path else { return nil }
        let bounds = fields[0].split(separator: "-")
        guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), end > start else { return nil }
        return start..<end
    }

    /// The running executable's path as /proc/self/maps names it.
    private static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
