import Foundation

extension AgentState {
    /// Where the enrollment key lives: beside the enrollment, readable by the owner only.
    var enrollmentKeyPath: String { directory + "/enrollment.key" }

    /// The prefix that marks an enrollment key, so people and secret scanners can tell it apart.
    static let enrollmentKeyPrefix = "hlk_"

    /// This agent's enrollment key (`hlk_` + 32 random bytes in base64url), created on first
    /// use and the same on every later call.
    ///
    /// The collector parks a re-enrollment that needs an administrator's approval under this
    /// key's hash; only the agent that holds the key can collect the approved token.
    /// - Throws: `AgentStateError` when the folder or the key file cannot be written or read,
    ///   or the key file does not hold a key.
    func enrollmentKey() throws -> String {
        try prepare()
        let path = enrollmentKeyPath
        if FileManager.default.fileExists(atPath: path) { return try Self.readEnrollmentKey(path) }
        // Written whole to a temporary file, then link()ed into place: link fails when the key
        // exists, so of two agents enrolling at once one key wins and both use it, and a
        // crash never leaves a half-written key behind.
        let key = Self.enrollmentKeyPrefix + Self.base64url(Self.randomBytes(32))
        let tmp = path + ".tmp-\(UUID().uuidString.prefix(8))"
        try DurableFile.write(Data((key + "\n").utf8), to: tmp, mode: 0o600)
        defer { unlink(tmp) }
        guard link(tmp, path) == 0 else {
            let e = errno
            guard e == EEXIST else {
                throw AgentStateError("cannot create the enrollment key \(path): \(String(cString: strerror(e))); check the state folder's owner and permissions, or use --state-dir")
            }
            return try Self.readEnrollmentKey(path)
        }
        DurableFile.syncDirectory(of: path)
        return key
    }

    /// Reads and checks an existing key file. A damaged one is refused, not replaced: a new
    /// key would silently lose a re-enrollment an administrator is about to approve.
    private static func readEnrollmentKey(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AgentStateError("cannot read the enrollment key \(path); check its owner and permissions")
        }
        let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard isEnrollmentKey(key) else {
            throw AgentStateError("\(path) does not hold an enrollment key; delete it and run helpline enroll again (an administrator may have to approve the new key)")
        }
        return key
    }

    /// Whether `text` has the shape of an enrollment key: `hlk_` then 43 base64url characters.
    static func isEnrollmentKey(_ text: String) -> Bool {
        guard text.hasPrefix(enrollmentKeyPrefix) else { return false }
        let body = text.utf8.dropFirst(enrollmentKeyPrefix.utf8.count)
        return body.count == 43 && body.allSatisfy { b in
            (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x5F
        }
    }

    /// `count` bytes from the system's secure generator (getrandom on Linux).
    private static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Base64url without padding.
    private static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
