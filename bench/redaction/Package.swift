// swift-tools-version:6.2
import PackageDescription

/// Micro-benchmark of the agent's redaction. Compiles the agent's own
/// `Sources/Agent/Redaction` files (symlinked) so the root package stays untouched.
let package = Package(
    name: "redaction-bench",
    platforms: [.macOS(.v14)],
    targets: [
        .executableTarget(name: "redaction-bench", path: "Sources/redaction-bench"),
    ],
    swiftLanguageModes: [.v6]
)
