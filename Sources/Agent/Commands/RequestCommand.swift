import ArgumentParser
import Foundation
import Shared

/// `helpline` / `helpline request`: collect, send, and answer in plain words.
struct RequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Ask for help: collect what a technician needs, send it, and show the ticket and what was found.")

    @OptionGroup var agent: AgentFlags
    @OptionGroup var flags: CollectionFlags

    @Option(name: .long, help: "A few words about the problem (asked for in a terminal when not given; Enter skips).")
    var note: String?

    @Flag(name: .long, help: "Print the result as JSON (for scripts and the desktop launcher).")
    var json = false

    func run() async throws {
        let (state, config) = try agent.load()
        guard let enrollment = try state.enrollment() else {
            emit(.init(outcome: "not_enrolled", message: "This computer is not connected to a help desk yet. An administrator can connect it with: helpline enroll --server URL --secret SECRET"))
            throw ExitCode(ExitCodes.notEnrolled)
        }
        let interactive = !json && Console.stderrIsTerminal
        var note = self.note
        if note == nil, !json, isatty(0) == 1 {
            FileHandle.standardError.write(Data("What is going wrong? (a few words, Enter to skip): ".utf8))
            note = readLine(strippingNewline: true)
        }

        var options = flags.options
        if let s = config.since, flags.since == "1h", let d = DurationText.parse(s) { options.allSince = d }
        var collection = Collection(options: options, note: note)
        collection.hostID = enrollment.hostID
        collection.requestedBy = ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"]
        collection.compressionLevel = flags.compressionLevel
        if interactive {
            Console.error("Collecting what a technician would ask for…")
            collection.progress = { report in
                Console.error("  \(report.name): \(report.status == .ok ? "done" : report.status.rawValue)\(report.items > 0 ? " (\(report.items) items)" : "")")
            }
        }
        try state.prepare()
        let staging = state.directory + "/outgoing"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = staging + "/bundle-\(UUID().uuidString.lowercased().prefix(8)).tar.gz"
        let result: Collection.Result
        do { result = try await collection.run(to: path) } catch {
            emit(.init(outcome: "collection_failed", message: "Could not gather the information: \(error)"))
            throw ExitCode(ExitCodes.collectionFailed)
        }
        if !result.redactionMapping.isEmpty {
            try? FileManager.default.createDirectory(atPath: state.directory + "/mappings", withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
            try? BundleNaming.saveMapping(result.redactionMapping, besides: state.directory + "/mappings/\(result.manifest.bundleID)")
        }

        let delivery = Delivery(state: state, config: config, enrollment: enrollment)
        if interactive { Console.error("Sending \(Report.size(result.bundle.bytes))…") }
        let progress: (@Sendable (Int64, Int64) -> Void)? = interactive && result.bundle.bytes > 2_000_000 ? UploadProgress().report : nil
        let outcome = await delivery.send(bundleAt: result.bundle.path, manifest: result.manifest, progress: progress)
        switch outcome {
        case .delivered(let receipt):
            emit(.init(outcome: "delivered", message: Report.receipt(receipt), receipt: receipt, bundleID: result.manifest.bundleID,
                       unreadable: Report.unreadable(result.manifest)))
            // The collector is reachable: send anything older that was waiting.
            _ = await delivery.flushSpool(force: false)
        case .spooled(let reason):
            emit(.init(outcome: "spooled", message: "The help desk could not be reached right now (\(reason)). Your request is saved on this computer and will be sent automatically; the ticket will follow. Check with: helpline status",
                       bundleID: result.manifest.bundleID))
            throw ExitCode(ExitCodes.spooled)
        case let .rejected(message, keptAt):
            emit(.init(outcome: "rejected", message: "The help desk refused the request: \(message). Nothing was lost: the bundle is at \(keptAt) for you to look at or send by other means.",
                       bundleID: result.manifest.bundleID, keptAt: keptAt))
            throw ExitCode(ExitCodes.rejected)
        case let .notKept(reason, keptAt):
            emit(.init(outcome: "not_kept", message: "The request could not be sent: \(reason). The bundle is at \(keptAt).",
                       bundleID: result.manifest.bundleID, keptAt: keptAt))
            throw ExitCode(ExitCodes.notKept)
        }
    }

    /// What `--json` prints; the text form prints `message`.
    struct Answer: Encodable {
        var outcome: String
        var message: String
        var receipt: BundleReceipt?
        var bundleID: String?
        var keptAt: String?
        var unreadable: [String]?
    }

    private func emit(_ answer: Answer) {
        if json {
            Console.out(String(decoding: (try? BundleJSON.encoder(pretty: true).encode(answer)) ?? Data(), as: UTF8.self))
        } else if answer.outcome == "delivered" {
            Console.out(answer.message)
            if let u = answer.unreadable, !u.isEmpty {
                Console.out("Note: some things could not be read without more rights: \(u.joined(separator: "; ")).")
            }
        } else {
            Console.error(answer.message)
        }
    }
}

/// Prints upload percentage on stderr, at most once per 10 %.
final class UploadProgress: @unchecked Sendable {
    // @unchecked: `last` is touched only from libcurl's callback on the upload thread.
    private var last = -10
    var report: @Sendable (Int64, Int64) -> Void {
        { [self] sent, total in
            guard total > 0 else { return }
            let pct = Int(sent * 100 / total)
            if pct >= last + 10 {
                last = pct - pct % 10
                Console.error("  uploaded \(last)%")
            }
        }
    }
}
