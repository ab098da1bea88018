import Foundation

/// The collector's private folders: created 0700, refused when others can write to them.
///
/// Workstation journals are sensitive: every local user of the collector's machine must be
/// kept out of the data directory, the database and the blobs. The process runs under umask
/// 077, so every file it creates is 0600 and every folder 0700, whatever creates it (SQLite's
/// WAL files included).
public enum DataDirectory {
    /// Sets the process umask to 077. Called once at start, before any file is created.
    public static func restrictFileModes() {
        umask(0o077)
    }

    /// Creates `path` (and missing parents) mode 0700, or checks an existing one.
    ///
    /// An existing folder that group or others can write to is refused (someone else could
    /// swap files under the collector); one they can only read or enter is tightened to 0700
    /// (earlier versions created 0755), and the change is reported.
    /// - Returns: a note when an existing folder's mode was tightened, else nil.
    /// - Throws: `ConfigurationError` saying what to change.
    @discardableResult
    public static func prepare(_ path: String) throws -> String? {
        var st = stat()
        if stat(path, &st) != 0 {
            guard errno == ENOENT else {
                throw ConfigurationError("could not inspect the data directory \(path): \(String(cString: strerror(errno)))")
            }
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw ConfigurationError("could not create the data directory \(path): \(error.localizedDescription)")
            }
            // The umask may have been wider when called from tests; make the mode exact.
            chmod(path, 0o700)
            return nil
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw ConfigurationError("the data directory \(path) is not a folder; give --data-dir a folder path")
        }
        let mode = st.st_mode & 0o7777
        if mode & 0o022 != 0 {
            throw ConfigurationError(String(format: "the data directory %@ can be written by other users (mode %o); "
                                            + "run `chmod 700 %@` (and make the collector's user its owner), then start again", path, mode, path))
        }
        if st.st_uid != geteuid() && geteuid() != 0 {
            throw ConfigurationError("the data directory \(path) belongs to user id \(st.st_uid), not to the collector's user (\(geteuid())); "
                                     + "`chown` it to the user the collector runs as")
        }
        if mode & 0o077 != 0 {
            guard chmod(path, 0o700) == 0 else {
                throw ConfigurationError("could not restrict the data directory \(path) to mode 700: \(String(cString: strerror(errno)))")
            }
            return String(format: "the data directory %@ was readable by other users (mode %o); it is now 700", path, mode)
        }
        return nil
    }

    /// Restricts an existing file to 0600 (databases written by earlier versions); no-op when absent.
    public static func restrictFile(_ path: String) {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & 0o077 != 0 else { return }
        chmod(path, 0o600)
    }

    /// Name of the file holding the first-start credentials, in the data directory.
    public static let credentialsFileName = "first-start-credentials"

    /// Writes `lines` to `<dataDirectory>/first-start-credentials`, mode 0600, replacing an
    /// older file, and fsyncs it.
    /// - Returns: the file's path.
    /// - Throws: `ConfigurationError`.
    public static func writeCredentials(_ lines: [String], dataDirectory: String) throws -> String {
        let path = dataDirectory + "/" + credentialsFileName
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw ConfigurationError("could not write the first-start credentials to \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ConfigurationError("could not write the first-start credentials to \(path): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            throw ConfigurationError("could not write the first-start credentials to \(path): \(String(cString: strerror(errno)))")
        }
        return path
    }
}
