import ArgumentParser
import Foundation

/// The user's own words about the problem: `--note TEXT`, or `--note-file FILE` (`-` for
/// standard input), which keeps them out of the process list (`ps` shows every user's
/// arguments); the Get Help launcher pipes the note in that way.
struct NoteFlags: ParsableArguments {
    @Option(name: .long, help: "A few words about the problem, kept in the bundle (redacted). Visible to other local users in the process list while helpline runs; --note-file is not.")
    var note: String?

    @Option(name: .customLong("note-file"), help: ArgumentHelp("Read the note from FILE (- for standard input) instead of --note.", valueName: "FILE"))
    var noteFile: String?

    /// Longest note, in bytes: a few words, or a pasted error message. Well under the bundle's
    /// 64 KiB note member (`BundleLimits.maxNoteBytes`), so that redaction markers replacing
    /// secrets in it cannot take it over and get the bundle refused.
    static let maxNoteBytes = 8192

    func validate() throws {
        if note != nil, noteFile != nil { throw ValidationError("give the note with --note or with --note-file, not both") }
        if let note, note.utf8.count > Self.maxNoteBytes {
            throw ValidationError("the note is \(note.utf8.count) bytes; a note holds at most \(Self.maxNoteBytes) (a few words, or an error message); attach longer text as a file the bundle collects")
        }
    }

    /// The note given, read from its file when `--note-file` names one; nil when neither is given.
    /// - Throws: `ValidationError` when the file cannot be read or holds more than `maxNoteBytes`.
    func resolve() throws -> String? {
        guard let noteFile else { return note }
        let fd = noteFile == "-" ? dup(0) : open(noteFile, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ValidationError("cannot read the note from \(noteFile): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        // One byte past the limit tells a note that is too long from one that fits exactly.
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count <= Self.maxNoteBytes {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw ValidationError("cannot read the note from \(noteFile): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes += chunk[..<n]
        }
        // A file written by an editor or `echo` ends in one newline that is not part of the note.
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        guard bytes.count <= Self.maxNoteBytes else {
            throw ValidationError("the note in \(noteFile == "-" ? "standard input" : noteFile) is over \(Self.maxNoteBytes) bytes; a note holds a few words, or an error message")
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
