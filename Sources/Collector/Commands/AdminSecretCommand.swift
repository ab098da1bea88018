import ArgumentParser
import Foundation

/// `admin secret create|list|revoke`: enrollment secrets.
public struct AdminSecretCommand: AsyncParsableCommand {
    /// Command help.
    public static let configuration = CommandConfiguration(
        commandName: "secret", abstract: "Enrollment secrets that agents use to enroll.",
        subcommands: [Create.self, List.self, Revoke.self])

    /// Creates the command.
    public init() {}

    /// `admin secret create`: prints only the new secret on standard output.
    public struct Create: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(abstract: "Create a secret and print it (only it) on standard output.")
        @OptionGroup var store: StoreOptions
        @Option(help: "A note saying what the secret is for.") var label: String?
        @Option(name: .customLong("expires-in-days"), help: "Days until the secret stops working, 1 to 3650 (default: never).") var expiresInDays: Int?
        @Option(name: .customLong("max-uses"), help: "Enrollments it allows in all, 1 to 1000000 (default: unlimited).") var maxUses: Int?
        /// Creates the command.
        public init() {}
        /// Checks the ranges.
        public func validate() throws {
            if let d = expiresInDays, !(1...3650).contains(d) { throw ValidationError("--expires-in-days must be from 1 to 3650") }
            if let n = maxUses, !(1...1_000_000).contains(n) { throw ValidationError("--max-uses must be from 1 to 1000000") }
        }
        /// Runs it.
        public func run() async throws {
            let configuration = try store.resolve(flags: store.flagSettings)
            let db = try await openStore(configuration)
            let secret = Secrets.generate(.enrollmentSecret)
            let now = Date()
            _ = try await db.createEnrollmentSecret(hash: Secrets.hash(secret), label: label,
                                                    expiresAt: expiresInDays.map { now.addingTimeInterval(Double($0) * 86_400) }, maxUses: maxUses, now: now)
            try await db.close()
            Console.out(secret)
        }
    }

    /// `admin secret list`.
    public struct List: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(abstract: "List secrets (never their values).")
        @OptionGroup var store: StoreOptions
        /// Creates the command.
        public init() {}
        /// Runs it.
        public func run() async throws {
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            let secrets = try await db.enrollmentSecrets()
            try await db.close()
            let f = ISO8601DateFormatter()
            let now = Date()
            Console.out(formatTable(["ID", "LABEL", "CREATED", "EXPIRES", "STATE", "USES"], secrets.map { s in
                let state = s.revokedAt != nil ? "revoked" : (s.isUsable(at: now) ? "active" : (s.expiresAt.map { $0 <= now } ?? false ? "expired" : "used up"))
                return [String(s.id), s.label ?? "-", f.string(from: s.createdAt), s.expiresAt.map(f.string) ?? "never", state,
                        String(s.useCount) + (s.maxUses.map { " of \($0)" } ?? "")]
            }))
        }
    }

    /// `admin secret revoke ID`.
    public struct Revoke: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(abstract: "Revoke a secret by its ID (from `list`).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The secret's ID.") var id: Int64
        /// Creates the command.
        public init() {}
        /// Runs it.
        public func run() async throws {
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            let done = try await db.revokeEnrollmentSecret(id: id, now: Date())
            try await db.close()
            guard done else { throw ValidationError("no active enrollment secret has ID \(id); see `admin secret list`") }
            Console.err("revoked enrollment secret \(id)")
        }
    }
}
