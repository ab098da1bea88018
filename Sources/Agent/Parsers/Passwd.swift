/// `/etc/passwd`: `name:password:uid:gid:gecos:home:shell` lines.
enum Passwd {
    /// uid → user name; the first entry for a uid wins, as `getpwuid` does.
    static func parse(_ text: String) -> [Int: String] {
        var users: [Int: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 3, !f[0].isEmpty, let uid = Int(f[2]) else { continue }
            if users[uid] == nil { users[uid] = String(f[0]) }
        }
        return users
    }
}
