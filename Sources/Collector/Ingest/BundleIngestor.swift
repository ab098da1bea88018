import Foundation
import Hummingbird
import Logging
import Metrics
import Shared

/// Takes an upload from the first byte to the receipt, without loss and without leftovers.
///
/// 1. Admission: content type (415), declared size (413), a free upload slot (429), free disk (503).
/// 2. The body streams into a temp file while `BundleReader` validates it chunk by chunk
///    (limits enforced as it inflates) and SHA-256 is computed: never buffered whole.
/// 3. The manifest's host must be the token's host (403).
/// 4. Under a per-bundle-id lock: a stored bundle id answers its first receipt; otherwise the
///    temp file is fsynced and renamed into the blob folder, diagnosed, and the bundle,
///    ticket and findings commit in one transaction. A failure removes the blob again
///    (unless a committed row names the same bytes), so it leaves no row and no file.
public struct BundleIngestor: Sendable {
    /// Content types accepted for a bundle body.
    public static let contentTypes: Set<String> = ["application/gzip", "application/x-gzip", "application/octet-stream"]

    let store: any CollectorStore
    let blobs: BlobStore
    let diagnoser: any BundleDiagnoser
    let tickets: TicketService
    let limits: CollectorLimits
    let metrics: CollectorMetrics
    let gate: UploadGate
    let quotas: HostQuotas
    let freeSpace: any FreeSpaceProbe
    let serializer = KeyedSerializer()

    /// What an upload produced.
    public struct Outcome: Sendable {
        /// The receipt (with `duplicate` set when the bundle id was already stored).
        public var receipt: BundleReceipt
    }

    /// Creates the ingestor.
    public init(store: any CollectorStore, blobs: BlobStore, diagnoser: any BundleDiagnoser, tickets: TicketService,
                limits: CollectorLimits, metrics: CollectorMetrics, freeSpace: any FreeSpaceProbe) {
        self.store = store
        self.blobs = blobs
        self.diagnoser = diagnoser
        self.tickets = tickets
        self.limits = limits
        self.metrics = metrics
        self.gate = UploadGate(limit: limits.maxConcurrentUploads, perHostLimit: limits.maxUploadsPerHost, metrics: metrics)
        self.quotas = HostQuotas(store: store, limits: limits, metrics: metrics)
        self.freeSpace = freeSpace
    }

    /// Ingests one upload for `host`.
    /// - Throws: `APIError` with the documented status for every refusal.
    public func ingest(host: HostRecord, request: Request, logger: Logger) async throws -> Outcome {
        do {
            return try await admitAndIngest(host: host, request: request, logger: logger)
        } catch let error as APIError {
            metrics.bundleRejected(reason: error.code)
            throw error
        } catch {
            // Known failures (store, full disk, bundle) are counted under the code they answer.
            if let known = APIError.known(error, retryAfter: limits.retryAfterSeconds) {
                if error is StoreError || error is BlobStoreError {
                    logger.error("storage failure during an upload", metadata: ["error": "\(error)"])
                }
                metrics.bundleRejected(reason: known.code)
                throw known
            }
            metrics.bundleRejected(reason: "internal")
            throw error
        }
    }

    private func admitAndIngest(host: HostRecord, request: Request, logger: Logger) async throws -> Outcome {
        let rawType = request.headers[.contentType] ?? ""
        let mediaType = rawType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard Self.contentTypes.contains(mediaType) else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type",
                           "send the bundle as application/gzip (got '\(rawType.prefix(100))')")
        }
        let declared: Int?
        if let text = request.headers[.contentLength] {
            // HTTP parsers accept lengths past Int's range; such a body is too large anyway.
            guard let n = Int(text), n >= 0, n <= limits.maxBundleBytes else {
                throw APIError(bundle: BundleError(.compressedTooLarge,
                                                   "the bundle is \(text.prefix(24)) bytes, over the limit of \(limits.maxBundleBytes) compressed bytes"))
            }
            declared = n
        } else {
            declared = nil
        }
        // Uploads refused together must not all come back together: the wait is spread
        // between retry_after_seconds and twice that.
        let spread = limits.retryAfterSeconds + Int.random(in: 0...limits.retryAfterSeconds)
        switch await gate.tryAcquire(host: host.id) {
        case nil: break
        case .full?:
            throw APIError.overloaded(.tooManyRequests, code: "too_many_uploads",
                                      "the collector is handling \(limits.maxConcurrentUploads) uploads already; retry after \(spread) s",
                                      retryAfter: spread)
        case .hostFull?:
            throw APIError.overloaded(.tooManyRequests, code: "too_many_uploads_from_host",
                                      "this host is sending \(limits.maxUploadsPerHost) bundles already (max_uploads_per_host); retry after \(spread) s",
                                      retryAfter: spread)
        }
        do {
            let allowance = try await quotas.admit(host: host, declaredBytes: declared, now: Date())
            // The upload's work runs on the ingest threads, never on the pool that answers heartbeats.
            let outcome = try await withTaskExecutorPreference(IngestExecutor.shared) {
                try await admitted(host: host, request: request, declared: declared, allowance: allowance, logger: logger)
            }
            await gate.release(host: host.id)
            return outcome
        } catch {
            await gate.release(host: host.id)
            throw error
        }
    }

    private func admitted(host: HostRecord, request: Request, declared: Int?, allowance: Int64, logger: Logger) async throws -> Outcome {
        let floor = Int64(limits.minFreeDiskMB) << 20
        let needed = floor + Int64(declared ?? 0)
        if let available = freeSpace.availableBytes(at: blobs.root), available < needed {
            logger.warning("refusing upload: disk below its floor", metadata: ["available": "\(available)", "needed": "\(needed)"])
            throw APIError.overloaded(.serviceUnavailable, code: "disk_full",
                                      "the collector's disk is below its free-space floor; retry after \(limits.retryAfterSeconds) s",
                                      retryAfter: limits.retryAfterSeconds)
        }
        let started = ContinuousClock.now
        let upload = try blobs.makeUpload()
        let pass = diagnoser.startPass()
        let reader = try BundleReader(limits: limits.bundleLimits) { pass.consume($0) }
        do {
            for try await chunk in request.body {
                try upload.write(chunk)
                // A chunked body declares no length: the host's quota is checked as it streams.
                if Int64(upload.bytes) > allowance {
                    throw quotas.exceeded(host: host)
                }
                try chunk.withUnsafeReadableBytes { try reader.feed($0) }
            // A floor can be crossed by other writers while this upload streams.
            if upload.bytes & ((8 << 20) - 1) < chunk.readableBytes,
               let available = freeSpace.availableBytes(at: blobs.root), available < floor {
                throw APIError.overloaded(.serviceUnavailable, code: "disk_full",
                                          "the collector's disk fell below its free-space floor during the upload; retry after \(limits.retryAfterSeconds) s",
                                          retryAfter: limits.retryAfterSeconds)
            }
            }
        } catch let error as APIError {
            throw error
        } catch let error as BundleError {
            throw error
        } catch let error as BlobStoreError {
            throw error
        } catch {
            // The body stream failed: the client went away, was cut off for slowness, or sent
            // a malformed chunk. Its request, not the collector, failed.
            throw APIError.badRequest("body_incomplete", "the request body could not be read to its end (\(error)); send the bundle again")
        }
        metrics.bytesIn.increment(by: upload.bytes)
        let contents = try reader.finish()
        let manifestHost = contents.manifest.host
        if manifestHost.hostname.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw APIError(.unprocessableContent, code: "invalid_manifest", "the manifest's hostname contains control characters")
        }
        var logger = logger
        let bundleID = contents.manifest.bundleID.lowercased()
        logger[metadataKey: "bundle.id"] = .string(bundleID)
        if let claimed = manifestHost.hostID {
            guard claimed.lowercased() == host.id.lowercased() else {
                throw APIError.forbidden("host_mismatch", "the bundle says it comes from host \(claimed.prefix(64)), but the token belongs to host \(host.id); a host can only send its own bundles")
            }
        } else if let machine = manifestHost.machineID {
            guard machine == host.machineID else {
                throw APIError.forbidden("host_mismatch", "the bundle's machine id is not the machine id this token was enrolled with; a host can only send its own bundles")
            }
        } else {
            throw APIError.forbidden("host_mismatch", "the bundle names neither a host id nor a machine id; re-create it with an enrolled agent")
        }
        let digest = upload.digest()
        let now = Date()
        let outcome = try await serializer.run(bundleID) { [self, logger] in
            if let existing = try await store.bundleReceipt(bundleID: bundleID) {
                return try duplicate(existing, host: host, logger: logger)
            }
            let blobPath = try blobs.commit(upload, sha256: digest)
            do {
                var findings: [Finding] = []
                do { findings = try await pass.finish(bundleAt: blobPath, contents: contents) } catch {
                    logger.error("diagnosis failed; storing the bundle without findings", metadata: ["error": "\(error)"])
                }
                let bundle = NewBundle(hostID: host.id, hostname: contents.manifest.host.hostname, sha256: digest,
                                       receivedAt: now, contents: contents)
                switch try await store.commitBundle(bundle, findings: findings, policy: tickets) {
                case .stored(let receipt):
                    logger.info("bundle stored", metadata: ["ticket.id": "\(receipt.ticketID)", "bytes": "\(contents.compressedBytes)",
                                                            "findings": "\(receipt.findings.count)"])
                    metrics.bundlesAccepted.increment()
                    return Outcome(receipt: receipt)
                case .duplicate(let hostID, let receipt):
                    try await removeBlobIfUnreferenced(digest)
                    return try duplicate((hostID, receipt), host: host, logger: logger)
                }
            } catch {
                try? await removeBlobIfUnreferenced(digest)
                throw error
            }
        }
        metrics.ingestLatency.recordInterval(since: started)
        return outcome
    }

    private func duplicate(_ existing: (hostID: String, receipt: BundleReceipt), host: HostRecord, logger: Logger) throws -> Outcome {
        guard existing.hostID == host.id else {
            throw APIError(.conflict, code: "bundle_id_conflict",
                           "bundle id \(existing.receipt.bundleID) was already used by another host; bundle ids must be fresh UUIDs")
        }
        logger.info("duplicate bundle answered with its first receipt", metadata: ["ticket.id": "\(existing.receipt.ticketID)"])
        metrics.bundlesDuplicate.increment()
        var receipt = existing.receipt
        receipt.duplicate = true
        return Outcome(receipt: receipt)
    }

    private func removeBlobIfUnreferenced(_ digest: String) async throws {
        // In a shared folder another collector may be committing a row for the same content
        // right now; the orphan sweep removes it later if nobody does.
        guard !blobs.shared else { return }
        if try await !store.isBlobReferenced(sha256: digest) {
            blobs.remove(digest)
        }
    }
}

extension Metrics.Timer {
    /// Records the time since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
