import Foundation
import Shared

/// A user's request for help from start to answer: collect, send (or spool), answer.
/// Used by `helpline request` directly and by the daemon on behalf of ordinary users.
struct RequestFlow: Sendable {
    var state: AgentState
    var config: AgentConfig
    var options: CollectOptions
    var note: String?
    var requestedBy: String?
    var compressionLevel: Int32 = 3
    /// `technician_request` when the daemon answers a technician's request for a fresh bundle.
    var reason: BundleReason = .userRequest
    /// That request's id, written into the manifest so the bundle joins its ticket.
    var bundleRequestID: Int64?
    /// For a user who is not root: how a finding found here is shown to them as the request
    /// runs (`Finding.forOrdinaryUser`); nil shows findings whole.
    var shown: (@Sendable (Finding) -> Finding)?

    /// What the user is told, and the exit code that goes with it.
    struct Answer: Codable, Sendable {
        /// `delivered`, `spooled`, `rejected`, `not_kept`, `not_enrolled`, `collection_failed`.
        var outcome: String
        /// The same in plain words.
        var message: String
        /// The collector's answer (its findings are the help desk's diagnosis).
        var receipt: BundleReceipt?
        var bundleID: String?
        /// Where the bundle is when it was not delivered (spooled, set aside, or kept).
        var keptAt: String?
        /// What could not be read without more rights.
        var unreadable: [String]?
        /// What the same rules found on this computer, before any answer from the help desk.
        var localFindings: [Finding]?
        var exitCode: Int32

        /// The answer as the daemon gives it to a user who is not root: each finding's rule,
        /// severity, title and advice for the user, without the technician's detail, advice,
        /// subject and evidence. The daemon reads the system journal on the user's behalf, and
        /// evidence quotes it (other users' failed logins, other services' errors), which an
        /// ordinary account may not read; the help desk still gets everything.
        /// `mask` goes over the title and advice kept: journal rules fill them from what they
        /// matched ("Signing in as bob keeps failing", "… from 203.0.113.9").
        func forOrdinaryUser(_ mask: (String) -> String) -> Answer {
            var a = self
            a.localFindings = localFindings?.map { $0.forOrdinaryUser(mask) }
            a.receipt?.findings = receipt?.findings.map { $0.forOrdinaryUser(mask) } ?? []
            return a
        }
    }

    /// Runs the request; `progress` hears one line per step.
    ///
    /// Enrolled or not, online or not, the user gets an answer: the bundle is collected and
    /// diagnosed here first. Then it is sent (enrolled), or kept in the spool to be sent once
    /// this computer is enrolled (not enrolled).
    func run(progress: (@Sendable (String) -> Void)?) async -> Answer {
        let enrollment: AgentState.Enrollment?
        do {
            enrollment = try state.enrollment()
            try state.prepare()
        } catch {
            return Answer(outcome: "not_enrolled", message: "\(error)", exitCode: ExitCodes.notEnrolled)
        }
        var collection = Collection(options: options, note: note)
        collection.hostID = enrollment?.hostID
        collection.requestedBy = requestedBy
        collection.compressionLevel = compressionLevel
        collection.reason = reason
        collection.bundleRequestID = bundleRequestID
        if let progress {
            progress("Collecting what a technician would ask for…")
            collection.progress = { report in
                progress("  \(report.name): \(report.status == .ok ? "done" : report.status.rawValue)\(report.items > 0 ? " (\(report.items) items)" : "")")
            }
        }
        let outgoing = OutgoingFolder(directory: state.directory + "/outgoing")
        let stem = "bundle-\(UUID().uuidString.lowercased().prefix(8))"
        let path = outgoing.bundlePath(stem)
        let result: Collection.Result
        // Held until the bundle is delivered, spooled or set aside: if this process dies
        // first, the next flush takes the bundle (or the collection's temp files) over.
        let claim: OutgoingFolder.Claim?
        do {
            try FileManager.default.createDirectory(atPath: outgoing.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            claim = outgoing.claim(stem)
            result = try await collection.run(to: path)
        } catch {
            return Answer(outcome: "collection_failed", message: "Could not gather the information: \(error)", exitCode: ExitCodes.collectionFailed)
        }
        defer { claim?.release() }
        let mappings = state.directory + "/mappings"
        if !result.redactionMapping.isEmpty {
            try? FileManager.default.createDirectory(atPath: mappings, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try? BundleNaming.saveMapping(result.redactionMapping, besides: mappings + "/\(result.manifest.bundleID)")
        }
        Self.pruneMappings(in: mappings, olderThan: config.mappingRetention)
        let id = result.manifest.bundleID
        let unreadable = Report.unreadable(result.manifest).nilIfEmpty

        progress?("Looking for known problems on this computer…")
        let found = LocalDiagnosis.findings(bundleAt: result.bundle.path) { progress?("  \($0)") }
        let local = shown.map { shown in found?.map(shown) } ?? found
        if let local, let progress {
            for line in Report.localFindings(local) { progress(line) }
        }

        guard let enrollment else {
            return keepUntilEnrolled(result, local: local, unreadable: unreadable, findingsShown: progress != nil)
        }
        let delivery = Delivery(state: state, config: config, enrollment: enrollment)
        progress?("Sending \(Report.size(result.bundle.bytes))…")
        let upload: (@Sendable (Int64, Int64) -> Void)? = progress != nil && result.bundle.bytes > 2_000_000
            ? UploadProgress(progress!).report : nil
        // Shown once: as progress when someone watches, else in the final message.
        let localText = progress != nil ? "" : local.map { Report.localFindings($0).joined(separator: "\n") } ?? ""
        switch await delivery.send(bundleAt: result.bundle.path, manifest: result.manifest, progress: upload) {
        case .delivered(let receipt):
            // The collector is reachable: send anything older that was waiting.
            _ = await delivery.flushSpool(force: false)
            return Answer(outcome: "delivered", message: Report.receipt(receipt), receipt: receipt, bundleID: id,
                          unreadable: unreadable, localFindings: local, exitCode: ExitCodes.delivered)
        case .spooled(let reason):
            return Answer(outcome: "spooled", message: "The help desk could not be reached right now (\(reason)). Your request is saved on this computer and will be sent automatically; the ticket will follow. Check with: helpline status"
                            + (localText.isEmpty ? "" : "\n" + localText),
                          bundleID: id, keptAt: delivery.spool.bundlePath(id), unreadable: unreadable, localFindings: local, exitCode: ExitCodes.spooled)
        case let .rejected(message, keptAt):
            let kept = setAside(keptAt, id: id, in: "rejected")
            return Answer(outcome: "rejected", message: "The help desk refused the request: \(message). Nothing was lost: the bundle is at \(kept) for you to look at or send by other means."
                            + (localText.isEmpty ? "" : "\n" + localText),
                          bundleID: id, keptAt: kept, unreadable: unreadable, localFindings: local, exitCode: ExitCodes.rejected)
        case let .notKept(reason, keptAt):
            let kept = setAside(keptAt, id: id, in: "unsent")
            return Answer(outcome: "not_kept", message: "The request could not be sent: \(reason). The bundle is at \(kept)."
                            + (localText.isEmpty ? "" : "\n" + localText),
                          bundleID: id, keptAt: kept, unreadable: unreadable, localFindings: local, exitCode: ExitCodes.notKept)
        }
    }

    /// Not enrolled: the bundle waits in the spool (sent by `helpline spool flush` or the daemon
    /// once this computer is enrolled; the collector accepts it by its machine id), and the
    /// user hears what was found here and how to hand the bundle over meanwhile.
    private func keepUntilEnrolled(_ result: Collection.Result, local: [Finding]?, unreadable: [String]?, findingsShown: Bool) -> Answer {
        let id = result.manifest.bundleID
        let spool = Spool(directory: state.spoolDirectory, maxBundles: config.spoolMaxBundles, maxBytes: config.spoolMaxBytes)
        var kept: String
        var how: String
        do {
            try spool.add(bundleAt: result.bundle.path, manifest: result.manifest)
            kept = spool.bundlePath(id)
            how = "It is sent automatically once this computer is connected to the help desk (an administrator runs: helpline enroll --server URL --secret-file FILE)."
        } catch {
            kept = setAside(result.bundle.path, id: id, in: "unsent")
            how = "It could not be queued to be sent later (\(error))."
        }
        var lines = ["This computer is not connected to a help desk yet, so nothing was sent.",
                     "Your request is saved at \(kept). \(how) Meanwhile you can give that file to your help desk."]
        if let local, !findingsShown { lines += Report.localFindings(local) }
        return Answer(outcome: "not_enrolled", message: lines.joined(separator: "\n"), bundleID: id, keptAt: kept,
                      unreadable: unreadable, localFindings: local, exitCode: ExitCodes.notEnrolled)
    }
}

extension RequestFlow {
    /// Moves a bundle the user was told about out of `outgoing/` into `<state>/<folder>/<id>.tar.gz`,
    /// where no flush takes it over; answers where it is now (where it was, if the move failed).
    /// The folder keeps the spool's limits, its oldest bundles deleted first (`Spool.pruneSetAside`).
    func setAside(_ path: String, id: String, in folder: String) -> String {
        let aside = state.directory + "/" + folder
        let target = aside + "/\(id).tar.gz"
        do {
            try FileManager.default.createDirectory(atPath: aside, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try DurableFile.move(path, to: target)
            Spool.pruneSetAside(aside, keeping: "\(id).tar.gz", maxBundles: config.spoolMaxBundles, maxBytes: config.spoolMaxBytes)
            return target
        } catch {
            return path
        }
    }

    /// Deletes the redaction mappings (`*.map.json`) in `folder` last written more than
    /// `retention` before `now` (`mapping_retention`): they hold the real identifiers behind a
    /// request's placeholders, needed while its ticket is worked on, not forever. Anything
    /// else in the folder, and a file that cannot be read, is left alone.
    /// - Returns: how many were deleted.
    @discardableResult
    static func pruneMappings(in folder: String, olderThan retention: Duration, now: Date = Date()) -> Int {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: folder) else { return 0 }
        let cutoff = now.addingTimeInterval(-Double(retention.components.seconds))
        var deleted = 0
        for name in names where name.hasSuffix(".map.json") {
            let path = folder + "/" + name
            guard let attributes = try? fm.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeRegular,
                  let written = attributes[.modificationDate] as? Date, written < cutoff else { continue }
            if (try? fm.removeItem(atPath: path)) != nil { deleted += 1 }
        }
        return deleted
    }
}

/// Reports upload percentage, at most once per 10 %.
final class UploadProgress: @unchecked Sendable {
    // @unchecked: `last` is touched only from libcurl's callback on the upload thread.
    private var last = -10
    private let sink: @Sendable (String) -> Void
    init(_ sink: @escaping @Sendable (String) -> Void) { self.sink = sink }
    var report: @Sendable (Int64, Int64) -> Void {
        { [self] sent, total in
            guard total > 0 else { return }
            let pct = Int(sent * 100 / total)
            if pct >= last + 10 {
                last = pct - pct % 10
                sink("  uploaded \(last)%")
            }
        }
    }
}

extension Array {
    /// nil for an empty array.
    var nilIfEmpty: Self? { isEmpty ? nil : self }
}

extension Finding {
    /// The finding as the daemon shows it to a user who is not root: rule, severity, title and
    /// advice for the user (both through `mask`), without the technician's detail and advice,
    /// the subject or the evidence, which quote the system journal the daemon read for them
    /// (other users' failed logins, other services' errors).
    func forOrdinaryUser(_ mask: (String) -> String) -> Finding {
        Finding(ruleID: ruleID, category: category, severity: severity, confidence: confidence, title: mask(title),
                detail: "", userAdvice: mask(userAdvice), technicianAdvice: "")
    }
}
