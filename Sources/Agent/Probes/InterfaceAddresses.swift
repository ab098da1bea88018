import Foundation

/// The live system's interface addresses from `getifaddrs(3)`.
enum InterfaceAddresses {
    /// Interface name → addresses in CIDR notation (IPv4 and IPv6, in the kernel's order);
    /// empty when `getifaddrs` fails.
    static func live() -> [String: [String]] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0, let first = head else { return [:] }
        defer { freeifaddrs(head) }
        var out: [String: [String]] = [:]
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let addr = entry.pointee.ifa_addr, let name = entry.pointee.ifa_name else { continue }
            let family = Int32(addr.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6,
                  let text = numeric(addr, family: family) else { continue }
            let len = entry.pointee.ifa_netmask.map { prefixLength($0, family: family) } ?? (family == AF_INET ? 32 : 128)
            out[String(cString: name), default: []].append("\(text)/\(len)")
        }
        return out
    }

    private static func numeric(_ sa: UnsafeMutablePointer<sockaddr>, family: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok: Bool
        if family == AF_INET {
            ok = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                inet_ntop(AF_INET, &sin.pointee.sin_addr, &buffer, socklen_t(buffer.count)) != nil
            }
        } else {
            ok = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                inet_ntop(AF_INET6, &sin6.pointee.sin6_addr, &buffer, socklen_t(buffer.count)) != nil
            }
        }
        guard ok else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Set bits of the netmask.
    private static func prefixLength(_ sa: UnsafeMutablePointer<sockaddr>, family: Int32) -> Int {
        if family == AF_INET {
            return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr.nonzeroBitCount }
        }
        return sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
            withUnsafeBytes(of: sin6.pointee.sin6_addr) { $0.reduce(0) { $0 + $1.nonzeroBitCount } }
        }
    }
}
