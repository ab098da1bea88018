import Foundation
import Shared

/// `<state>/outgoing`: where a request writes its bundle before sending it.
///
/// A request that is killed (power loss, SIGKILL, a closed session) between writing its bundle
/// and delivering or spooling it would leave a complete bundle nobody sends; one killed while
/// collecting leaves temp files (`bundle-X.tar.gz.*`, up to `max_journal_bytes` each). So a
/// request holds an exclusive `flock` on `bundle-X.lock` from before it collects until it has
/// delivered or spooled the bundle; the kernel drops the lock when the process dies. The next
/// flush (`recover`) takes over every `bundle-X` whose lock it can take: the complete bundle
/// goes into the spool, temp files are removed.
struct OutgoingFolder {
    /// The folder.
    let directory: String

    /// Where request `stem` (`bundle-1a2b3c4d`) writes its bundle.
    func bundlePath(_ stem: String) -> String { directory + "/\(stem).tar.gz" }
    private func lockPath(_ stem: String) -> String { directory + "/\(stem).lock" }

    /// A request's hold on its `bundle-X`, until `release()`.
    final class Claim {
        private var fd: Int32
        private let path: String
        fileprivate init(fd: Int32, path: String) { self.fd = fd; self.path = path }

        /// Gives the request's files up: removes the lock file, then drops the lock.
        func release() {
            guard fd >= 0 else { return }
            unlink(path)
            close(fd)
            fd = -1
        }

        deinit { release() }
    }

    /// Takes request `stem`'s lock, waiting for a recovery that holds it for a moment.
    /// Nil when the lock file cannot be made (the request then runs unprotected, as before).
    func claim(_ stem: String) -> Claim? {
        let path = lockPath(stem)
        for _ in 0..<5 {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return nil }
            guard flock(fd, LOCK_EX) == 0 else { close(fd); return nil }
            // A recovery may have removed the file between our open and our lock: then the
            // lock is on a file nobody else can find. Start again on the current one.
            var held = stat(), named = stat()
            if fstat(fd, &held) == 0, stat(path, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev {
                return Claim(fd: fd, path: path)
            }
            close(fd)
        }
        return nil
    }

    /// What `recover` did.
    struct Recovery: Equatable {
        /// Bundle ids moved into the spool.
        var adopted: [String] = []
        /// Abandoned temp files removed.
        var removedTempFiles = 0
        /// Bundles that could not be adopted, with why (left where they are).
        var problems: [String] = []
    }

    /// Moves every abandoned complete bundle into `spool` and removes abandoned temp files.
    /// A request whose lock is held (it is collecting or sending right now) is left alone.
    func recover(into spool: Spool) -> Recovery {
        var recovery = Recovery()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return recovery }
        var stems: [String: [String]] = [:]
        for name in names where name.hasPrefix("bundle-") {
            let stem = String(name.prefix { $0 != "." })
            stems[stem, default: []].append(name)
        }
        for (stem, files) in stems.sorted(by: { $0.key < $1.key }) {
            let lock = lockPath(stem)
            let fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { continue }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { close(fd); continue }
            defer { unlink(lock); close(fd) }
            for name in files where name != "\(stem).lock" {
                let path = directory + "/" + name
                if name == "\(stem).tar.gz" {
                    do {
                        let manifest = try BundleReader.read(path: path).manifest
                        try spool.add(bundleAt: path, manifest: manifest)
                        recovery.adopted.append(manifest.bundleID)
                    } catch {
                        recovery.problems.append("\(path): \(error)")
                    }
                } else if unlink(path) == 0 {
                    recovery.removedTempFiles += 1
                }
            }
        }
        return recovery
    }
}
