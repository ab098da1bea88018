import Shared

/// `/var/lib/dpkg/status` (deb822 stanzas): the packages dpkg has installed.
enum DpkgStatus {
    /// Packages whose `Status` is `install ok installed`, in file order. Continuation lines
    /// (descriptions, conffiles) are skipped; a stanza without a name or version is ignored.
    static func parse(_ text: String) -> [InstalledPackage] {
        var out: [InstalledPackage] = []
        var name: String?, version: String?, arch: String?, installed = false
        func flush() {
            if installed, let name, let version, !name.isEmpty, !version.isEmpty {
                out.append(InstalledPackage(name: name, version: version, architecture: arch ?? ""))
            }
            name = nil; version = nil; arch = nil; installed = false
        }
        // Split on any line end: "\r\n" is one Character in Swift, not "\n".
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            if line.isEmpty {
                flush()
                continue
            }
            guard let first = line.first, first != " ", first != "\t", let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "Package": name = String(value.prefix(200))
            case "Version": version = String(value.prefix(200))
            case "Architecture": arch = String(value.prefix(32))
            case "Status": installed = value.split(separator: " ").last == "installed" && value.hasPrefix("install ")
            default: break
            }
        }
        flush()
        return out
    }
}
