import Foundation
import Synchronization
import Shared

/// Gets a bundle to the collector, or keeps it safe until it can: the user's moment.
struct Delivery: Sendable {
    let state: AgentState
    let config: AgentConfig
    let enrollment: AgentState.Enrollment

    var spool: Spool { Spool(directory: state.spoolDirectory, maxBundles: config.spoolMaxBundles, maxBytes: config.spoolMaxBytes) }
    var client: CollectorClient {
        CollectorClient(server: config.server ?? enrollment.server, token: enrollment.hostToken, config: config)
    }

    /// How sending one bundle ended.
    enum Outcome: Sendable {
        /// Delivered: the collector's answer.
        case delivered(BundleReceipt)
        /// Not delivered now; kept in the spool, sent automatically later.
        case spooled(reason: String)
        /// The collector said no; the bundle stays at `keptAt` for the user to look at.
        case rejected(message: String, keptAt: String)
        /// Neither sent nor kept (spool full); the bundle stays at `keptAt`.
        case notKept(reason: String, keptAt: String)
    }

    /// Sends the bundle at `path` (made for `manifest`); spools it when the collector cannot
    /// be reached. The file is gone afterwards only if it was delivered or spooled.
    func send(bundleAt path: String, manifest: Manifest, progress: (@Sendable (Int64, Int64) -> Void)? = nil) async -> Outcome {
        do {
            let receipt = try await client.upload(bundleAt: path, progress: progress)
            unlink(path)
            return .delivered(receipt)
        } catch let failure as CollectorClient.Failure {
            switch failure {
            case let .rejected(status, code, message):
                return .rejected(message: "\(message) (\(status) \(code))", keptAt: path)
            case .refused(let message):
                // TLS or pinning refused: keeping it for later is right (the collector may be
                // fixed), but the user must hear why.
                return spoolOrKeep(path, manifest, because: message)
            case .unavailable(let message, _):
                return spoolOrKeep(path, manifest, because: message)
            }
        } catch {
            return spoolOrKeep(path, manifest, because: "\(error)")
        }
    }

    private func spoolOrKeep(_ path: String, _ manifest: Manifest, because reason: String) -> Outcome {
        do {
            try spool.add(bundleAt: path, manifest: manifest)
            return .spooled(reason: reason)
        } catch {
            return .notKept(reason: "\(reason); and it could not be kept for later: \(error)", keptAt: path)
        }
    }

    /// One line per spooled item after a flush.
    struct FlushResult: Sendable {
        var bundleID: String
        var delivered: Bool
        var line: String
    }

    /// Sends every waiting bundle (those due, or all with `force`). Nil when another process
    /// is flushing. Items the collector rejects for good (4xx) are moved aside to `rejected/`.
    /// - Parameter moving: called while an upload moves (libcurl's progress), at most once a
    ///   second: the daemon tells systemd's watchdog it is alive, for as long as bytes flow.
    func flushSpool(force: Bool, now: Date = Date(), moving: (@Sendable () -> Void)? = nil) async -> [FlushResult]? {
        let throttle = ProgressThrottle(every: .seconds(1))
        var progress: (@Sendable (Int64, Int64) -> Void)?
        if let moving {
            progress = { @Sendable _, _ in if throttle.due() { moving() } }
        }
        let spool = self.spool
        return await spool.withLock { () -> [FlushResult] in
            var results: [FlushResult] = []
            // Bundles of requests that died before delivering or spooling them join the spool first.
            let recovery = OutgoingFolder(directory: state.directory + "/outgoing").recover(into: spool)
            for problem in recovery.problems {
                results.append(FlushResult(bundleID: "", delivered: false, line: "Could not take over an interrupted request's bundle: \(problem)"))
            }
            for item in spool.items() {
                if !force, let next = item.nextAttemptAt, next > now { continue }
                do {
                    let receipt = try await client.upload(bundleAt: spool.bundlePath(item.bundleID), attempts: 1, patient: true, progress: progress)
                    spool.remove(item.bundleID)
                    results.append(FlushResult(bundleID: item.bundleID, delivered: true,
                                               line: "Sent the bundle from \(item.createdAt.formatted(date: .abbreviated, time: .shortened)): ticket #\(receipt.ticketID) \(receipt.ticketURL)"))
                } catch let CollectorClient.Failure.rejected(status, code, message) {
                    spool.setAside(item.bundleID)
                    spool.remove(item.bundleID)
                    results.append(FlushResult(bundleID: item.bundleID, delivered: false,
                                               line: "The collector refused bundle \(item.bundleID) (\(status) \(code): \(message)); it is kept in \(spool.rejectedDirectory)"))
                } catch {
                    // Exponential backoff with jitter: 1, 2, 4 … minutes, at most 6 hours.
                    let minutes = min(360.0, pow(2.0, Double(min(item.attempts, 9))))
                    let retry = now.addingTimeInterval(minutes * 60 * Double.random(in: 0.8...1.2))
                    spool.recordFailure(item, error: "\(error)", retryAt: retry)
                    results.append(FlushResult(bundleID: item.bundleID, delivered: false,
                                               line: "Still waiting: bundle \(item.bundleID) (\(error)); next try after \(retry.formatted(date: .omitted, time: .shortened))"))
                }
            }
            return results
        }
    }
}

/// True at most once per interval (progress callbacks come many times a second).
final class ProgressThrottle: Sendable {
    private let every: Duration
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(every: Duration) { self.every = every }

    /// Whether the interval has passed since the last time this answered true.
    func due() -> Bool {
        last.withLock { last in
            let now = ContinuousClock.now
            if let l = last, now - l < every { return false }
            last = now
            return true
        }
    }
}
