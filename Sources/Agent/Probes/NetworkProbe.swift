import Foundation
import Shared

/// `network.json`: interfaces with state, MAC, MTU and addresses; routes; DNS settings.
///
/// Addresses come from `getifaddrs` on the live system. Under a sysroot they come from the
/// files: IPv4 from `/proc/net/fib_trie` matched to interfaces through `/proc/net/route`,
/// IPv6 from `/proc/net/if_inet6`. Routes are all of `/proc/net/route` and the
/// `ip -6 route`-visible part of `/proc/net/ipv6_route`. DNS is `/etc/resolv.conf` and,
/// when systemd-resolved runs, `/run/systemd/resolve/resolv.conf`: with resolved,
/// `/etc/resolv.conf` usually names only the 127.0.0.53 stub, and the upstream servers are
/// in the latter. Addresses, MACs and DNS values pass through the redactor (opt-in rules).
struct NetworkProbe: Probe {
    /// `network`.
    let name = "network"
    /// What it gathers, for `helpline preview`.
    let summary = "Network interfaces, addresses, routes and DNS servers"
    /// Reads a few small files.
    let timeout: Duration = .seconds(5)

    /// Reads `/sys/class/net`, addresses, `/proc/net/{route,ipv6_route}` and resolv.conf files.
    func collect(_ context: ProbeContext) throws -> ProbeOutput {
        var unreadable: [String] = []
        func read(_ p: String) -> String? { context.text(p, unreadable: &unreadable) }
        let redact = context.redactor.redact

        let routeEntries = read("/proc/net/route").map(ProcNetRoute.parse) ?? []
        let addresses: [String: [String]]
        if context.sysroot.isEmpty {
            addresses = InterfaceAddresses.live()
        } else {
            var byName: [String: [String]] = [:]
            let local = read("/proc/net/fib_trie").map(FibTrie.localAddresses) ?? []
            for (iface, cidr) in FibTrie.assign(local, routes: routeEntries) { byName[iface, default: []].append(cidr) }
            for e in read("/proc/net/if_inet6").map(IfInet6.parse) ?? [] { byName[e.interface, default: []].append(e.cidr) }
            addresses = byName
        }

        var interfaces: [NetworkInterface] = []
        for name in context.directory("/sys/class/net") ?? [] {
            let base = "/sys/class/net/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: context.path(base), isDirectory: &isDirectory),
                  isDirectory.boolValue else { continue }   // e.g. the bonding_masters file
            func line(_ p: String) -> String? {
                read(base + p).map { String($0.trimmingWhitespace) }.flatMap { $0.isEmpty ? nil : $0 }
            }
            let mac = line("/address").flatMap { $0 == "00:00:00:00:00:00" ? nil : $0 }
            interfaces.append(NetworkInterface(
                name: name, state: line("/operstate") ?? "unknown", mac: mac.map(redact),
                mtu: line("/mtu").flatMap { Int($0) }, addresses: (addresses[name] ?? []).map(redact)))
        }

        var routes = routeEntries.map(\.record)
        routes += read("/proc/net/ipv6_route").map(ProcNetIPv6Route.parse) ?? []
        routes = routes.map { r in
            var r = r
            r.gateway = r.gateway.map(redact)
            return r
        }

        var dns: [DNSConfig] = []
        for (path, source) in [("/etc/resolv.conf", "/etc/resolv.conf"),
                               ("/run/systemd/resolve/resolv.conf", "systemd-resolved")] {
            guard let text = read(path) else { continue }
            let s = ResolvConf.parse(text)
            dns.append(DNSConfig(servers: s.servers.map(redact), searchDomains: s.searchDomains.map(redact), source: source))
        }

        let info = NetworkInfo(interfaces: interfaces, routes: routes, dns: dns)
        return try .json(BundleMember.network, info, items: interfaces.count + routes.count,
                         status: unreadable.isEmpty ? .ok : .partial,
                         error: unreadable.isEmpty ? nil : "some sources could not be read", unreadable: unreadable)
    }
}
