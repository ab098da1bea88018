import Foundation

/// The outcome of reading one source file: its text, absent, or present but unreadable.
///
/// Probes tell the last two apart because they mean different things to a technician: a
/// missing `/etc/timezone` is normal, an unreadable `/proc/1234/status` (permissions,
/// `hidepid`) means the bundle is incomplete and the manifest must say so.
enum SourceText: Sendable, Equatable {
    /// The file's contents, decoded as UTF-8 (invalid bytes replaced).
    case text(String)
    /// No such file (or its process exited while being read).
    case missing
    /// The file exists but could not be read; `errno` says why.
    case unreadable(errno: Int32)

    /// The text, or nil when missing or unreadable.
    var text: String? {
        if case .text(let t) = self { return t }
        return nil
    }
}

extension ProbeContext {
    /// Reads `path` (absolute, resolved under the sysroot) to the end, telling a missing file
    /// from an unreadable one. Reads in a loop because `/proc` files report a size of 0.
    func source(_ path: String) -> SourceText {
        SourceFile.load(self.path(path))
    }

    /// The text of `path` under the sysroot; when the file exists but cannot be read, appends
    /// `path` to `unreadable`. Nil when missing or unreadable.
    func text(_ path: String, unreadable: inout [String]) -> String? {
        switch source(path) {
        case .text(let t): return t
        case .missing: return nil
        case .unreadable: unreadable.append(path); return nil
        }
    }

    /// True when `path` exists under the sysroot (a dangling symlink counts as absent).
    func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: self.path(path))
    }

    /// Names in the directory `path` under the sysroot, sorted; nil when it cannot be listed.
    func directory(_ path: String) -> [String]? {
        (try? FileManager.default.contentsOfDirectory(atPath: self.path(path)))?.sorted()
    }
}

/// Raw file reading with `errno` kept, for `SourceText`.
enum SourceFile {
    /// Reads the whole file at `fullPath` (already under the sysroot).
    static func load(_ fullPath: String) -> SourceText {
        let fd = open(fullPath, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return classify(errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                return classify(e)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return .text(String(decoding: bytes, as: UTF8.self))
    }

    /// ENOENT/ENOTDIR mean absent; ESRCH is a process that exited while its `/proc`
    /// directory was read, which is absent too, not a permission problem.
    private static func classify(_ code: Int32) -> SourceText {
        switch code {
        case ENOENT, ENOTDIR, ESRCH: return .missing
        default: return .unreadable(errno: code)
        }
    }
}
