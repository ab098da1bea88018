import ArgumentParser
import Foundation

/// Where `helpline enroll` finds the enrollment secret: `--secret-file PATH` (`-` for
/// standard input), `--secret`, or `HELPLINE_ENROLL_SECRET`, in that order.
///
/// `--secret` puts the secret in the process's argv, which every local user can read in
/// `ps`; the file and the environment do not.
enum EnrollmentSecret {
    /// The environment variable that may hold the secret.
    static let environmentVariable = "HELPLINE_ENROLL_SECRET"
    /// Longest secret accepted: the collector's are 48 characters; a file far larger is
    /// the wrong file, and reading stops there.
    static let maxBytes = 4096

    /// The secret, with surrounding whitespace and newlines trimmed.
    /// - Parameters:
    ///   - file: `--secret-file`; `-` reads `standardInput`.
    ///   - flag: `--secret`.
    ///   - environment: where `HELPLINE_ENROLL_SECRET` is looked up.
    ///   - standardInput: the descriptor `-` reads (tests pass a pipe).
    ///   - warn: receives a warning when the secret file can be read by other users.
    /// - Throws: `ValidationError` saying which source was missing, empty or unreadable.
    static func read(file: String?, flag: String?, environment: [String: String], standardInput: Int32 = 0,
                     warn: (String) -> Void) throws -> String {
        if file != nil, flag != nil {
            throw ValidationError("give the enrollment secret once: --secret-file or --secret, not both")
        }
        if let file {
            let text = file == "-" ? try readStandardInput(standardInput) : try readFile(file, warn: warn)
            let secret = trimmed(text)
            guard !secret.isEmpty else {
                throw ValidationError(file == "-" ? "standard input held no enrollment secret; pipe the secret in, e.g. helpline enroll --secret-file - < FILE"
                                                  : "the secret file \(file) is empty; put the enrollment secret from the collector's administrator in it")
            }
            return secret
        }
        if let flag {
            let secret = trimmed(flag)
            guard !secret.isEmpty else { throw ValidationError("--secret is empty; give the enrollment secret from the collector's administrator") }
            return secret
        }
        if let value = environment[environmentVariable] {
            let secret = trimmed(value)
            guard !secret.isEmpty else {
                throw ValidationError("\(environmentVariable) is set but empty; put the enrollment secret in it, or use --secret-file PATH")
            }
            return secret
        }
        throw ValidationError("give the enrollment secret from the collector's administrator with --secret-file PATH (- reads standard input), or \(environmentVariable)")
    }

    private static func trimmed(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Reads a secret file, warning when its mode lets the group or others read it.
    private static func readFile(_ path: String, warn: (String) -> Void) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw ValidationError("cannot read the secret file \(path): \(String(cString: strerror(e))); check the path and its permissions")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ValidationError("cannot read the secret file \(path): \(String(cString: strerror(errno)))")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw ValidationError("the secret file \(path) is a folder; give the file that holds the enrollment secret")
        }
        let mode = st.st_mode & 0o777
        if (st.st_mode & S_IFMT) == S_IFREG, mode & 0o044 != 0 {
            warn("helpline: warning: \(path) can be read by other users (mode \(String(mode, radix: 8))); "
                 + "keep the enrollment secret in a file only you can read: chmod 600 \(path)")
        }
        return try readAll(fd, source: "the secret file \(path)")
    }

    private static func readStandardInput(_ fd: Int32) throws -> String {
        if isatty(fd) == 1 {
            FileHandle.standardError.write(Data("Enrollment secret (then Enter): ".utf8))
            return try readAll(fd, source: "standard input", untilNewline: true)
        }
        return try readAll(fd, source: "standard input")
    }

    /// Reads to end of file (or the first newline), refusing more than `maxBytes`.
    private static func readAll(_ fd: Int32, source: String, untilNewline: Bool = false) throws -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, untilNewline ? 1 : $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ValidationError("cannot read \(source): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += buffer[0..<n]
            if bytes.count > maxBytes {
                throw ValidationError("\(source) holds more than \(maxBytes) bytes; an enrollment secret is one short line (hle_…)")
            }
            if untilNewline, bytes.last == 0x0A { break }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ValidationError("\(source) is not text; an enrollment secret is one short line (hle_…)")
        }
        return text
    }
}
