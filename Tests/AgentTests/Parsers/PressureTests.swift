import Shared
import Testing
@testable import Agent

@Test func pressureParsesSomeAndFull() {
    let p = Pressure.parse("some avg10=3.21 avg60=1.50 avg300=0.75 total=45678901\nfull avg10=1.10 avg60=0.62 avg300=0.30 total=23456789\n")
    #expect(p?.some == PressureStall.Line(avg10: 3.21, avg60: 1.5, avg300: 0.75, totalMicroseconds: 45_678_901))
    #expect(p?.full?.totalMicroseconds == 23_456_789)
}

@Test func pressureCPUOnOldKernelsHasOnlySome() {
    // Kernels before 5.13 print no "full" line for cpu.
    let p = Pressure.parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    #expect(p?.some != nil)
    #expect(p?.full == nil)
    #expect(Pressure.parse("") == nil)
    #expect(Pressure.parse("some avg10=x avg60=0 avg300=0 total=0") == nil)
}
