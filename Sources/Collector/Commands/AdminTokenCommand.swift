import ArgumentParser
import Foundation

/// `admin token create|list|revoke`: API tokens for scripts.
public struct AdminTokenCommand: AsyncParsableCommand {
    /// Command help.
    public static let configuration = CommandConfiguration(
        commandName: "token", abstract: "API tokens for scripts (Authorization: Bearer).",
        subcommands: [Create.self, List.self, Revoke.self])

    /// Creates the command.
    public init() {}

    /// `admin token create NAME`: prints only the token.
    public struct Create: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(abstract: "Create a token and print it (only it) on standard output.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "A name for the token (who or what uses it).") var name: String
        @Option(help: "technician or admin.") var role: UserRole = .technician
        @Option(name: .customLong("expires-in-days"), help: "Days until the token stops working, 1 to 3650 (default: never).") var expiresInDays: Int?
        /// Creates the command.
        public init() {}
        /// Checks the name and the lifetime before the store is opened.
        public func validate() throws {
            guard isPlainName(name, max: 64) else {
                throw ValidationError("a token's name is 1 to 64 characters (Unicode code points), no control characters")
            }
            if let d = expiresInDays, !(1...3650).contains(d) { throw ValidationError("--expires-in-days must be from 1 to 3650") }
        }
        /// Runs it.
        public func run() async throws {
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            let token = Secrets.generate(.apiToken)
            let now = Date()
            do {
                _ = try await db.createAPIToken(name: name, role: role, hash: Secrets.hash(token),
                                                expiresAt: expiresInDays.map { now.addingTimeInterval(Double($0) * 86_400) }, now: now)
            } catch let error as StoreError {
                try? await db.close()
                throw ValidationError(error.message)
            }
            try await db.close()
            Console.out(token)
        }
    }

    /// `admin token list`.
    public struct List: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(abstract: "List tokens (never their values).")
        @OptionGroup var store: StoreOptions
        /// Creates the command.
        public init() {}
        /// Runs it.
        public func run() async throws {
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            let tokens = try await db.apiTokens()
            try await db.close()
            let f = ISO8601DateFormatter()
            let now = Date()
            Console.out(formatTable(["NAME", "ROLE", "CREATED", "EXPIRES", "STATE"], tokens.map { t in
                let state = t.revokedAt != nil ? "revoked" : (t.isUsable(at: now) ? "active" : "expired")
                return [t.name, t.role.rawValue, f.string(from: t.createdAt), t.expiresAt.map(f.string) ?? "never", state]
            }))
        }
    }

    /// `admin token revoke NAME`.
    public struct Revoke: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(abstract: "Revoke a token by name.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The token's name.") var name: String
        /// Creates the command.
        public init() {}
        /// Runs it.
        public func run() async throws {
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            let done = try await db.revokeAPIToken(name: name, now: Date())
            try await db.close()
            guard done else { throw ValidationError("no active API token named \(name); see `admin token list`") }
            Console.err("revoked API token \(name)")
        }
    }
}
