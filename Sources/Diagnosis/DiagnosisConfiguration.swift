/// The figures metric rules compare against, and how much evidence a finding carries.
/// Every threshold is a parameter so a site can tune rules without a rebuild (the collector's
/// config file sets them); the defaults are what a technician would call "worth a ticket".
public struct DiagnosisConfiguration: Sendable, Equatable, Codable {
    /// Disk used % at or above which a filesystem is `high`.
    public var diskHighPercent: Double
    /// Disk used % at or above which a filesystem is `critical`.
    public var diskCriticalPercent: Double
    /// Free bytes (available to users) below which a filesystem is `high` whatever its percentage
    /// (a small root or /boot fills up in absolute terms first).
    public var diskLowFreeBytes: UInt64
    /// Filesystems smaller than this are never flagged on free bytes alone (EFI partitions, tiny tmpfs).
    public var diskMinimumSizeForFreeBytesCheck: UInt64
    /// Inodes used % at or above which a filesystem is `high`.
    public var inodesHighPercent: Double
    /// Inodes used % at or above which a filesystem is `critical`.
    public var inodesCriticalPercent: Double
    /// Mount points whose being read-only is a fault (others, like snaps or a read-only USB stick, are normal).
    public var readOnlyMountPoints: [String]
    /// PSI memory `some` avg60 (%) at or above which memory pressure is `medium`.
    public var memoryPressureSomePercent: Double
    /// PSI memory `full` avg60 (%) at or above which memory pressure is `high`.
    public var memoryPressureFullPercent: Double
    /// Available memory share (%) of total below which memory is `high`.
    public var lowAvailableMemoryPercent: Double
    /// Available memory share (%) of total below which memory is `critical`.
    public var criticalAvailableMemoryPercent: Double
    /// How many "unrecognised" findings (the largest clusters of error-level messages no rule
    /// matched) a diagnosis adds at most.
    public var maxUnrecognisedFindings: Int = 3
    /// Messages a cluster needs before it is shown (a single error is noise, a repeated one a clue).
    public var unrecognisedMinimumCount: Int = 2
    /// Swap used % at or above which swap is `high` (only when swap is at least `swapMinimumBytes`).
    public var swapHighPercent: Double
    /// Swap smaller than this is not judged (a token swap file is always full).
    public var swapMinimumBytes: UInt64
    /// One process above this % of one core is a CPU hog.
    public var cpuHogPercent: Double
    /// One process holding this % of RAM (RSS) or more is a memory hog.
    public var memoryHogPercent: Double
    /// 1-minute load per CPU at or above which load is `medium`.
    public var loadPerCPUMedium: Double
    /// 1-minute load per CPU at or above which load is `high`.
    public var loadPerCPUHigh: Double
    /// PSI io `some` avg60 (%) at or above which I/O pressure is `medium`.
    public var ioPressurePercent: Double
    /// PSI cpu `some` avg60 (%) at or above which CPU pressure is `medium`.
    public var cpuPressurePercent: Double
    /// A service restarted at least this many times (`NRestarts`) is crash-looping.
    public var unitRestartsCrashLoop: Int
    /// Most evidence items on one finding; the rest are counted ("and N more").
    public var maxEvidence: Int
    /// Most findings one rule raises (the groups with the most matches win).
    public var maxFindingsPerRule: Int

    /// The defaults.
    public init(diskHighPercent: Double = 90, diskCriticalPercent: Double = 97, diskLowFreeBytes: UInt64 = 1 << 30,
                diskMinimumSizeForFreeBytesCheck: UInt64 = 8 << 30, inodesHighPercent: Double = 90,
                inodesCriticalPercent: Double = 97, readOnlyMountPoints: [String] = ["/", "/home", "/var", "/tmp"],
                memoryPressureSomePercent: Double = 10, memoryPressureFullPercent: Double = 5,
                lowAvailableMemoryPercent: Double = 10, criticalAvailableMemoryPercent: Double = 3,
                swapHighPercent: Double = 90, swapMinimumBytes: UInt64 = 256 << 20, cpuHogPercent: Double = 90,
                memoryHogPercent: Double = 40, loadPerCPUMedium: Double = 1.5, loadPerCPUHigh: Double = 3,
                ioPressurePercent: Double = 20, cpuPressurePercent: Double = 40, unitRestartsCrashLoop: Int = 5,
                maxEvidence: Int = 5, maxFindingsPerRule: Int = 10) {
        self.diskHighPercent = diskHighPercent; self.diskCriticalPercent = diskCriticalPercent
        self.diskLowFreeBytes = diskLowFreeBytes; self.diskMinimumSizeForFreeBytesCheck = diskMinimumSizeForFreeBytesCheck
        self.inodesHighPercent = inodesHighPercent; self.inodesCriticalPercent = inodesCriticalPercent
        self.readOnlyMountPoints = readOnlyMountPoints
        self.memoryPressureSomePercent = memoryPressureSomePercent; self.memoryPressureFullPercent = memoryPressureFullPercent
        self.lowAvailableMemoryPercent = lowAvailableMemoryPercent
        self.criticalAvailableMemoryPercent = criticalAvailableMemoryPercent
        self.swapHighPercent = swapHighPercent; self.swapMinimumBytes = swapMinimumBytes
        self.cpuHogPercent = cpuHogPercent; self.memoryHogPercent = memoryHogPercent
        self.loadPerCPUMedium = loadPerCPUMedium; self.loadPerCPUHigh = loadPerCPUHigh
        self.ioPressurePercent = ioPressurePercent; self.cpuPressurePercent = cpuPressurePercent
        self.unitRestartsCrashLoop = unitRestartsCrashLoop
        self.maxEvidence = maxEvidence; self.maxFindingsPerRule = maxFindingsPerRule
    }
}
