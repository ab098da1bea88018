import Foundation
import Logging
import ServiceLifecycle
import Shared

/// Delivers the outbox: fans each new event out to the backends whose filter it passes,
/// then, for each backend side by side, claims its due deliveries one at a time and sends
/// them, with exponential backoff and a dead-letter state after `integration_max_attempts`.
///
/// Exactly-once is approached from both ends: a delivery is claimed atomically (so two
/// workers, here or in another collector on the same database, never send it together) and
/// marked delivered in the transaction that stores the remote key; the remote gets the
/// event's id as an idempotency key where it supports one (webhook, Zendesk), and Jira and
/// GitHub issues carry it as a mark that is looked for before creating (`issueMarker`). What
/// remains is a comment sent again when a collector dies between the remote's answer and that
/// commit: the lease runs out and the delivery is sent again (docs/integrations.md).
public struct IntegrationWorker: Service {
    let outbox: any IntegrationOutbox
    let store: any CollectorStore
    let clients: [String: any TicketBackendClient]
    let limits: CollectorLimits
    let publicURL: @Sendable () -> String
    let logger: Logger
    let metrics: CollectorMetrics?

    /// Creates the worker for `backends`.
    public init(outbox: any IntegrationOutbox, store: any CollectorStore, backends: [IntegrationBackend],
                limits: CollectorLimits, publicURL: @escaping @Sendable () -> String, logger: Logger, metrics: CollectorMetrics? = nil) {
        self.metrics = metrics
        self.outbox = outbox
        self.store = store
        var clients: [String: any TicketBackendClient] = [:]
        for b in backends { clients[b.name] = clientFor(b) }
        self.clients = clients
        self.limits = limits
        self.publicURL = publicURL
        self.logger = logger
    }

    /// Polls every `integration_poll_interval_ms` until graceful shutdown. A delivery in
    /// flight then is finished, not cancelled (within `integration_request_timeout_seconds`):
    /// a cancelled request the remote had already acted on would be sent again. The HTTP
    /// client lives exactly as long as this (it must be shut down before it is released).
    public func run() async throws {
        let http = IntegrationHTTP(limits: limits)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do { _ = try await runOnce(now: Date(), http: http) } catch {
                logger.error("integration delivery pass failed; will retry", metadata: ["error": "\(error)"])
            }
            // Only the wait is cut short by shutdown.
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: .milliseconds(limits.integrationPollIntervalMS))
            }
        }
        await http.shutdown()
    }

    /// Routes new events, then delivers what is due: the backends side by side, each one
    /// delivery at a time (a ticket's events in order) and at most 100 a pass. A remote that is
    /// down or slow, whose every attempt can take `integration_request_timeout_seconds`, holds
    /// back only its own deliveries.
    /// - Returns: how many deliveries were attempted.
    /// - Throws: the first store error of any backend's loop, after every loop has finished (one
    ///   backend's failure never cancels another's request in flight).
    public func runOnce(now: Date, http: IntegrationHTTP) async throws -> Int {
        try await routeNewEvents(now: now)
        let results = await withTaskGroup(of: Result<Int, any Error>.self) { group in
            for name in clients.keys.sorted() {
                group.addTask {
                    do { return .success(try await self.deliverDue(backend: name, http: http)) } catch { return .failure(error) }
                }
            }
            var results: [Result<Int, any Error>] = []
            for await result in group { results.append(result) }
            return results
        }
        var attempted = 0
        for result in results { attempted += try result.get() }
        return attempted
    }

    /// Claims and sends `backend`'s due deliveries, one at a time, at most 100, with the
    /// backend's TLS trust (`ca_file`) set once for the loop.
    func deliverDue(backend: String, http: IntegrationHTTP) async throws -> Int {
        let http = clients[backend].map { http.trusting($0.backend) } ?? http
        var attempted = 0
        while attempted < 100, !Task.isCancelled, !Task.isShuttingDownGracefully,
              let claim = try await outbox.claimDelivery(backends: [backend], now: Date(), lease: TimeInterval(limits.integrationLeaseSeconds)) {
            attempted += 1
            await deliver(claim, http: http)
        }
        return attempted
    }

    /// One delivery per event and matching backend. Tickets that already have a remote issue
    /// on a backend keep getting its events whatever the filter says now; a change a backend
    /// reported itself (inbound) is not sent back to it; incidents go to webhooks only.
    func routeNewEvents(now: Date) async throws {
        while true {
            let events = try await outbox.unroutedEvents(limit: 200)
            if events.isEmpty { return }
            for event in events {
                var targets: [String] = []
                if let ticketID = event.ticketID {
                    if let facts = try await outbox.routingFacts(ticketID: ticketID) {
                        for (name, client) in clients where name != event.origin {
                            if facts.linkedBackends.contains(name)
                                || client.backend.filter.matches(topCategory: facts.topCategory, worstSeverity: facts.worstSeverity, hostname: facts.hostname) {
                                targets.append(name)
                            }
                        }
                    }
                } else {
                    // An incident spans hosts: a ticket filter does not apply, and trackers get its tickets instead.
                    targets = clients.values.filter { $0.backend.kind == .webhook }.map(\.backend.name)
                }
                try await outbox.route(eventID: event.id, to: targets.sorted(), now: now)
            }
        }
    }

    /// Sends one claimed delivery with `http` (already trusting its backend's CAs) and records
    /// the outcome.
    func deliver(_ claim: ClaimedDelivery, http: IntegrationHTTP) async {
        let d = claim.delivery
        let meta: Logger.Metadata = ["delivery": "\(d.id)", "backend": "\(d.backend)", "event": "\(d.event.kind.rawValue)",
                                     "ticket.id": "\(d.event.ticketID.map(String.init) ?? "-")"]
        let outcome: DeliveryOutcome
        do {
            guard let client = clients[d.backend] else { throw IntegrationError(.refused, "backend \(d.backend) is no longer configured") }
            let context = try await context(for: d)
            switch try await client.deliver(context, http: http, now: Date()) {
            case .sent(let link): outcome = .delivered(link: link)
            case .skipped(let reason): outcome = .skipped(reason: reason)
            }
            logger.info("integration event delivered", metadata: meta)
        } catch let error as IntegrationError {
            outcome = failure(error, attempts: d.attempts + 1)
            logger.warning("integration delivery failed", metadata: meta.merging(["error": "\(error)", "attempt": "\(d.attempts + 1)"]) { a, _ in a })
        } catch {
            outcome = failure(IntegrationError(.transport, "\(error)"), attempts: d.attempts + 1)
            logger.warning("integration delivery failed", metadata: meta.merging(["error": "\(error)"]) { a, _ in a })
        }
        do {
            // Recorded even when shutdown cancelled the attempt: otherwise the row would wait
            // out its lease before anyone tried again.
            let outbox = self.outbox
            let recorded = try await Task { try await outbox.completeDelivery(id: d.id, claimToken: claim.claimToken, outcome: outcome, now: Date()) }.value
            let name: String
            switch outcome {
            case .delivered: name = "delivered"
            case .skipped: name = "skipped"
            case .failed(_, _, let retryAt): name = retryAt == nil ? "dead" : "retry"
            }
            metrics?.integrationDelivery(backend: d.backend, outcome: name)
            if !recorded {
                logger.warning("integration delivery's claim ran out before it finished; raise integration_lease_seconds", metadata: meta)
            }
        } catch {
            logger.error("could not record an integration delivery's outcome", metadata: meta.merging(["error": "\(error)"]) { a, _ in a })
        }
    }

    /// Retry time after the `attempts`-th failure, or nil to dead-letter.
    func failure(_ error: IntegrationError, attempts: Int) -> DeliveryOutcome {
        guard error.kind != .refused, attempts < limits.integrationMaxAttempts else {
            let why = error.kind == .refused ? error.message : "\(error.message) (gave up after \(attempts) attempts: integration_max_attempts)"
            return .failed(error: why, statusCode: error.statusCode, retryAt: nil)
        }
        return .failed(error: error.message, statusCode: error.statusCode, retryAt: Date().addingTimeInterval(Self.backoff(
            attempts: attempts, baseMS: limits.integrationBackoffBaseMS, maxSeconds: limits.integrationBackoffMaxSeconds, retryAfter: error.retryAfter)))
    }

    /// base × 2^(attempts−1), at most `maxSeconds`, and no sooner than a `Retry-After`.
    static func backoff(attempts: Int, baseMS: Int, maxSeconds: Int, retryAfter: Int?) -> TimeInterval {
        let exponent = min(max(attempts - 1, 0), 40)
        let ms = Double(baseMS) * pow(2, Double(exponent))
        let wait = min(ms / 1000, Double(maxSeconds))
        return min(max(wait, Double(retryAfter ?? 0)), Double(maxSeconds))
    }

    /// The ticket or incident as it is now, and the remote link of this backend.
    func context(for d: IntegrationDeliveryRecord) async throws -> IntegrationContext {
        var ticket: TicketDetail?
        var incident: IncidentRecord?
        var links: [TicketRemoteLink] = []
        if let id = d.event.ticketID {
            ticket = try await store.ticket(id: id)
            links = try await outbox.remoteLinks(ticketID: id)
            guard ticket != nil else { throw IntegrationError(.refused, "ticket \(id) no longer exists") }
        } else if let id = d.event.incidentID {
            incident = try await store.incident(id: id)
            guard incident != nil else { throw IntegrationError(.refused, "incident \(id) no longer exists") }
        }
        return IntegrationContext(event: d.event, ticket: ticket, incident: incident, remoteLink: links.first { $0.backend == d.backend },
                                  remoteLinks: links, publicURL: publicURL(), maxTextBytes: limits.integrationMaxDescriptionBytes,
                                  createSettleSeconds: limits.integrationCreateSettleSeconds, lookupMaxPages: limits.integrationLookupMaxPages)
    }
}
