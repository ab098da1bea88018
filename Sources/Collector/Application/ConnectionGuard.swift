import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Shared
import Synchronization

/// Time and connection limits that Hummingbird does not enforce itself.
public struct ConnectionLimits: Sendable, Equatable {
    /// A whole request head must arrive within this of the connection opening or of the previous answer.
    public var headerTimeout: TimeAmount
    /// Longest a body may go without a byte while the collector is waiting for one.
    public var bodyIdleTimeout: TimeAmount
    /// Slowest accepted body, in bytes per second of the collector's waiting (0: no minimum)…
    public var minBodyBytesPerSecond: Int
    /// …once this much waiting has passed.
    public var bodyRateGrace: TimeAmount
    /// Connections open at once; more are closed as they arrive.
    public var maxConnections: Int

    /// The limits from the collector's named limits.
    public init(_ limits: CollectorLimits) {
        headerTimeout = .seconds(Int64(limits.headerTimeoutSeconds))
        bodyIdleTimeout = .seconds(Int64(limits.bodyIdleTimeoutSeconds))
        minBodyBytesPerSecond = limits.minBodyBytesPerSecond
        bodyRateGrace = .seconds(Int64(limits.bodyRateGraceSeconds))
        maxConnections = limits.maxConnections
    }
}

/// Open connections, shared by every connection's `ConnectionGuard`.
public final class ConnectionCounter: Sendable {
    private let open = Atomic<Int>(0)
    /// Metrics to report the count to (nil in unit tests).
    let metrics: CollectorMetrics?

    /// Creates a counter at zero.
    public init(metrics: CollectorMetrics? = nil) { self.metrics = metrics }

    /// Connections open now.
    public var current: Int { open.load(ordering: .relaxed) }

    /// Counts one more; false (and counts nothing) when `limit` are open already.
    func tryOpen(limit: Int) -> Bool {
        var value = open.load(ordering: .relaxed)
        while value < limit {
            let (exchanged, original) = open.compareExchange(expected: value, desired: value + 1, ordering: .relaxed)
            if exchanged { metrics?.openConnections.record(value + 1); return true }
            value = original
        }
        return false
    }

    /// Counts one fewer.
    func close() {
        let now = open.subtract(1, ordering: .relaxed).newValue
        metrics?.openConnections.record(now)
    }
}

/// Per-connection guard against slow and idle clients, placed after the HTTP codec.
///
/// - Slow headers: a request head must be complete within `headerTimeout` of the connection
///   opening or of the previous answer's end; otherwise the connection is closed.
/// - Slow bodies: while the server is waiting for body bytes (a `read` is outstanding), the
///   guard measures the wait. No byte for `bodyIdleTimeout`, or fewer than
///   `minBodyBytesPerSecond` on average once `bodyRateGrace` of waiting has passed, answers
///   408 `request_timeout` and closes. Time the server itself spends not reading (writing to
///   disk, diagnosing) is not held against the client.
/// - Too many connections: past `maxConnections` a new connection is closed at once.
///
/// Idle connections between requests are closed by Hummingbird's `idleTimeout`.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        /// Waiting for a request head (since connecting or since the last answer).
        case awaitingHead
        /// Reading a request body.
        case body
        /// The request has been read; the answer is being made.
        case responding
        /// Refused or timed out: nothing more goes through.
        case closed
    }

    private let limits: ConnectionLimits
    private let counter: ConnectionCounter
    private var state = State.awaitingHead
    private var counted = false
    private var started = false
    private var headTimer: Scheduled<Void>?
    private var bodyTimer: Scheduled<Void>?
    private var responseStarted = false
    private var bodyBytes = 0
    private var waited = TimeAmount.zero
    private var readPendingSince: NIODeadline?
    private var lastProgress = NIODeadline.now()

    init(limits: ConnectionLimits, counter: ConnectionCounter) {
        self.limits = limits
        self.counter = counter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        guard counter.tryOpen(limit: limits.maxConnections) else {
            state = .closed
            counter.metrics?.connectionsRefused.increment()
            context.close(promise: nil)
            return
        }
        counted = true
        armHeadTimer(context)
    }

    private func stop() {
        headTimer?.cancel()
        headTimer = nil
        bodyTimer?.cancel()
        bodyTimer = nil
        if counted {
            counted = false
            counter.close()
        }
    }

    private func armHeadTimer(_ context: ChannelHandlerContext) {
        headTimer?.cancel()
        headTimer = context.eventLoop.assumeIsolated().scheduleTask(in: limits.headerTimeout) { [self] in
            guard state == .awaitingHead else { return }
            state = .closed
            counter.metrics?.connectionTimedOut(phase: "header")
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state != .closed else { return }
        let part = unwrapInboundIn(data)
        switch part {
        case .head:
            headTimer?.cancel()
            headTimer = nil
            state = .body
            responseStarted = false
            bodyBytes = 0
            waited = .zero
            lastProgress = .now()
            if readPendingSince != nil { readPendingSince = .now() }
            startBodyTimer(context)
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            settleWait()
            lastProgress = .now()
        case .end:
            bodyTimer?.cancel()
            bodyTimer = nil
            if state == .body { state = .responding }
            settleWait()
        }
        context.fireChannelRead(data)
    }

    /// Adds the time the current outstanding read has waited to `waited`.
    private func settleWait() {
        if let since = readPendingSince {
            waited = waited + (NIODeadline.now() - since)
            readPendingSince = nil
        }
    }

    func read(context: ChannelHandlerContext) {
        if state == .body, readPendingSince == nil { readPendingSince = .now() }
        context.read()
    }

    /// Checks the body's progress every 250 ms while it is being read.
    private func startBodyTimer(_ context: ChannelHandlerContext) {
        bodyTimer?.cancel()
        bodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(250)) { [self] in
            guard state == .body else { return }
            if checkBody(context) { startBodyTimer(context) }
        }
    }

    /// False when the body broke a limit (and the connection is being closed).
    private func checkBody(_ context: ChannelHandlerContext) -> Bool {
        let now = NIODeadline.now()
        let pending = readPendingSince.map { now - $0 } ?? .zero
        if readPendingSince != nil, pending > limits.bodyIdleTimeout {
            timeOut(context, "no byte of the request body arrived for \(limits.bodyIdleTimeout.nanoseconds / 1_000_000_000) s (body_idle_timeout_seconds)")
            return false
        }
        let total = waited + pending
        guard limits.minBodyBytesPerSecond > 0, total > limits.bodyRateGrace, total.nanoseconds > 0 else { return true }
        let rate = Double(bodyBytes) / (Double(total.nanoseconds) / 1e9)
        if rate < Double(limits.minBodyBytesPerSecond) {
            timeOut(context, "the request body arrived at \(Saturating.int(rate)) bytes/s, below the minimum of \(limits.minBodyBytesPerSecond) (min_body_bytes_per_second)")
            return false
        }
        return true
    }

    private func timeOut(_ context: ChannelHandlerContext, _ why: String) {
        state = .closed
        bodyTimer?.cancel()
        bodyTimer = nil
        counter.metrics?.connectionTimedOut(phase: "body")
        guard !responseStarted else {
            context.close(promise: nil)
            return
        }
        let json = #"{"error":{"code":"request_timeout","message":"\#(why); the connection is closed"}}"#
        var fields = HTTPFields()
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.contentLength] = String(json.utf8.count)
        fields[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .requestTimeout, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(string: json))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard state != .closed else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head:
            responseStarted = true
        case .body:
            break
        case .end:
            // An answer sent before the body was read (413, 401…) ends the body's clock too.
            bodyTimer?.cancel()
            bodyTimer = nil
            state = .awaitingHead
            readPendingSince = nil
            armHeadTimer(context)
        }
        context.write(data, promise: promise)
    }
}
