import Foundation

/// Shows `ReplyNotice`s in the desktop session of the local user they are for.
///
/// The daemon runs as root, but a session bus admits only its own user, and
/// `/run/user/UID/bus` is a path that user controls (they could put a link to another socket
/// there). So root never connects to it: for each notice it starts `helpline notify-session`
/// through `setpriv` with the user's uid and gid and no supplementary groups, gives it the
/// notice on standard input (not in argv, which every user can read in `ps`), and waits at
/// most `deadline`. That process opens the bus with the user's own credentials, so it can
/// reach nothing the user could not, and whatever the user's bus answers is parsed by a
/// process without root. (Changing credentials inside the daemon instead would either switch
/// every thread, with glibc's `setresuid`, or keep a way back to root in the thread that reads
/// the user's bus. sd-bus's `sd_bus_open_user_machine("USER@.host")` goes through systemd's
/// machine and user-manager plumbing, which a machine without logind or a container lacks,
/// and still leaves root's process parsing the user's bus.)
struct SessionNotifier: Sendable {
    /// What happened to a notice.
    enum Outcome: Sendable, Equatable {
        /// The notification server took it.
        case shown
        /// The user has no session bus now (not logged in, a headless machine): try later.
        case noSession
        /// It could not be shown; says why.
        case failed(String)
    }

    /// Where users' runtime folders are (`/run/user`); the bus is `<root>/<uid>/bus`.
    var runtimeRoot: String
    /// The `helpline` binary to run as the user.
    var executable: String
    /// The longest wait for one notice.
    var deadline: Duration = .seconds(10)

    /// `setpriv` (util-linux, essential on Debian).
    static let setprivCandidates = ["/usr/bin/setpriv", "/bin/setpriv"]

    /// A notifier for this machine: `/run/user` (or `HELPLINE_USER_RUNTIME_ROOT`, for tests)
    /// and this very binary.
    static func forThisMachine(environment: [String: String] = ProcessInfo.processInfo.environment) -> SessionNotifier {
        let root = environment["HELPLINE_USER_RUNTIME_ROOT"].flatMap { $0.isEmpty ? nil : $0 } ?? "/run/user"
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return SessionNotifier(runtimeRoot: root, executable: exe)
    }

    /// The bus socket of `uid`.
    func busPath(uid: uid_t) -> String { "\(runtimeRoot)/\(uid)/bus" }

    /// uid, gid and home of the account `name`, or nil when there is none. `getpwnam_r`: the
    /// socket thread looks up users at the same time, and `getpwnam` shares one buffer.
    static func account(_ name: String) -> (uid_t, gid_t, String)? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 16 << 10) { buffer in
            var entry = passwd()
            var found: UnsafeMutablePointer<passwd>?
            // The strings in `entry` point into `buffer`: copy them before it goes.
            guard let base = buffer.baseAddress, getpwnam_r(name, &entry, base, buffer.count, &found) == 0, found != nil else { return nil }
            return (entry.pw_uid, entry.pw_gid, entry.pw_dir.map { String(cString: $0) } ?? "/")
        }
    }

    /// Shows `notice` to its user.
    func show(_ notice: ReplyNotice) async -> Outcome {
        guard let (uid, gid, home) = Self.account(notice.user) else { return .failed("no local user \(notice.user)") }
        let socket = busPath(uid: uid)
        // A first look as root only saves starting a process for nobody; the real connect is
        // the user's own.
        var st = stat()
        guard lstat(socket, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else { return .noSession }
        guard let setpriv = Self.setprivCandidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failed("setpriv is missing (package util-linux); cannot show notices as the user")
        }
        let request = SessionNoticeRequest(socketPath: socket, summary: notice.summary, body: notice.body)
        guard let input = try? JSONEncoder().encode(request) else { return .failed("cannot encode the notice") }

        let outcome: ChildProcess.Outcome
        do {
            outcome = try await ChildProcess.runInBackground(
                setpriv, ["--reuid", String(uid), "--regid", String(gid), "--clear-groups", "--", executable, "notify-session"],
                environment: ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home], input: Array(input),
                stdout: .discard, stderr: .capture, timeout: deadline)
        } catch {
            return .failed("cannot start \(setpriv): \(error)")
        }
        if outcome.timedOut { return .failed("notify-session for \(notice.user) did not finish within \(deadline)") }
        switch outcome.exitStatus {
        case 0: return .shown
        case SessionNoticeRequest.noSessionStatus: return .noSession
        default:
            let message = String(decoding: outcome.error.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let how = outcome.exitStatus.map { "exited \($0)" } ?? "ended on signal \(outcome.signal ?? 0)"
            return .failed("notify-session for \(notice.user) \(how): \(message)")
        }
    }
}
