/// `/etc/resolv.conf` (resolv.conf(5)).
enum ResolvConf {
    /// The systemd-resolved stub listener; a resolv.conf naming only it hides the real servers.
    static let resolvedStub = "127.0.0.53"

    /// Name servers and search domains.
    struct Settings: Sendable, Equatable {
        /// `nameserver` addresses, in order.
        var servers: [String] = []
        /// Search list.
        var searchDomains: [String] = []
    }

    /// `nameserver` lines in order (a `%scope` suffix kept); the last `search` or `domain`
    /// line gives the search list, as the resolver does. `#` and `;` start comments.
    static func parse(_ text: String) -> Settings {
        var s = Settings()
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingWhitespace
            guard !line.hasPrefix("#"), !line.hasPrefix(";") else { continue }
            let f = line.split(whereSeparator: \.isWhitespace)
            guard let keyword = f.first else { continue }
            switch keyword {
            case "nameserver":
                if f.count >= 2 { s.servers.append(String(f[1])) }
            case "search":
                s.searchDomains = f.dropFirst().prefix { !$0.hasPrefix("#") && !$0.hasPrefix(";") }.map(String.init)
            case "domain":
                s.searchDomains = f.count >= 2 ? [String(f[1])] : []
            default: break
            }
        }
        return s
    }
}
