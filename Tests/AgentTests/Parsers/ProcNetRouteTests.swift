import Shared
import Testing
@testable import Agent

@Test func procNetRouteDefaultAndSubnet() {
    let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        + "wlp2s0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
        + "wlp2s0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n"
        + "tun0\t0000000A\t00000000\t0001\t0\t0\t0\t00FF00FF\t0\t0\t0\n"
        + "short line\n"
    let r = ProcNetRoute.parse(text)
    #expect(r.count == 3)
    #expect(r[0].viaGateway)
    #expect(r[0].record == NetworkRoute(destination: "default", gateway: "192.168.1.1", interface: "wlp2s0", metric: 600))
    #expect(r[1].record == NetworkRoute(destination: "192.168.1.0/24", gateway: nil, interface: "wlp2s0", metric: 600))
    // A non-contiguous mask is shown as a dotted mask rather than a wrong length.
    #expect(r[2].record.destination == "10.0.0.0/255.0.255.0")
}
