// swift-tools-version:6.2
import Foundation
import PackageDescription

/// `HELPLINE_AGENT_ONLY=1 swift build` leaves out the server (`Collector`): no NIO,
/// Hummingbird or database, about a minute from clean. For agent and rule work.
let agentOnly = ProcessInfo.processInfo.environment["HELPLINE_AGENT_ONLY"] == "1"

/// Swift 6 language mode everywhere; strict concurrency is the default there.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "helpline",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "helpline", targets: ["Agent"]),
        .executable(name: "helpline-collector", targets: ["Collector"]),
        .library(name: "Shared", targets: ["Shared"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // Ticket integrations' outbound HTTP (timeouts, no redirects, bounded bodies). Already
        // built for HummingbirdTesting's live tests, so it adds little to a build.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // The PostgreSQL store (`--database postgres://…`): several collectors on one database.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Already built for Hummingbird; named for `NIOSingletons` (the collector's tasks on
        // its event loops, HelplineCollector.swift).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // C libraries the product is built on. Each is a system library found with
        // pkg-config; the module map's header adds `static inline` shims only for what
        // Swift cannot import (macros and variadic functions).
        .systemLibrary(
            name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // libcurl is not linked: the shim opens libcurl.so.4 on first use (see its header), so
        // no pkgConfig here, whose `--libs` would link it. Headers: libcurl4-openssl-dev.
        .systemLibrary(name: "CCurl", path: "Sources/CCurl"),
        .systemLibrary(
            name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),

        // The wire contract both sides agree on: bundle format, records, findings.
        .target(
            name: "Shared",
            dependencies: ["CZlib"],
            swiftSettings: strict),

        // `helpline`, the workstation agent. No NIO, no Hummingbird. It runs the same
        // diagnosis rules as the collector on the bundle it just made, for an answer offline.
        .executableTarget(
            name: "Agent",
            dependencies: [
                "Shared", "Diagnosis", "CSystemd", "CCurl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),

        // Diagnosis rules: bundle in, ranked findings with evidence out. No server code, so
        // `helpline-collector diagnose` and the rule tests need no NIO.
        .target(
            name: "Diagnosis",
            dependencies: [
                "Shared",
                .product(name: "Yams", package: "Yams"),
            ],
            // The rule files are compiled in (BuiltInRules.swift, scripts/embed-rules.py): a
            // copied or installed binary needs no resource folder beside it.
            exclude: ["Rules"],
            swiftSettings: strict),

        // `helpline-collector`, the server.
        .executableTarget(
            name: "Collector",
            dependencies: [
                "Shared", "Diagnosis", "CSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            // Templates and static files are compiled in (WebAssets.swift, scripts/embed-web.py).
            exclude: ["Web/Templates", "Web/Static"],
            swiftSettings: strict),

        .testTarget(
            name: "SharedTests",
            dependencies: ["Shared"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict),
        .testTarget(
            name: "AgentTests",
            dependencies: ["Agent", "Shared"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict),
        .testTarget(
            name: "DiagnosisTests",
            dependencies: ["Diagnosis", "Shared"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict),
        .testTarget(
            name: "CollectorTests",
            dependencies: [
                "Collector", "Shared", "Diagnosis",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                // Test remotes behind TLS (a tracker's own CA: IntegrationTests).
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                // Tests read the SQLite file directly (the journal index's rows after expiry).
                .product(name: "GRDB", package: "GRDB.swift"),
                // Tests create a database of their own on the test PostgreSQL server.
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)

if agentOnly {
    let collectorOnly: Set<String> = ["Collector", "CollectorTests"]
    package.targets.removeAll { collectorOnly.contains($0.name) }
    package.products.removeAll { $0.name == "helpline-collector" }
    let agentPackages = ["swift-argument-parser", "swift-log", "Yams"]
    package.dependencies.removeAll { dep in
        guard case .sourceControl(_, let location, _) = dep.kind else { return false }
        return !agentPackages.contains { location.hasSuffix("/" + $0) }
    }
}
