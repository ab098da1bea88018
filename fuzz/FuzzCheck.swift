// Compiled into every fuzz target.
#if canImport(Glibc)
import Glibc
#endif

/// Traps with `message` on standard error when `condition` is false. Unlike `precondition`,
/// the message is printed in `-O` builds too, so a crash log says which check failed.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    guard !condition else { return }
    failCheck(message())
}

/// Writes `message` to standard error and traps.
func failCheck(_ message: String) -> Never {
    let line = Array("fuzz check failed: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}
