import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

/// What `buildApplication` needs besides the configuration; tests replace parts of it.
public struct CollectorDependencies: Sendable {
    /// The store, already migrated.
    public var store: any CollectorStore
    /// The diagnosis hook (`EmptyDiagnoser` until the rules engine lands).
    public var diagnoser: any BundleDiagnoser
    /// Metrics on their own registry (so tests never touch the global `MetricsSystem`).
    public var metrics: CollectorMetrics
    /// Free-space probe (tests simulate a full disk with it).
    public var freeSpace: any FreeSpaceProbe
    /// Logger for startup and background work.
    public var logger: Logger
    /// Whether `buildApplication` runs the integration delivery worker (tests that drive a
    /// worker themselves turn it off, so two workers do not race for their deliveries).
    public var runsIntegrationWorker = true

    /// Collects the dependencies.
    public init(store: any CollectorStore, diagnoser: any BundleDiagnoser = EmptyDiagnoser(), metrics: CollectorMetrics = CollectorMetrics(),
                freeSpace: any FreeSpaceProbe = StatvfsFreeSpace(), logger: Logger = Logger(label: "helpline.collector")) {
        self.store = store
        self.diagnoser = diagnoser
        self.metrics = metrics
        self.freeSpace = freeSpace
        self.logger = logger
    }
}

/// Builds the router: health and metrics at the root, the API under `/api/v1`.
/// - Parameter heartbeats: the recorder (`buildApplication` gives one answering from the
///   heartbeat log when `heartbeat_backlog_max` is above 0); nil makes one that answers each
///   heartbeat once stored.
public func buildRouter(configuration: CollectorConfiguration, dependencies: CollectorDependencies,
                        blobs: BlobStore, tickets: TicketService? = nil, heartbeats: HeartbeatRecorder? = nil) -> Router<CollectorRequestContext> {
    let store = dependencies.store
    let limits = configuration.limits
    let ingestor = BundleIngestor(store: store, blobs: blobs, diagnoser: dependencies.diagnoser,
                                  tickets: tickets ?? TicketService(publicURL: configuration.publicURL, limits: configuration.limits), limits: limits,
                                  metrics: dependencies.metrics, freeSpace: dependencies.freeSpace)
    let heartbeats = heartbeats ?? HeartbeatRecorder(store: store, metrics: dependencies.metrics, maxBatch: limits.heartbeatBatchMax,
                                                     retryAfter: limits.retryAfterSeconds, logger: dependencies.logger)
    let agent = AgentController(store: store, ingestor: ingestor, heartbeats: heartbeats, limits: limits)
    let indexer = JournalIndexer(store: store, limits: limits, logger: dependencies.logger)
    let technician = TechnicianController(store: store, blobs: blobs, limits: limits, metrics: dependencies.metrics,
                                          publicURL: configuration.publicURL, indexer: indexer)
    let health = HealthController(store: store, metrics: dependencies.metrics, dataDirectory: configuration.dataDirectory,
                                  limits: limits, freeSpace: dependencies.freeSpace)

    let knowledge = RuleKnowledge(store: store, limits: limits, rules: dependencies.diagnoser.rules)
    let fleet = FleetQueries(configuration: configuration, reads: technician.reads, store: store)
    let web = WebController(store: store, blobs: blobs, limits: limits, reads: technician.reads, templates: WebTemplates.compiledIn,
                            fleet: fleet, indexer: indexer, publicURL: configuration.publicURL, tls: configuration.tls != nil,
                            integrations: configuration.integrations, knowledge: knowledge)

    let router = Router(context: CollectorRequestContext.self)
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: RequestMetricsMiddleware(factory: dependencies.metrics.factory))
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.add(middleware: APIErrorMiddleware(retryAfter: limits.retryAfterSeconds))
    router.addRoutes(health.routes)
    router.addRoutes(agent.enrollRoutes, atPath: "/api/v1")
    router.addRoutes(agent.hostRoutes, atPath: "/api/v1")
    router.addRoutes(technician.routes, atPath: "/api/v1")
    router.addRoutes(RuleController(knowledge: knowledge, store: store, limits: limits, publicURL: configuration.publicURL).routes, atPath: "/api/v1")
    router.addRoutes(HostAdminController(store: store, publicURL: configuration.publicURL).routes, atPath: "/api/v1")
    router.addRoutes(FleetController(queries: fleet, store: store, publicURL: configuration.publicURL).routes, atPath: "/api/v1")
    let integrations = IntegrationController(store: store, backends: configuration.integrations, limits: limits, publicURL: configuration.publicURL)
    router.addRoutes(integrations.inboundRoutes, atPath: "/api/v1")
    router.addRoutes(integrations.adminRoutes, atPath: "/api/v1")
    router.addRoutes(web.publicRoutes)
    router.addRoutes(web.routes)
    return router
}

/// The heartbeat log under the data directory, with what an earlier run logged and did not
/// store stored now, before any new heartbeat is taken. Replayed whatever
/// `heartbeat_backlog_max` says now, so heartbeats answered before it was set to 0 are not
/// lost; nil (the log released) when it is 0.
func openHeartbeatLog(configuration: CollectorConfiguration, store: any CollectorStore, metrics: CollectorMetrics, logger: Logger) async throws -> HeartbeatLog? {
    let limits = configuration.limits
    let root = "\(configuration.dataDirectory)/heartbeat-log"
    guard limits.heartbeatBacklogMax > 0 || FileManager.default.fileExists(atPath: root) else { return nil }
    let log = try HeartbeatLog(root: root, segmentBytes: limits.heartbeatLogSegmentMiB << 20)
    let started = ContinuousClock.now
    let replayed = try await log.replay(into: store, batch: limits.heartbeatSortMax)
    if replayed.stored + replayed.unreadable > 0 {
        logger.notice("stored the heartbeats an earlier run had logged and not stored", metadata: [
            "heartbeats": "\(replayed.stored)", "unreadable_records": "\(replayed.unreadable)",
            "seconds": "\((ContinuousClock.now - started).components.seconds)", "slot": "\(log.slot)",
        ])
    }
    for refused in replayed.refused {
        logger.error("the store refused a logged heartbeat on its own while it stored the others; it is set aside (not stored)", metadata: [
            "host": "\(refused.hostID)", "received_at": "\(refused.receivedAt)", "error": "\(refused.error)",
        ])
    }
    metrics.heartbeatsSetAside.increment(by: replayed.refused.count)
    for path in replayed.setAside {
        logger.error("a heartbeat log segment is damaged after its last whole record (a power cut, or the disk); what follows the damage was not stored, and the file is kept for a look", metadata: ["path": "\(path)"])
    }
    return limits.heartbeatBacklogMax > 0 ? log : nil
}

/// The server's TLS settings: TLS 1.2 or newer only (NIOSSL's default minimum is TLS 1.0,
/// whose ciphers and handshake are broken), with NIOSSL's default cipher suites.
public func serverTLSConfiguration(certificateChain: [NIOSSLCertificateSource], privateKey: NIOSSLPrivateKey) -> TLSConfiguration {
    var tls = TLSConfiguration.makeServerConfiguration(certificateChain: certificateChain, privateKey: .privateKey(privateKey))
    tls.minimumTLSVersion = .tlsv12
    return tls
}

/// The server's TLS settings from the configured PEM files.
/// - Throws: `ConfigurationError` naming both files when either cannot be read or parsed.
public func loadServerTLS(_ tls: (certificate: String, key: String)) throws -> TLSConfiguration {
    do {
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
        return serverTLSConfiguration(certificateChain: chain, privateKey: key)
    } catch {
        throw ConfigurationError("could not load the TLS certificate \(tls.certificate) or key \(tls.key): \(error); both must be PEM files")
    }
}

/// Builds the collector: prepares the data directory (removing what a crash left behind),
/// then the router, the retention service and the server (TLS when configured).
/// - Parameter onServerRunning: called with the bound port once listening (port 0 picks one).
/// - Throws: `ConfigurationError` for unreadable TLS files, `BlobStoreError` for an unusable data directory.
public func buildApplication(configuration: CollectorConfiguration, dependencies: CollectorDependencies,
                             onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws -> some ApplicationProtocol {
    let logger = dependencies.logger
    if let note = try DataDirectory.prepare(configuration.dataDirectory) { logger.notice("\(note)") }
    let blobs = try BlobStore(dataDirectory: configuration.dataDirectory, shared: configuration.postgresURL != nil)
    let removed = blobs.removeOrphans(liveDigests: try await dependencies.store.liveBlobDigests())
    if removed.temporary + removed.blobs > 0 {
        logger.notice("removed what an interrupted run left behind", metadata: [
            "temp_files": "\(removed.temporary)", "orphan_blobs": "\(removed.blobs)",
        ])
    }
    let limits = configuration.limits
    let heartbeats = HeartbeatRecorder(store: dependencies.store, metrics: dependencies.metrics, maxBatch: limits.heartbeatBatchMax,
                                       sortMax: limits.heartbeatSortMax, log: try await openHeartbeatLog(configuration: configuration, store: dependencies.store,
                                                                                     metrics: dependencies.metrics, logger: logger),
                                       backlogMax: limits.heartbeatBacklogMax, waitMax: limits.heartbeatWaitMax,
                                       storeTries: limits.heartbeatStoreTries, retryAfter: limits.retryAfterSeconds, logger: logger)
    let tickets = TicketService(publicURL: configuration.publicURL, limits: configuration.limits)
    let router = buildRouter(configuration: configuration, dependencies: dependencies, blobs: blobs, tickets: tickets,
                             heartbeats: heartbeats)
    let connectionLimits = ConnectionLimits(configuration.limits)
    let counter = ConnectionCounter(metrics: dependencies.metrics)
    let http1 = HTTP1Channel.Configuration(
        additionalChannelHandlers: [ConnectionGuard(limits: connectionLimits, counter: counter)],
        idleTimeout: .seconds(Int64(configuration.limits.idleTimeoutSeconds)))
    let server: HTTPServerBuilder
    if let tls = configuration.tls {
        server = try .tls(.http1(configuration: http1), tlsConfiguration: try loadServerTLS(tls))
    } else {
        server = .http1(configuration: http1)
        if !configuration.isLoopback {
            logger.warning("serving plain HTTP beyond loopback: tokens and bundles cross the network unencrypted; give --tls-certificate and --tls-key", metadata: [
                "listen": "\(configuration.host):\(configuration.port)",
            ])
        }
    }
    var app = Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "helpline-collector"),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            tickets.base.bound(port: port)
            await onServerRunning(port)
        },
        logger: logger)
    app.addServices(HeartbeatRecorderService(recorder: heartbeats))
    app.addServices(RetentionService(store: dependencies.store, blobs: blobs, limits: configuration.limits,
                                     metrics: dependencies.metrics, logger: logger))
    let policyReads = BlobReadPool(limit: 1, budget: .seconds(configuration.limits.readTimeBudgetSeconds),
                                   retryAfter: configuration.limits.retryAfterSeconds, metrics: dependencies.metrics)
    app.addServices(PolicyService(queries: FleetQueries(configuration: configuration, reads: policyReads, store: dependencies.store),
                                  store: dependencies.store, limits: configuration.limits, logger: logger))
    // Always runs: with no backends it only marks events routed, so a backend added later
    // starts from its own start, not from the whole history.
    if dependencies.runsIntegrationWorker {
        app.addServices(IntegrationWorker(outbox: dependencies.store, store: dependencies.store, backends: configuration.integrations,
                                          limits: configuration.limits, publicURL: { tickets.publicURL }, logger: logger,
                                          metrics: dependencies.metrics))
    }
    if !configuration.integrations.isEmpty {
        logger.info("ticket integrations", metadata: ["backends": "\(configuration.integrations.map(\.description).joined(separator: "; "))"])
    }
    return app
}
