import Metrics
import Prometheus

/// The collector's own metrics, created once and written to one Prometheus registry.
///
/// They are made with an explicit factory on `registry`, so tests get working metrics without
/// touching the process-wide `MetricsSystem` (which only `@main` bootstraps; Hummingbird's
/// per-route request metrics go there). Labels are bounded: reasons are stable error codes.
public struct CollectorMetrics: Sendable {
    /// Where `/metrics` reads from.
    public let registry: PrometheusCollectorRegistry
    /// The factory on `registry` (also the request metrics', `RequestMetricsMiddleware`).
    let factory: PrometheusMetricsFactory
    /// Bundles stored (new, not duplicates).
    public let bundlesAccepted: Metrics.Counter
    /// Duplicate uploads answered with the first receipt.
    public let bundlesDuplicate: Metrics.Counter
    /// Compressed bytes received in upload bodies.
    public let bytesIn: Metrics.Counter
    /// Time from the first body byte to the receipt.
    public let ingestLatency: Metrics.Timer
    /// Uploads being processed now.
    public let uploadsInFlight: Metrics.Gauge
    /// Heartbeats waiting for their batch to commit.
    public let heartbeatQueueDepth: Metrics.Gauge
    /// Heartbeats stored.
    public let heartbeatsAccepted: Metrics.Counter
    /// Heartbeats the store refused on their own while others were stored, set aside
    /// (`heartbeat_store_tries`).
    public let heartbeatsSetAside: Metrics.Counter
    /// Enrolled hosts (refreshed on scrape).
    public let hosts: Metrics.Gauge
    /// Tickets not resolved or closed (refreshed on scrape).
    public let openTickets: Metrics.Gauge
    /// Bundles whose blob is kept (refreshed on scrape).
    public let liveBundles: Metrics.Gauge
    /// Bundles expired by retention.
    public let bundlesExpired: Metrics.Counter
    /// HTTP connections open now.
    public let openConnections: Metrics.Gauge
    /// Connections closed on arrival because `max_connections` were open.
    public let connectionsRefused: Metrics.Counter
    /// Journal and member reads running now.
    public let readsInFlight: Metrics.Gauge

    /// Creates the metrics on `registry`.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["helpline_ingest_duration_seconds"] = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.factory = factory
        bundlesAccepted = Metrics.Counter(label: "helpline_bundles_accepted_total", factory: factory)
        bundlesDuplicate = Metrics.Counter(label: "helpline_bundles_duplicate_total", factory: factory)
        bytesIn = Metrics.Counter(label: "helpline_bundle_bytes_in_total", factory: factory)
        ingestLatency = Metrics.Timer(label: "helpline_ingest_duration_seconds", factory: factory)
        uploadsInFlight = Metrics.Gauge(label: "helpline_uploads_in_flight", factory: factory)
        heartbeatQueueDepth = Metrics.Gauge(label: "helpline_heartbeat_queue_depth", factory: factory)
        heartbeatsAccepted = Metrics.Counter(label: "helpline_heartbeats_accepted_total", factory: factory)
        heartbeatsSetAside = Metrics.Counter(label: "helpline_heartbeats_set_aside_total", factory: factory)
        hosts = Metrics.Gauge(label: "helpline_hosts", factory: factory)
        openTickets = Metrics.Gauge(label: "helpline_open_tickets", factory: factory)
        liveBundles = Metrics.Gauge(label: "helpline_live_bundles", factory: factory)
        bundlesExpired = Metrics.Counter(label: "helpline_bundles_expired_total", factory: factory)
        openConnections = Metrics.Gauge(label: "helpline_open_connections", factory: factory)
        connectionsRefused = Metrics.Counter(label: "helpline_connections_refused_total", factory: factory)
        readsInFlight = Metrics.Gauge(label: "helpline_reads_in_flight", factory: factory)
    }

    /// Counts a connection closed for slowness, by phase (`header` or `body`).
    public func connectionTimedOut(phase: String) {
        Metrics.Counter(label: "helpline_connection_timeouts_total", dimensions: [("phase", phase)], factory: factory).increment()
    }

    /// Counts a request refused by a per-host limit, by its error code.
    public func hostLimited(reason: String) {
        Metrics.Counter(label: "helpline_host_limited_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// Counts an integration delivery attempt's end, by backend (bounded: the configured
    /// names) and outcome (`delivered`, `skipped`, `retry`, `dead`).
    public func integrationDelivery(backend: String, outcome: String) {
        Metrics.Counter(label: "helpline_integration_deliveries_total", dimensions: [("backend", backend), ("outcome", outcome)],
                        factory: factory).increment()
    }

    /// Counts a rejected upload by its stable error code.
    public func bundleRejected(reason: String) {
        Metrics.Counter(label: "helpline_bundles_rejected_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// The Prometheus text exposition of everything in `registry`.
    public func render() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
