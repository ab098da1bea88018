import Crypto
import Foundation
import Hummingbird
import HTTPTypes

/// A signed-in browser's session, as the page handlers see it.
public struct WebSession: Sendable, Equatable {
    /// The stored hash of the session cookie.
    public var hash: String
    /// The token every form of this session must carry (`csrf` field).
    public var csrf: String
    /// The user must change their password before anything else.
    public var mustChangePassword: Bool

    /// The CSRF token of a session cookie: derived from the cookie (which scripts of other
    /// sites can neither read nor send with SameSite=Strict), so nothing more is stored.
    public static func csrfToken(forCookie cookie: String) -> String {
        Secrets.hash("helpline-csrf\u{0}" + cookie)
    }
}

/// Headers every answer carries, and the stricter set for HTML pages.
public enum WebHeaders {
    /// The pages' Content-Security-Policy: no inline script or style, nothing from elsewhere,
    /// no framing, forms post only here.
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static let frameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!

    /// Adds the page headers to `fields`.
    static func addPageHeaders(_ fields: inout HTTPFields) {
        fields[.contentSecurityPolicy] = contentSecurityPolicy
        fields[.cacheControl] = "no-store"
    }
}

/// Adds `X-Content-Type-Options: nosniff`, frame denial and a same-origin referrer policy to
/// every answer, API and pages alike, including error answers.
public struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Creates the middleware.
    public init() {}

    /// Runs the chain and adds the headers.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[WebHeaders.frameOptions] = "DENY"
        response.headers[WebHeaders.referrerPolicy] = "same-origin"
        return response
    }
}

/// Slows down password guessing: after `failuresBeforeDelay` failed sign-ins in a row for a
/// name or from a client address, each next attempt must wait, doubling from 5 s up to
/// `maxDelay`. A success clears the name's count.
///
/// In memory, per collector process: a restart forgets it (the bcrypt cost still limits a
/// guesser to a few attempts a second per core).
public actor SignInThrottle {
    struct Record {
        var failures: Int
        var notBefore: ContinuousClock.Instant
    }
    private var records: [String: Record] = [:]
    private let failuresBeforeDelay: Int
    private let maxDelay: Duration
    /// Most names and addresses remembered; the oldest half is dropped beyond it.
    private let capacity = 100_000

    /// Creates a throttle from the limits.
    public init(limits: CollectorLimits) {
        failuresBeforeDelay = limits.signInFailuresBeforeDelay
        maxDelay = .seconds(limits.signInMaxDelaySeconds)
    }

    /// Seconds to wait before `keys` may try again, or nil when they may try now.
    public func wait(for keys: [String], now: ContinuousClock.Instant = .now) -> Int? {
        var longest: Duration = .zero
        for key in keys {
            if let r = records[key], r.notBefore > now { longest = max(longest, r.notBefore - now) }
        }
        guard longest > .zero else { return nil }
        return Int(longest.components.seconds) + 1
    }

    /// Counts a failure for each key.
    public func failed(_ keys: [String], now: ContinuousClock.Instant = .now) {
        if records.count >= capacity {
            let keep = records.sorted { $0.value.notBefore > $1.value.notBefore }.prefix(capacity / 2)
            records = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
        for key in keys {
            var r = records[key] ?? Record(failures: 0, notBefore: now)
            r.failures += 1
            let over = r.failures - failuresBeforeDelay
            if over >= 0 {
                // 5 s, 10 s, 20 s… capped; the shift is bounded so it cannot overflow.
                let delay = min(Duration.seconds(5 << min(over, 24)), maxDelay)
                r.notBefore = now + delay
            }
            records[key] = r
        }
    }

    /// Clears the keys after a successful sign-in.
    public func succeeded(_ keys: [String]) {
        for key in keys { records[key] = nil }
    }
}

/// Checks that a state-changing request comes from one of this collector's own pages.
enum OriginCheck {
    /// The origin (`scheme://host[:port]`) of a URL string, lowercased; nil when it has none.
    static func origin(of url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              let host = components.host?.lowercased(), !host.isEmpty else { return nil }
        let port = components.port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(host)\(port)"
    }

    /// True when the request's `Origin` (or, without one, `Referer`) names this collector:
    /// the public URL's origin or the origin the request itself was addressed to.
    static func isSameOrigin(_ request: Request, publicURL: String?, tls: Bool) -> Bool {
        let claimed: String?
        if let o = request.headers[.origin] {
            claimed = o == "null" ? nil : origin(of: o)
        } else if let r = request.headers[.referer] {
            claimed = origin(of: r)
        } else {
            claimed = nil
        }
        guard let claimed else { return false }
        var allowed: [String] = []
        if let publicURL, let o = origin(of: publicURL) { allowed.append(o) }
        if let host = request.head.authority {
            let scheme = tls ? "https" : "http"
            if let o = origin(of: "\(scheme)://\(host)") { allowed.append(o) }
        }
        return allowed.contains(claimed)
    }
}
