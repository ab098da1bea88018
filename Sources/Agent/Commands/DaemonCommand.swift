import ArgumentParser
import Foundation
import Shared
import Synchronization

/// `helpline daemon`: the long-running side, run by the systemd unit.
///
/// Every `heartbeat_interval` (jittered) it sends a small health snapshot; every
/// `reply_check_interval` it checks in: collects the fresh bundles technicians asked for, then
/// looks at this computer's tickets and shows their users a desktop notification of new
/// replies and status changes (`notify_replies`). Heartbeats and check-ins each run in a
/// short-lived child (`DaemonChild`). It retries the spool with backoff; it answers ordinary
/// users' requests on its socket; between ticks it sleeps and does nothing.
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run in the background: heartbeats, spool retries, and requests from users who are not root.")

    /// Where the daemon listens for users' requests.
    static let defaultSocket = "/run/helpline/agent.sock"

    @OptionGroup var agent: AgentFlags

    @Option(name: .customLong("socket"), help: ArgumentHelp("Socket for users' requests (default /run/helpline/agent.sock).", valueName: "PATH"))
    var socket: String?

    @Option(name: .customLong("heartbeat-interval"), help: ArgumentHelp("Time between heartbeats, 10s to 7d (default from config: 15m).", valueName: "DURATION"))
    var heartbeatInterval: String?

    @Option(name: .customLong("ticks"), help: ArgumentHelp("Stop after this many ticks (for tests).", visibility: .hidden))
    var ticksText: String?

    @Flag(name: .customLong("heartbeat-once"), help: ArgumentHelp("Send one heartbeat and exit (the daemon runs each heartbeat so, in a child process).", visibility: .hidden))
    var heartbeatOnce = false

    @Flag(name: .customLong("check-in-once"), help: ArgumentHelp("Check in once (bundle requests, reply notifications) and exit (the daemon runs each check-in so, in a child process).", visibility: .hidden))
    var checkInOnce = false

    /// `--ticks`, checked by `validate()`.
    var ticks: Int? { ticksText.flatMap { try? WholeNumberText.parse($0, for: "--ticks", in: InputLimits.ticks) } }

    func validate() throws {
        do {
            if let h = heartbeatInterval { _ = try DurationText.parse(h, for: "--heartbeat-interval", in: InputLimits.heartbeatInterval) }
            if let t = ticksText { _ = try WholeNumberText.parse(t, for: "--ticks", in: InputLimits.ticks) }
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        if heartbeatOnce {
            let (state, config) = try agent.load()
            let sent = await Self.beatInThisProcess(state: state, config: config, log: DaemonLog())
            throw ExitCode(sent ? DaemonChild.delivered : DaemonChild.notDelivered)
        }
        if checkInOnce {
            let (state, config) = try agent.load()
            await Self.checkInInThisProcess(state: state, config: config, log: DaemonLog())
            return
        }
        let (state, baseConfig) = try agent.load()
        var config = baseConfig
        if let h = heartbeatInterval, let d = try? DurationText.parse(h, for: "--heartbeat-interval", in: InputLimits.heartbeatInterval) {
            config.heartbeatInterval = d
        }
        try state.prepare()
        // A peer that went away (a user who pressed Ctrl-C mid-request, a notify-session that
        // died before reading its notice) makes write() fail with EPIPE, which each caller
        // handles; the default SIGPIPE would instead end the daemon for every user.
        signal(SIGPIPE, SIG_IGN)
        let log = DaemonLog()
        let socketPath = socket ?? ProcessInfo.processInfo.environment["HELPLINE_DAEMON_SOCKET"] ?? Self.defaultSocket
        let listener: DaemonSocket?
        do { listener = try DaemonSocket(path: socketPath) } catch {
            log.line("not listening for users' requests: \(error)")
            listener = nil
        }
        if let listener { Self.serve(listener, state: state, config: config, log: log) }

        // SIGTERM (systemctl stop) and SIGINT end the loop in order instead of killing the process
        // mid-tick: STOPPING=1 at once, then the tick in progress finishes.
        let stop = DaemonStop()
        try DaemonStop.onSignals { signal in
            log.line("stopping on \(signal == SIGINT ? "SIGINT" : "SIGTERM")")
            ServiceNotifier.stopping()
            stop.request()
        }

        ServiceNotifier.ready(status: "sending heartbeats every \(config.heartbeatInterval)")
        let replies = config.notifyReplies ? "replies checked every \(config.replyCheckInterval)" : "reply notifications off"
        log.line("started; state \(state.directory), heartbeat every \(config.heartbeatInterval), \(replies), socket \(listener?.path ?? "none")")
        var tick = 0
        var nextHeartbeat = ContinuousClock.now
        var nextTicketCheck = ContinuousClock.now
        while ticks.map({ tick < $0 }) ?? true, !stop.requested {
            tick += 1
            ServiceNotifier.alive()
            // The first tick follows the start; later ones that did work leave pages behind too.
            var worked = tick == 1
            if ContinuousClock.now >= nextHeartbeat {
                worked = true
                await Self.beat(state: state, config: config, agent: agent, log: log)
                // ±10 % jitter so a fleet does not beat in step.
                let jitter = Double.random(in: 0.9...1.1)
                nextHeartbeat = ContinuousClock.now + config.heartbeatInterval * jitter
            }
            if ContinuousClock.now >= nextTicketCheck {
                worked = true
                await Self.checkIn(state: state, agent: agent, log: log)
                nextTicketCheck = ContinuousClock.now + config.replyCheckInterval
            }
            if Self.somethingToSend(state: state), let enrollment = try? state.enrollment() {
                worked = true
                let delivery = Delivery(state: state, config: config, enrollment: enrollment)
                // An upload can outlast the watchdog (WatchdogSec): while its bytes flow, the
                // daemon is alive; a stalled one is given up by stall_timeout first.
                for r in await delivery.flushSpool(force: false, moving: { ServiceNotifier.alive() }) ?? [] { log.line(r.line) }
            }
            if let t = ticks, tick >= t { break }
            if worked { RestingMemory.release() }
            // Sleep until the next heartbeat, waking for the watchdog and the spool's retries.
            var wake = nextHeartbeat - ContinuousClock.now
            wake = min(wake, nextTicketCheck - ContinuousClock.now)
            if let w = ServiceNotifier.watchdogInterval { wake = min(wake, w) }
            wake = min(wake, .seconds(60))
            await stop.sleep(for: max(wake, .milliseconds(100)))
        }
        if !stop.requested { ServiceNotifier.stopping() }
        log.line("stopped")
        _ = listener
    }

    /// Longest a heartbeat may take (probes ~1 s, one upload attempt with libcurl's own
    /// timeouts); past it the child is killed so the daemon's loop goes on.
    static let heartbeatDeadline: Duration = .seconds(300)

    /// Longest a check-in may take: up to five bundles collected and sent for technicians'
    /// requests, then one notification per user with news (each `SessionNotifier.deadline`).
    static let checkInDeadline: Duration = .seconds(30 * 60)

    /// The arguments of a child `helpline daemon --ONCE`: it resolves settings as this
    /// process did (the same flags, the same environment, the state folder already resolved).
    static func childArguments(_ once: String, state: AgentState, agent: AgentFlags) -> [String] {
        var arguments = ["daemon", once, "--state-dir", state.directory]
        if let c = agent.configFile { arguments += ["--config", c] }
        if let s = agent.server { arguments += ["--server", s] }
        if let c = agent.caFile { arguments += ["--ca-file", c] }
        return arguments
    }

    /// Sends one heartbeat, if enrolled, from a child `helpline daemon --heartbeat-once`
    /// (`DaemonChild` says why), and shows its time in the unit's status.
    static func beat(state: AgentState, config: AgentConfig, agent: AgentFlags, log: DaemonLog) async {
        // Whether the file is there, not what it says: decoding it here would keep JSON's
        // pages resident in the daemon. The child reads it, and says if it is damaged.
        guard FileManager.default.fileExists(atPath: state.enrollmentPath) else {
            log.line("not enrolled; no heartbeat (run helpline enroll)")
            return
        }
        let child = DaemonChild(what: "heartbeat", arguments: childArguments("--heartbeat-once", state: state, agent: agent),
                                deadline: heartbeatDeadline)
        switch await child.run() {
        case .delivered:
            // Only the main process may talk to systemd (NotifyAccess=main), so the status is set here.
            let spooled = Spool(directory: state.spoolDirectory, maxBundles: config.spoolMaxBundles, maxBytes: config.spoolMaxBytes).items().count
            ServiceNotifier.status("last heartbeat \(ClockTime.local(Date())); \(spooled) waiting")
        case .notDelivered:
            break
        case .failed(let why):
            log.line("heartbeat not delivered: \(why)")
        }
    }

    /// Checks in, if enrolled, from a child `helpline daemon --check-in-once`
    /// (`checkInInThisProcess` says what it does; `DaemonChild` why in a child).
    static func checkIn(state: AgentState, agent: AgentFlags, log: DaemonLog) async {
        // Not enrolled: nothing to ask, and the heartbeat already said so.
        guard FileManager.default.fileExists(atPath: state.enrollmentPath) else { return }
        let child = DaemonChild(what: "check-in", arguments: childArguments("--check-in-once", state: state, agent: agent),
                                deadline: checkInDeadline)
        if case .failed(let why) = await child.run() { log.line("check-in not finished: \(why)") }
    }

    /// The check-in itself, which `--check-in-once` runs in the child: technicians' requests
    /// for fresh bundles, then, with `notify_replies`, replies and status changes for users.
    static func checkInInThisProcess(state: AgentState, config: AgentConfig, log: DaemonLog) async {
        await answerBundleRequests(state: state, config: config, log: log)
        if config.notifyReplies {
            await tellUsersAboutTickets(state: state, config: config, notifier: SessionNotifier.forThisMachine(), log: log)
        }
    }

    /// Sends one heartbeat from this process; `--heartbeat-once` runs it in the child.
    /// - Returns: whether the collector took it (if not, the reason is logged).
    static func beatInThisProcess(state: AgentState, config: AgentConfig, log: DaemonLog) async -> Bool {
        let enrollment: AgentState.Enrollment
        do {
            guard let e = try state.enrollment() else {
                log.line("not enrolled; no heartbeat (run helpline enroll)")
                return false
            }
            enrollment = e
        } catch {
            log.line("heartbeat not sent: \(error)")
            return false
        }
        let spooled = Spool(directory: state.spoolDirectory, maxBundles: config.spoolMaxBundles, maxBytes: config.spoolMaxBytes).items().count
        let beat: Heartbeat
        do { beat = try await HeartbeatSnapshot.take(hostID: enrollment.hostID, spooled: spooled, redaction: config.redaction) } catch {
            log.line("heartbeat not sent: its redaction cannot be set up: \(error)")
            return false
        }
        let client = CollectorClient(server: config.server ?? enrollment.server, token: enrollment.hostToken, config: config)
        do {
            _ = try await client.heartbeat(beat)
            // The inventory goes from this child too, so its dpkg reading and JSON stay out of the daemon.
            await sendInventoryIfDue(state: state, config: config, log: log)
            return true
        } catch {
            log.line("heartbeat not delivered: \(error)")
            return false
        }
    }

    /// Looks at this computer's tickets and shows each user a notification of new replies and
    /// status changes on the tickets their requests opened (`ReplyNotices`), remembering what
    /// was told (`NoticeLedger`). A user without a session now is told at a later check-in.
    /// Runs in the check-in child (`--check-in-once`).
    static func tellUsersAboutTickets(state: AgentState, config: AgentConfig, notifier: SessionNotifier, log: DaemonLog) async {
        guard let enrollment = try? state.enrollment() else { return }
        let client = CollectorClient(server: config.server ?? enrollment.server, token: enrollment.hostToken, config: config)
        let tickets: [HostTicket]
        // One attempt: a background look that the next check-in repeats anyway, and the spool
        // flush after it should not wait out retries while the collector is away.
        do { tickets = try await client.tickets(attempts: 1).tickets } catch {
            log.line("tickets not checked for replies: \(error)")
            return
        }
        let ledger = NoticeLedger(state: state)
        let before = ledger.load()
        let (notices, told) = ReplyNotices.changes(in: tickets, since: before)
        var seen = told
        var pending: [ReplyNotice] = []
        for notice in notices {
            switch await notifier.show(notice) {
            case .shown: log.line("told \(notice.user) about ticket \(notice.tickets.map { "#\($0)" }.joined(separator: ", "))")
            case .noSession: pending.append(notice)
            case .failed(let why): log.line("could not tell \(notice.user) about their ticket: \(why)")
            }
        }
        if let before, !pending.isEmpty { seen = ReplyNotices.keepPending(pending, in: seen, before: before) }
        guard seen != before else { return }
        do { try ledger.save(seen) } catch { log.line("cannot remember which replies were told: \(error)") }
    }

    /// Whether the spool or the outgoing folder holds anything: two directory listings, so an
    /// idle tick decodes no JSON and takes no lock. Pages touched once stay resident in the
    /// daemon, and every tick used to touch those (BENCHMARKS.md, "Agent daemon at rest,
    /// small"); `readdir` rather than FileManager for the same reason (Foundation's listing,
    /// and the error it builds for a folder not made yet, run on pages all over the binary).
    static func somethingToSend(state: AgentState) -> Bool {
        // Dot files are the spool's lock; everything else is a bundle or its state.
        for folder in [state.spoolDirectory, state.directory + "/outgoing"] {
            guard let dir = opendir(folder) else { continue }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let dot = UInt8(ascii: ".")
                let first = withUnsafeBytes(of: entry.pointee.d_name) { $0.first ?? dot }
                if first != dot { return true }
            }
        }
        return false
    }

    /// The longest journal window the daemon collects for a user who is not root: it reads the
    /// system journal on their behalf, so less than root could ask for.
    static let maxUserLookback: Duration = .seconds(7 * 86_400)

    /// The collection options for a user's request: `since` as sent over the socket, checked
    /// like `--since`, and at most `maxUserLookback`.
    /// - Throws: `InputValueError` when `since` is not a duration in range.
    static func daemonOptions(since: String?) throws(InputValueError) -> CollectOptions {
        var options = CollectOptions()
        if let since {
            options.allSince = min(try DurationText.parse(since, for: "--since", in: InputLimits.journalLookback), maxUserLookback)
            options.importantSince = max(options.importantSince, options.allSince)
        }
        return options
    }

    /// What a finding's title and advice go through before a user who is not root sees them:
    /// the identifier redaction (this computer's user and host names, e-mail, IP and MAC
    /// addresses), whatever agent.conf says, since journal rules fill them from what they matched.
    static func ordinaryUserMask() -> @Sendable (String) -> String {
        let options = RedactionOptions(emails: true, usernames: true, ipAddresses: true, macAddresses: true, hostnames: true)
        guard let redactor = try? Redactor(options: options, identities: RedactionIdentities.read(sysroot: "")) else {
            return { _ in "(shown to the help desk)" }
        }
        return { redactor.redact($0) }
    }

    /// The collection options for a user's request over the socket: `daemonOptions(since:)`,
    /// and agent.conf's redaction with the opt-in redactions the user asked for added (never
    /// removed).
    /// - Throws: `InputValueError` when `since` is out of range or a redaction is unknown.
    static func daemonOptions(for request: DaemonRequest, config: AgentConfig) throws(InputValueError) -> CollectOptions {
        var options = request.since == nil ? configuredOptions(config, upTo: maxUserLookback) : try daemonOptions(since: request.since)
        options.redaction = try config.redaction.turningOn(request.redact ?? [])
        return options
    }

    /// What the daemon collects when nobody says otherwise (a user's request without `--since`,
    /// a technician's request): agent.conf's `since` and `important_since` (range-checked when
    /// it was read), at most `limit` (`maxUserLookback` for a user), and its redaction.
    static func configuredOptions(_ config: AgentConfig, upTo limit: Duration = InputLimits.maxJournalLookback) -> CollectOptions {
        var options = CollectOptions()
        if let d = config.since.flatMap(DurationText.parse) { options.allSince = min(d, limit) }
        if let d = config.importantSince.flatMap(DurationText.parse) { options.importantSince = min(d, limit) }
        options.importantSince = max(options.importantSince, options.allSince)
        options.redaction = config.redaction
        return options
    }

    /// Accepts users' requests on a thread of its own and runs them one at a time, until
    /// `listener` stops listening.
    /// - Parameter deadlines: how long a client may take to send its request and to take each
    ///   line of the answer (`SocketDeadlines`); a peer that overruns is dropped.
    static func serve(_ listener: DaemonSocket, state: AgentState, config: AgentConfig, log: DaemonLog,
                      deadlines: SocketDeadlines = .standard) {
        let queue = RequestQueue()
        let limiter = UserRequestLimiter(perHour: config.userRequestsPerHour)
        // Refusals are answered beside the queue, not in it, and not on the accepting thread:
        // the request line is read first (closing with it unread would reset the connection
        // before the client read the answer), within a second, at most `maxRefusing` at once.
        let refusals = DispatchQueue(label: "helpline.daemon.refusals", attributes: .concurrent)
        let refusing = Mutex(0)
        let maxRefusing = 16
        let thread = Thread {
            while let client = listener.accept() {
                guard limiter.enter(client.uid) else {
                    let room = refusing.withLock { n -> Bool in
                        guard n < maxRefusing else { return false }
                        n += 1
                        return true
                    }
                    guard room else { close(client.fd); continue }
                    refusals.async {
                        defer { close(client.fd); refusing.withLock { $0 -= 1 } }
                        var reader = SocketLineReader(fd: client.fd)
                        _ = reader.next(limit: SocketDeadlines.maxRequestBytes, within: .seconds(1))
                        let message = "you already have \(limiter.pendingPerUser) requests with the helpline daemon; wait for their answers"
                        let answer = RequestFlow.Answer(outcome: "not_taken", message: "The helpline daemon did not take the request: \(message).",
                                                        exitCode: ExitCodes.notTaken)
                        _ = SocketLines.send(DaemonMessage(answer: answer, problem: message), to: client.fd, within: .seconds(1))
                        log.line("refused a connection from \(client.userName) (pid \(client.pid)): \(limiter.pendingPerUser) already pending")
                    }
                    continue
                }
                queue.run {
                    defer { limiter.leave(client.uid) }
                    await handle(client, state: state, config: config, log: log, deadlines: deadlines, limiter: limiter)
                }
            }
        }
        thread.name = "helpline-socket"
        thread.start()
    }

    private static func handle(_ client: DaemonSocket.Client, state: AgentState, config: AgentConfig, log: DaemonLog,
                               deadlines: SocketDeadlines, limiter: UserRequestLimiter) async {
        defer {
            close(client.fd)
            // A status look or a collection ran in this process: give back the pages it touched.
            RestingMemory.release()
        }
        var reader = SocketLineReader(fd: client.fd)
        let line: [UInt8]
        switch reader.next(limit: SocketDeadlines.maxRequestBytes, within: deadlines.request) {
        case .line(let l): line = l
        case .end: return
        case .timedOut:
            log.line("dropped a connection from \(client.userName) (pid \(client.pid)): no request within \(deadlines.request)")
            return
        case .tooLong:
            log.line("dropped a connection from \(client.userName) (pid \(client.pid)): request longer than \(SocketDeadlines.maxRequestBytes) bytes")
            return
        }
        guard let request = try? BundleJSON.decoder().decode(DaemonRequest.self, from: Data(line)) else { return }
        let peer = PeerLines(fd: client.fd, within: deadlines.answerLine)
        let user = client.userName
        if request.action == "status" {
            // Only the tickets this user's requests opened: the user is who the kernel says.
            log.line("status for \(user) (pid \(client.pid))")
            var reply = DaemonMessage()
            if let enrollment = try? state.enrollment() {
                let collector = CollectorClient(server: config.server ?? enrollment.server, token: enrollment.hostToken, config: config)
                do { reply.tickets = try await collector.tickets(requestedBy: user).tickets } catch { reply.problem = "\(error)" }
            } else {
                reply.problem = "this computer is not connected to a help desk yet"
            }
            peer.send(reply)
            return
        }
        if let wait = limiter.request(client.uid) {
            let minutes = max(1, Int((Double(wait.components.seconds) / 60).rounded(.up)))
            let answer = RequestFlow.Answer(
                outcome: "not_taken",
                message: "The helpline daemon did not take the request: you asked for help \(limiter.perHour) times this hour, the most it takes from one user (user_requests_per_hour in /etc/helpline/agent.conf). Try again in \(minutes) min, or call your help desk.",
                exitCode: ExitCodes.notTaken)
            peer.send(DaemonMessage(answer: answer))
            log.line("request from \(user) (pid \(client.pid)): refused, \(limiter.perHour) this hour")
            return
        }
        log.line("request from \(user) (pid \(client.pid))")
        let options: CollectOptions
        do {
            // `helpline request` checks the note's size before sending; a hand-made client's
            // longer note would make a bundle the collector refuses.
            if let note = request.note, note.utf8.count > NoteFlags.maxNoteBytes {
                throw ValidationError("the note is \(note.utf8.count) bytes, over the \(NoteFlags.maxNoteBytes) a note may hold")
            }
            options = try daemonOptions(for: request, config: config)
        } catch {
            // `helpline request` checks --since and the note before sending, so only a hand-made client gets here.
            let answer = RequestFlow.Answer(outcome: "collection_failed", message: "The helpline daemon refused the request: \(error)",
                                            exitCode: ExitCodes.collectionFailed)
            peer.send(DaemonMessage(answer: answer))
            log.line("request from \(user): refused, \(error)")
            return
        }
        var flow = RequestFlow(state: state, config: config, options: options, note: request.note, requestedBy: user)
        let mask = client.uid == 0 ? nil : ordinaryUserMask()
        if let mask { flow.shown = { $0.forOrdinaryUser(mask) } }
        let answer = await flow.run { text in peer.send(DaemonMessage(progress: text)) }
        peer.send(DaemonMessage(answer: mask.map { answer.forOrdinaryUser($0) } ?? answer))
        log.line("request from \(user): \(answer.outcome)")
    }
}

/// The lines the daemon sends one client. Once the client failed to take one within the
/// time (gone, or no longer reading), later lines are not tried: the request still runs to
/// its end, without waiting out the deadline again for every progress line.
private final class PeerLines: Sendable {
    private let fd: Int32
    private let within: Duration
    private let gone = Mutex(false)

    init(fd: Int32, within: Duration) {
        self.fd = fd
        self.within = within
    }

    func send(_ message: DaemonMessage) {
        gone.withLock { gone in
            if !gone { gone = !SocketLines.send(message, to: fd, within: within) }
        }
    }
}

/// Runs queued requests one at a time (a collection uses both cores already).
final class RequestQueue: @unchecked Sendable {
    // @unchecked: `tail` is guarded by `lock`.
    private let lock = NSLock()
    private var tail: Task<Void, Never>?

    func run(_ work: @escaping @Sendable () async -> Void) {
        lock.lock()
        let previous = tail
        tail = Task {
            await previous?.value
            await work()
        }
        lock.unlock()
    }
}

/// Plain lines on stderr, which journald captures with the unit's name.
struct DaemonLog: Sendable {
    func line(_ text: String) { Console.error(text) }
}

/// The heartbeat's health snapshot, taken with the same probes as a bundle, trimmed.
enum HeartbeatSnapshot {
    /// Runs the system, memory, disks, processes and units probes and keeps the essentials,
    /// redacted as a bundle is (agent.conf's `redaction`).
    /// - Parameters:
    ///   - redaction: the organisation's redaction (`AgentConfig.redaction`).
    ///   - sysroot: the system to read (`""`, this one; tests give a fixture tree).
    /// - Throws: `RedactionError` when the redactor cannot be built (a bad `rules_dir`): no
    ///   heartbeat is better than one its rules did not clean.
    static func take(hostID: String, spooled: Int, redaction: RedactionOptions, sysroot: String = "") async throws -> Heartbeat {
        let redactor = try Redactor(options: redaction, identities: RedactionIdentities.read(sysroot: sysroot))
        var options = CollectOptions()
        options.sysroot = sysroot
        options.cpuSampleInterval = .milliseconds(250)
        options.redaction = redaction
        let context = ProbeContext(sysroot: sysroot, now: Date(), options: options, redactor: redactor)
        let wanted = ["system", "memory", "disks", "processes", "units"]
        var outputs: [String: [UInt8]] = [:]
        for probe in ProbeRegistry.all where wanted.contains(probe.name) {
            let result = await Collection.onThread(name: "helpline-\(probe.name)", timeout: probe.timeout) {
                try? probe.collect(context)
            }
            if let output = result ?? nil, output.status != .error, output.status != .skipped { outputs[probe.name] = output.bytes }
        }
        let decoder = BundleJSON.decoder()
        func decode<T: Decodable>(_ type: T.Type, _ name: String) -> T? {
            outputs[name].flatMap { try? decoder.decode(T.self, from: Data($0)) }
        }
        let processes = Heartbeat.topProcesses(of: decode(ProcessList.self, "processes")?.processes ?? [])
        return Heartbeat(host: HostIdentity.read(context: context, hostID: hostID), sentAt: Date(), agentVersion: AgentVersion.current,
                         system: decode(SystemInfo.self, "system"), memory: decode(MemoryInfo.self, "memory"),
                         filesystems: decode(DiskInfo.self, "disks")?.filesystems ?? [], topProcesses: processes,
                         failedUnits: decode(UnitsInfo.self, "units")?.failed ?? [], spooledBundles: spooled)
    }
}
