import CCurl
import Foundation

/// An HTTP request the agent sends.
struct HTTPRequest: Sendable {
    /// Where the body comes from: nothing, bytes in memory, or a file streamed from disk.
    enum Body: Sendable {
        case none
        case bytes([UInt8])
        case file(String)
    }
    var method = "GET"
    var url: String
    var headers: [String: String] = [:]
    var body: Body = .none
    /// Give up connecting after this long.
    var connectTimeout: Duration = .seconds(10)
    /// Give up when fewer than `lowSpeedBytes` per second flow for `lowSpeedTime`
    /// (a stalled network), rather than a total time that large uploads would overrun.
    var lowSpeedBytes = 1024
    var lowSpeedTime: Duration = .seconds(30)
    /// Upper bound on the whole exchange.
    var totalTimeout: Duration = .seconds(600)
    /// PEM file of CAs to trust instead of the system store.
    var caFile: String?
    /// `sha256//<base64>` of the server's public key: refuse any other key.
    var pinnedPublicKey: String?
    /// Proxy URL; nil = the standard `https_proxy`/`http_proxy`/`no_proxy` variables.
    var proxy: String?
    /// Largest response body kept.
    var maxResponseBytes = 4 << 20
}

/// What came back.
struct HTTPResponse: Sendable {
    var status: Int
    /// Header names lower-cased.
    var headers: [String: String]
    var body: [UInt8]
}

/// Why a request got no HTTP answer.
struct TransportError: Error, CustomStringConvertible, Sendable {
    enum Kind: Sendable, Equatable {
        /// DNS, refused, unreachable: nothing was received; retrying later may work.
        case unreachable
        /// The connection stalled or timed out.
        case timeout
        /// TLS failed: untrusted certificate, or the pinned key did not match. Not retried.
        case tls
        /// The connection broke after the request was sent (the answer was lost).
        case interrupted
        /// Local problems: the bundle file, bad URL, out of memory. Not retried.
        case local
    }
    var kind: Kind
    var message: String
    var description: String { message }
}

/// libcurl's entry points, looked up once per process: the agent opens libcurl on first use
/// instead of linking it (`Sources/CCurl/shim.h` says why).
private struct CurlLibrary: @unchecked Sendable {
    // @unchecked: the table is written once, in `load()`, before any other code has the
    // pointer; it is never changed or freed after.
    let api: UnsafePointer<CCurl_api>

    /// The loaded library, or why it could not be loaded or started.
    static let shared: Result<CurlLibrary, TransportError> = load()

    /// The soname of Debian's libcurl4 (OpenSSL flavour), which the agent package needs.
    static let soname = "libcurl.so.4"

    private static func load() -> Result<CurlLibrary, TransportError> {
        // Never closed: libcurl's dependencies (OpenSSL) cannot be unloaded anyway.
        guard let lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL) else {
            let why = dlerror().map { String(cString: $0) } ?? "not found"
            return .failure(TransportError(kind: .local, message: "libcurl could not be loaded (\(why)); install the libcurl4 package"))
        }
        let table = UnsafeMutablePointer<CCurl_api>.allocate(capacity: 1)
        table.initialize(to: CCurl_api())
        if let missing = CCurl_resolve(lib, table) {
            return .failure(TransportError(kind: .local, message: "\(soname) has no \(String(cString: missing)); is it a libcurl of another kind?"))
        }
        guard CCurl_global_init(table, Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK else {
            return .failure(TransportError(kind: .local, message: "libcurl could not start"))
        }
        return .success(CurlLibrary(api: UnsafePointer(table)))
    }
}

/// One libcurl easy handle, used for one request at a time from one thread.
///
/// The only Swift file that calls libcurl. The `CURL*` lives as long as the object and
/// is freed in `deinit`; callbacks reach Swift through an `Unmanaged` context pointer.
final class CurlTransfer {
    private let handle: UnsafeMutableRawPointer
    private let api: UnsafePointer<CCurl_api>

    /// Creates a handle.
    /// - Throws: `TransportError.local` when libcurl cannot be loaded or cannot start.
    init() throws {
        let library = try CurlLibrary.shared.get()
        guard let h = CCurl_easy_init(library.api) else {
            throw TransportError(kind: .local, message: "libcurl could not start")
        }
        api = library.api
        handle = h
    }

    deinit { CCurl_easy_cleanup(api, handle) }

    /// Sends `request` and waits for the answer.
    /// - Parameter progress: called with (bytes sent, bytes to send) during uploads.
    /// - Throws: `TransportError` when no HTTP answer arrived.
    func perform(_ request: HTTPRequest, progress: ((Int64, Int64) -> Void)? = nil) throws -> HTTPResponse {
        CCurl_easy_reset(api, handle)
        let context = TransferContext(maxBody: request.maxResponseBytes, progress: progress,
                                      stallLimit: UInt64(max(1, request.lowSpeedTime.milliseconds)) * 1_000_000)
        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }
        let opaque = unmanaged.toOpaque()

        var headers: UnsafeMutablePointer<curl_slist>?
        defer { CCurl_slist_free_all(api, headers) }
        // libcurl sends `Expect: 100-continue` for large bodies and waits a second for an
        // interim answer servers rarely give; an empty Expect header turns that off.
        var allHeaders = request.headers
        allHeaders["Expect"] = ""
        for (name, value) in allHeaders.sorted(by: { $0.key < $1.key }) {
            let line = value.isEmpty ? "\(name):" : "\(name): \(value)"
            headers = CCurl_slist_append(api, headers, line)
        }

        var file: UnsafeMutablePointer<FILE>?
        defer { if let file { fclose(file) } }

        try set(CURLOPT_URL, request.url)
        try set(CURLOPT_NOSIGNAL, 1)
        // Saturated milliseconds, at least 1 (libcurl reads 0 as "no timeout").
        try set(CURLOPT_CONNECTTIMEOUT_MS, Int(max(1, request.connectTimeout.milliseconds)))
        try set(CURLOPT_TIMEOUT_MS, Int(max(1, request.totalTimeout.milliseconds)))
        try set(CURLOPT_LOW_SPEED_LIMIT, request.lowSpeedBytes)
        try set(CURLOPT_LOW_SPEED_TIME, Int(max(1, request.lowSpeedTime.components.seconds)))
        try set(CURLOPT_FOLLOWLOCATION, 0)
        try set(CURLOPT_PROTOCOLS_STR, "http,https")
        try check(CCurl_setopt_slist(api, handle, CURLOPT_HTTPHEADER, headers), "headers")
        try set(CURLOPT_USERAGENT, "helpline/\(AgentVersion.current)")
        if let ca = request.caFile { try set(CURLOPT_CAINFO, ca) }
        if let pin = request.pinnedPublicKey { try set(CURLOPT_PINNEDPUBLICKEY, pin) }
        if let proxy = request.proxy { try set(CURLOPT_PROXY, proxy) }

        try check(CCurl_setopt_data_callback(api, handle, CURLOPT_WRITEFUNCTION, curlWrite), "write callback")
        try check(CCurl_setopt_pointer(api, handle, CURLOPT_WRITEDATA, opaque), "write data")
        try check(CCurl_setopt_data_callback(api, handle, CURLOPT_HEADERFUNCTION, curlHeader), "header callback")
        try check(CCurl_setopt_pointer(api, handle, CURLOPT_HEADERDATA, opaque), "header data")
        // Always on: besides reporting upload progress it keeps the stall clock (see `curlProgress`).
        try set(CURLOPT_NOPROGRESS, 0)
        try check(CCurl_setopt_progress_callback(api, handle, CURLOPT_XFERINFOFUNCTION, curlProgress), "progress callback")
        try check(CCurl_setopt_pointer(api, handle, CURLOPT_XFERINFODATA, opaque), "progress data")

        switch request.body {
        case .none:
            if request.method != "GET" { try set(CURLOPT_CUSTOMREQUEST, request.method) }
        case .bytes(let bytes):
            context.upload = bytes
            try set(CURLOPT_POST, 1)
            try check(CCurl_setopt_off(api, handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count)), "body size")
            try check(CCurl_setopt_data_callback(api, handle, CURLOPT_READFUNCTION, curlReadBytes), "read callback")
            try check(CCurl_setopt_pointer(api, handle, CURLOPT_READDATA, opaque), "read data")
            if request.method != "POST" { try set(CURLOPT_CUSTOMREQUEST, request.method) }
        case .file(let path):
            guard let f = fopen(path, "rb") else {
                throw TransportError(kind: .local, message: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            file = f
            var st = stat()
            fstat(fileno(f), &st)
            try set(CURLOPT_POST, 1)
            try check(CCurl_setopt_off(api, handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(st.st_size)), "body size")
            // fread-compatible default read callback reading from the FILE*.
            try check(CCurl_setopt_pointer(api, handle, CURLOPT_READDATA, UnsafeMutableRawPointer(f)), "read data")
            if request.method != "POST" { try set(CURLOPT_CUSTOMREQUEST, request.method) }
        }

        let rc = CCurl_easy_perform(api, handle)
        if rc == CURLE_ABORTED_BY_CALLBACK, context.stalled {
            throw TransportError(kind: .timeout, message: "nothing moved to or from \(request.url) for \(request.lowSpeedTime.components.seconds) s (stall_timeout)")
        }
        if rc != CURLE_OK {
            throw transportError(rc, url: request.url, proxy: request.proxy, sentBody: context.sentAll)
        }
        var status = 0
        _ = CCurl_getinfo_long(api, handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: context.headers, body: context.body)
    }

    private func set(_ option: CURLoption, _ value: Int) throws {
        try check(CCurl_setopt_long(api, handle, option, value), "option \(option.rawValue)")
    }

    private func set(_ option: CURLoption, _ value: String) throws {
        try check(value.withCString { CCurl_setopt_string(api, handle, option, $0) }, "option \(option.rawValue)")
    }

    private func check(_ rc: CURLcode, _ what: String) throws {
        guard rc == CURLE_OK else {
            throw TransportError(kind: .local, message: "libcurl refused \(what): \(String(cString: CCurl_easy_strerror(api, rc)))")
        }
    }

    private func transportError(_ rc: CURLcode, url requested: String, proxy: String?, sentBody: Bool) -> TransportError {
        let text = String(cString: CCurl_easy_strerror(api, rc))
        // Through a proxy, "cannot reach" is as likely the proxy's fault: name both.
        let url = proxy.map { "\(requested) through the proxy \($0)" } ?? requested
        switch rc {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT:
            return TransportError(kind: .unreachable, message: "cannot reach \(url): \(text)")
        case CURLE_OPERATION_TIMEDOUT:
            return TransportError(kind: .timeout, message: "no answer from \(url) in time: \(text)")
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM:
            return TransportError(kind: .tls, message: "refusing to send to \(url): \(text)")
        case CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE:
            return TransportError(kind: sentBody ? .interrupted : .unreachable, message: "the connection to \(url) broke: \(text)")
        case CURLE_READ_ERROR, CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_OUT_OF_MEMORY:
            return TransportError(kind: .local, message: "cannot send to \(url): \(text)")
        default:
            return TransportError(kind: .unreachable, message: "sending to \(url) failed: \(text)")
        }
    }
}

/// State shared with libcurl's callbacks for one transfer.
private final class TransferContext {
    var body: [UInt8] = []
    var headers: [String: String] = [:]
    var upload: [UInt8] = []
    var uploadOffset = 0
    var sentAll = false
    let maxBody: Int
    let progress: ((Int64, Int64) -> Void)?
    /// Nanoseconds without a byte moving either way before the transfer is stopped.
    let stallLimit: UInt64
    var lastCount: Int64 = -1
    var lastChange: UInt64 = 0
    var stalled = false

    init(maxBody: Int, progress: ((Int64, Int64) -> Void)?, stallLimit: UInt64) {
        self.maxBody = maxBody
        self.progress = progress
        self.stallLimit = stallLimit
    }

    /// CLOCK_MONOTONIC in nanoseconds.
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

private func context(_ p: UnsafeMutableRawPointer?) -> TransferContext {
    Unmanaged<TransferContext>.fromOpaque(p!).takeUnretainedValue()
}

private let curlWrite: CCurl_data_callback = { data, size, count, user in
    let c = context(user)
    let n = size * count
    c.sentAll = true
    if c.body.count + n > c.maxBody { return 0 }  // makes libcurl fail with CURLE_WRITE_ERROR
    if let data { c.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: n)) }
    return n
}

private let curlHeader: CCurl_data_callback = { data, size, count, user in
    let c = context(user)
    let n = size * count
    c.sentAll = true
    guard let data else { return n }
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
    if line.hasPrefix("HTTP/") { c.headers = [:] }  // a new response (after 100 Continue, say)
    if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        c.headers[name] = value
    }
    return n
}

private let curlReadBytes: CCurl_data_callback = { buffer, size, count, user in
    let c = context(user)
    let n = min(size * count, c.upload.count - c.uploadOffset)
    if n > 0, let buffer {
        c.upload.withUnsafeBytes { raw in
            UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + c.uploadOffset, byteCount: n)
        }
        c.uploadOffset += n
    }
    return n
}

/// Reports upload progress and keeps the stall clock: libcurl's own low-speed check averages
/// over its last seconds, so a transfer that sent a burst and then hung ran several seconds
/// past `stall_timeout`; here the clock restarts whenever a byte moves and the transfer stops
/// once `stallLimit` passes without one (libcurl calls this at least once a second).
private let curlProgress: CCurl_progress_callback = { user, _, dlnow, ultotal, ulnow in
    let c = context(user)
    let moved = Int64(dlnow) &+ Int64(ulnow)
    let now = TransferContext.now()
    if moved != c.lastCount {
        c.lastCount = moved
        c.lastChange = now
    } else if now &- c.lastChange > c.stallLimit {
        c.stalled = true
        return 1
    }
    c.progress?(Int64(ulnow), Int64(ultotal))
    return 0
}

extension Duration {
    /// Whole milliseconds, saturating at `Int64.min`/`Int64.max`.
    var milliseconds: Int64 {
        let (s, atto) = components
        let (ms, overflow) = s.multipliedReportingOverflow(by: 1000)
        if overflow { return s < 0 ? .min : .max }
        let (sum, overflow2) = ms.addingReportingOverflow(atto / 1_000_000_000_000_000)
        return overflow2 ? (s < 0 ? .min : .max) : sum
    }
}
