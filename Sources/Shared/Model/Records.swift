import Foundation

// The typed members of a bundle. Each mirrors one probe (like an osquery table), doubles as
// documentation of what is collected, and is what the collector's rules and fleet views read.
// Sizes are bytes, times are Dates (ISO 8601 in JSON), percentages 0–100.

/// `system.json`: who and what this machine is.
public struct SystemInfo: Sendable, Codable, Equatable {
    /// `/etc/os-release` (or `/usr/lib/os-release`) fields.
    public struct OSRelease: Sendable, Codable, Equatable {
        public var id: String?
        public var versionID: String?
        public var prettyName: String?
        public init(id: String? = nil, versionID: String? = nil, prettyName: String? = nil) {
            self.id = id; self.versionID = versionID; self.prettyName = prettyName
        }
    }
    /// `uname` fields.
    public struct Kernel: Sendable, Codable, Equatable {
        public var sysname: String
        public var release: String
        public var version: String
        public var machine: String
        public init(sysname: String, release: String, version: String, machine: String) {
            self.sysname = sysname; self.release = release; self.version = version; self.machine = machine
        }
    }
    public var hostname: String
    public var machineID: String?
    public var bootID: String?
    public var osRelease: OSRelease?
    public var kernel: Kernel?
    public var uptimeSeconds: Double?
    public var cpuModel: String?
    public var cpuCount: Int?
    /// 1, 5 and 15 minute load averages.
    public var loadAverage: [Double]?
    /// IANA zone name (e.g. `Europe/Paris`), from `/etc/timezone` or the `/etc/localtime` link.
    public var timezone: String?
    /// Hypervisor (`kvm`, `vmware`…) or `none`.
    public var virtualization: String?
    /// Container runtime (`docker`, `podman`, `lxc`…) or nil when not in a container.
    public var container: String?

    public init(hostname: String, machineID: String? = nil, bootID: String? = nil, osRelease: OSRelease? = nil,
                kernel: Kernel? = nil, uptimeSeconds: Double? = nil, cpuModel: String? = nil, cpuCount: Int? = nil,
                loadAverage: [Double]? = nil, timezone: String? = nil, virtualization: String? = nil, container: String? = nil) {
        self.hostname = hostname; self.machineID = machineID; self.bootID = bootID; self.osRelease = osRelease
        self.kernel = kernel; self.uptimeSeconds = uptimeSeconds; self.cpuModel = cpuModel; self.cpuCount = cpuCount
        self.loadAverage = loadAverage; self.timezone = timezone; self.virtualization = virtualization; self.container = container
    }
}

/// Pressure stall information for one resource (`/proc/pressure/*`).
public struct PressureStall: Sendable, Codable, Equatable {
    /// One line of a PSI file: share of time stalled over 10 s, 60 s and 300 s, and total µs.
    public struct Line: Sendable, Codable, Equatable {
        public var avg10: Double
        public var avg60: Double
        public var avg300: Double
        public var totalMicroseconds: UInt64
        public init(avg10: Double, avg60: Double, avg300: Double, totalMicroseconds: UInt64) {
            self.avg10 = avg10; self.avg60 = avg60; self.avg300 = avg300; self.totalMicroseconds = totalMicroseconds
        }
    }
    /// Some tasks stalled.
    public var some: Line?
    /// All non-idle tasks stalled at once.
    public var full: Line?
    public init(some: Line? = nil, full: Line? = nil) { self.some = some; self.full = full }
}

/// `memory.json`: RAM, swap, pressure and OOM kills.
public struct MemoryInfo: Sendable, Codable, Equatable {
    public var totalBytes: UInt64
    public var availableBytes: UInt64
    public var freeBytes: UInt64
    public var buffersBytes: UInt64
    public var cachedBytes: UInt64
    public var swapTotalBytes: UInt64
    public var swapFreeBytes: UInt64
    /// Every `/proc/meminfo` line, in bytes (or a plain count where the kernel gives no unit).
    public var meminfo: [String: UInt64]
    /// PSI by resource: `cpu`, `memory`, `io`. Empty where the kernel has no PSI.
    public var pressure: [String: PressureStall]
    /// `oom_kill` from `/proc/vmstat`: kernel OOM kills since boot.
    public var oomKills: UInt64?

    public init(totalBytes: UInt64, availableBytes: UInt64, freeBytes: UInt64, buffersBytes: UInt64, cachedBytes: UInt64,
                swapTotalBytes: UInt64, swapFreeBytes: UInt64, meminfo: [String: UInt64] = [:],
                pressure: [String: PressureStall] = [:], oomKills: UInt64? = nil) {
        self.totalBytes = totalBytes; self.availableBytes = availableBytes; self.freeBytes = freeBytes
        self.buffersBytes = buffersBytes; self.cachedBytes = cachedBytes; self.swapTotalBytes = swapTotalBytes
        self.swapFreeBytes = swapFreeBytes; self.meminfo = meminfo; self.pressure = pressure; self.oomKills = oomKills
    }
}

/// A mounted filesystem with its usage (`statvfs`).
public struct FilesystemUsage: Sendable, Codable, Equatable {
    public var mountPoint: String
    public var device: String
    public var fsType: String
    public var readOnly: Bool
    public var sizeBytes: UInt64
    public var usedBytes: UInt64
    /// Bytes available to unprivileged users.
    public var availableBytes: UInt64
    /// used / (used + available) × 100, as `df` computes it.
    public var usedPercent: Double
    public var inodesTotal: UInt64
    public var inodesUsed: UInt64
    /// 0 when the filesystem has no fixed inode count (btrfs).
    public var inodesUsedPercent: Double

    public init(mountPoint: String, device: String, fsType: String, readOnly: Bool, sizeBytes: UInt64, usedBytes: UInt64,
                availableBytes: UInt64, usedPercent: Double, inodesTotal: UInt64, inodesUsed: UInt64, inodesUsedPercent: Double) {
        self.mountPoint = mountPoint; self.device = device; self.fsType = fsType; self.readOnly = readOnly
        self.sizeBytes = sizeBytes; self.usedBytes = usedBytes; self.availableBytes = availableBytes
        self.usedPercent = usedPercent; self.inodesTotal = inodesTotal; self.inodesUsed = inodesUsed
        self.inodesUsedPercent = inodesUsedPercent
    }
}

/// A block device from `/sys/block`.
public struct BlockDevice: Sendable, Codable, Equatable {
    public var name: String
    public var sizeBytes: UInt64
    public var rotational: Bool
    public var removable: Bool
    public var model: String?

    public init(name: String, sizeBytes: UInt64, rotational: Bool, removable: Bool, model: String? = nil) {
        self.name = name; self.sizeBytes = sizeBytes; self.rotational = rotational; self.removable = removable; self.model = model
    }
}

/// `disks.json`.
public struct DiskInfo: Sendable, Codable, Equatable {
    public var filesystems: [FilesystemUsage]
    public var blockDevices: [BlockDevice]
    public init(filesystems: [FilesystemUsage], blockDevices: [BlockDevice]) {
        self.filesystems = filesystems; self.blockDevices = blockDevices
    }
}

/// One process from `/proc/PID`.
public struct ProcessRecord: Sendable, Codable, Equatable {
    public var pid: Int
    public var ppid: Int
    public var uid: Int
    public var user: String?
    /// State letter from `/proc/PID/stat` (R, S, D, Z, T, I…).
    public var state: String
    /// `comm`: the kernel's 15-character command name.
    public var name: String
    /// The command line, redacted; empty for kernel threads.
    public var commandLine: String
    public var threads: Int
    public var rssBytes: UInt64
    public var startTime: Date?
    /// CPU use between the two samples, in % of one core.
    public var cpuPercent: Double
    /// Among the top consumers of CPU.
    public var topCPU: Bool
    /// Among the top consumers of memory.
    public var topMemory: Bool

    public init(pid: Int, ppid: Int, uid: Int, user: String? = nil, state: String, name: String, commandLine: String,
                threads: Int, rssBytes: UInt64, startTime: Date? = nil, cpuPercent: Double, topCPU: Bool = false, topMemory: Bool = false) {
        self.pid = pid; self.ppid = ppid; self.uid = uid; self.user = user; self.state = state; self.name = name
        self.commandLine = commandLine; self.threads = threads; self.rssBytes = rssBytes; self.startTime = startTime
        self.cpuPercent = cpuPercent; self.topCPU = topCPU; self.topMemory = topMemory
    }
}

/// `processes.json`.
public struct ProcessList: Sendable, Codable, Equatable {
    /// Time between the two CPU samples.
    public var sampleIntervalMS: Int
    public var processes: [ProcessRecord]
    public init(sampleIntervalMS: Int, processes: [ProcessRecord]) {
        self.sampleIntervalMS = sampleIntervalMS; self.processes = processes
    }
}

/// A systemd unit that is not well (from ListUnits over sd-bus).
public struct UnitRecord: Sendable, Codable, Equatable {
    public var name: String
    public var description: String
    public var loadState: String
    public var activeState: String
    public var subState: String
    /// When it entered its current state.
    public var since: Date?
    /// `NRestarts` of a service, when known.
    public var restarts: Int?
    /// `Result` of a service (exit-code, signal, start-limit-hit…), when known.
    public var result: String?

    public init(name: String, description: String, loadState: String, activeState: String, subState: String,
                since: Date? = nil, restarts: Int? = nil, result: String? = nil) {
        self.name = name; self.description = description; self.loadState = loadState; self.activeState = activeState
        self.subState = subState; self.since = since; self.restarts = restarts; self.result = result
    }
}

/// `units.json`.
public struct UnitsInfo: Sendable, Codable, Equatable {
    /// Failed units of the system manager.
    public var failed: [UnitRecord]
    public init(failed: [UnitRecord]) { self.failed = failed }
}

/// A network interface.
public struct NetworkInterface: Sendable, Codable, Equatable {
    public var name: String
    /// `operstate` (up, down, dormant, unknown…).
    public var state: String
    public var mac: String?
    public var mtu: Int?
    /// Addresses in CIDR notation.
    public var addresses: [String]
    public init(name: String, state: String, mac: String? = nil, mtu: Int? = nil, addresses: [String] = []) {
        self.name = name; self.state = state; self.mac = mac; self.mtu = mtu; self.addresses = addresses
    }
}

/// A route.
public struct NetworkRoute: Sendable, Codable, Equatable {
    /// `default` or a CIDR.
    public var destination: String
    public var gateway: String?
    public var interface: String
    public var metric: Int?
    public init(destination: String, gateway: String? = nil, interface: String, metric: Int? = nil) {
        self.destination = destination; self.gateway = gateway; self.interface = interface; self.metric = metric
    }
}

/// Name resolution settings.
public struct DNSConfig: Sendable, Codable, Equatable {
    public var servers: [String]
    public var searchDomains: [String]
    /// Where they came from (`/etc/resolv.conf`, `systemd-resolved`).
    public var source: String
    public init(servers: [String], searchDomains: [String], source: String) {
        self.servers = servers; self.searchDomains = searchDomains; self.source = source
    }
}

/// `network.json`.
public struct NetworkInfo: Sendable, Codable, Equatable {
    public var interfaces: [NetworkInterface]
    public var routes: [NetworkRoute]
    public var dns: [DNSConfig]
    public init(interfaces: [NetworkInterface], routes: [NetworkRoute], dns: [DNSConfig]) {
        self.interfaces = interfaces; self.routes = routes; self.dns = dns
    }
}

/// A small health snapshot the daemon sends between bundles: the same record types, trimmed.
public struct Heartbeat: Sendable, Codable, Equatable {
    public var schemaVersion: Int
    public var host: HostIdentity
    public var sentAt: Date
    public var agentVersion: String
    public var system: SystemInfo?
    public var memory: MemoryInfo?
    public var filesystems: [FilesystemUsage]
    /// The top consumers only.
    public var topProcesses: [ProcessRecord]
    public var failedUnits: [UnitRecord]
    /// Bundles waiting in the agent's spool.
    public var spooledBundles: Int

    /// Characters of a process's command line a heartbeat carries and the collector keeps
    /// (the bundle has them whole). A compiler's or a Java program's command line runs to tens
    /// of KiB, and ten of those once took a heartbeat over the collector's 64 KiB limit.
    public static let commandLineCharacters = 1024

    /// The processes a heartbeat carries: the top consumers by CPU or memory, their command
    /// lines cut to `commandLineCharacters`.
    public static func topProcesses(of processes: [ProcessRecord]) -> [ProcessRecord] {
        processes.filter { $0.topCPU || $0.topMemory }.map { process in
            var process = process
            if process.commandLine.utf8.count > commandLineCharacters {
                process.commandLine = String(process.commandLine.prefix(commandLineCharacters))
            }
            return process
        }
    }

    public init(schemaVersion: Int = BundleSchema.current, host: HostIdentity, sentAt: Date, agentVersion: String,
                system: SystemInfo? = nil, memory: MemoryInfo? = nil, filesystems: [FilesystemUsage] = [],
                topProcesses: [ProcessRecord] = [], failedUnits: [UnitRecord] = [], spooledBundles: Int = 0) {
        self.schemaVersion = schemaVersion; self.host = host; self.sentAt = sentAt; self.agentVersion = agentVersion
        self.system = system; self.memory = memory; self.filesystems = filesystems; self.topProcesses = topProcesses
        self.failedUnits = failedUnits; self.spooledBundles = spooledBundles
    }
}
