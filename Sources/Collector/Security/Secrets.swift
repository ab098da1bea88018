import Crypto
import Foundation
import HummingbirdBcrypt

/// Random credentials and their stored forms.
///
/// Tokens and secrets are 256 random bits, shown once and stored only as their SHA-256:
/// they are long and random, so a fast hash is enough and a lookup by hash stays one
/// indexed query. Passwords, which people choose, are stored with bcrypt.
public enum Secrets {
    /// What a credential is for; the prefix lets people (and secret scanners) tell them apart.
    public enum Kind: String, Sendable {
        /// An agent's host token (`hlh_`).
        case hostToken = "hlh_"
        /// A script's API token (`hlt_`).
        case apiToken = "hlt_"
        /// An enrollment secret (`hle_`).
        case enrollmentSecret = "hle_"
        /// A web UI session (`hls_`).
        case session = "hls_"
    }

    /// A new random credential: the prefix and 256 random bits in base64url.
    public static func generate(_ kind: Kind) -> String {
        kind.rawValue + base64url(randomBytes(32))
    }

    /// A readable random password (about 120 bits).
    public static func generatePassword() -> String {
        base64url(randomBytes(15))
    }

    /// Hex SHA-256 of a credential, as stored.
    public static func hash(_ credential: String) -> String {
        hex(SHA256.hash(data: Data(credential.utf8)))
    }

    /// bcrypt of a password.
    public static func hashPassword(_ password: String, cost: UInt8 = 10) -> String {
        Bcrypt.hash(password, cost: cost)
    }

    /// Checks a password against its bcrypt hash.
    public static func verifyPassword(_ password: String, hash: String) -> Bool {
        Bcrypt.verify(password, hash: hash)
    }

    /// Lower-case hex of a digest.
    public static func hex(_ digest: some Sequence<UInt8>) -> String {
        // Bytes, not `Character`s: every authenticated request hashes its token.
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(Self.digits[Int(byte >> 4)])
            out.append(Self.digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func randomBytes(_ count: Int) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
    }

    private static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
