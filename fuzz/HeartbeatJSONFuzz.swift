// libFuzzer target `heartbeat-json`: arbitrary bytes as the body of POST /api/v1/heartbeats.
//
// Compiled by scripts/fuzz.sh into one module with Sources/Shared.
//
// Checks (a violation traps, which libFuzzer reports as a crash):
// - `HeartbeatJSON.decode` never traps;
// - whatever it accepts, Foundation's `BundleJSON.decoder()` decodes to the same heartbeat
//   (the collector stores an accepted body as sent, so the two must never disagree);
// - what it accepts re-encodes and reads back equal.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    checkHeartbeatJSON(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Runs every check on one body.
func checkHeartbeatJSON(_ body: UnsafeRawBufferPointer) {
    guard let fast = HeartbeatJSON.decode(body) else { return }
    let foundation = try? BundleJSON.decoder().decode(Heartbeat.self, from: Data(body))
    require(foundation == fast, "the strict reader accepted a body Foundation reads as \(String(describing: foundation))")
    guard let again = try? BundleJSON.encoder().encode(fast) else { failCheck("an accepted heartbeat does not encode") }
    require(again.withUnsafeBytes { HeartbeatJSON.decode($0) } == fast, "an accepted heartbeat does not read back equal")
}
