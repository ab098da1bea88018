"""What a simulated Helpline workstation sends: heartbeats and bundles shaped like the agent's.

A `Workstation` is one laptop of the simulated fleet: a machine id, a boot id, a hostname,
a few filesystems, ~150 processes, sometimes a failed unit. `heartbeat()` builds the
`Heartbeat` record of Sources/Shared/Model/Records.swift the way the daemon's
`HeartbeatSnapshot` trims it (top CPU/memory processes only); `bundle()` builds a v1 bundle
(docs/bundle-format.md): manifest.json first, then system, memory, disks, processes, units,
network, sometimes note.txt, then journal.jsonl in JournalLineCodec's format.

Writing a few thousand journal lines and deflating them for every bundle would make the
client, not the collector, the thing measured on a 2-core machine, so the journals come from
a small pool of pre-compressed variants (`JournalPool`). A bundle is a multi-member gzip
file, as `BundleWriter` writes it: one member with the bundle's own small members (manifest
first), one with the shared journal member, one with the end-of-archive blocks.
"""
import gzip
import hashlib
import json
import random
import time
import uuid

AGENT_VERSION = "0.1.0"

GIB = 1 << 30
MIB = 1 << 20


def iso(t):
    """ISO 8601 in whole seconds, UTC: what BundleJSON (`.iso8601`) writes and reads."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


def canonical_json(value):
    """JSON as the agent writes members: sorted keys, no spaces, slashes not escaped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def tar_member(name, data):
    """One ustar header and the data padded to 512 bytes: no end-of-archive blocks."""
    header = bytearray(512)

    def put(offset, length, value):
        header[offset:offset + len(value)] = value[:length]

    put(0, 100, name.encode())
    put(100, 8, b"0000644\0")
    put(108, 8, b"0000000\0")
    put(116, 8, b"0000000\0")
    put(124, 12, b"%011o\0" % len(data))
    put(136, 12, b"%011o\0" % 0)
    header[148:156] = b" " * 8
    header[156] = ord("0")
    put(257, 6, b"ustar\0")
    put(263, 2, b"00")
    checksum = sum(header)
    header[148:156] = b"%06o\0 " % checksum
    return bytes(header) + data + b"\0" * (-len(data) % 512)


END_OF_ARCHIVE = gzip.compress(b"\0" * 1024, compresslevel=3, mtime=0)

# Processes of a Debian desktop: (comm, command line, user, base RSS MiB, base CPU %).
DESKTOP_PROCESSES = [
    ("systemd", "/sbin/init splash", "root", 12, 0.0),
    ("systemd-journal", "/lib/systemd/systemd-journald", "root", 40, 0.1),
    ("systemd-udevd", "/lib/systemd/systemd-udevd", "root", 8, 0.0),
    ("systemd-resolve", "/lib/systemd/systemd-resolved", "systemd-resolve", 12, 0.0),
    ("NetworkManager", "/usr/sbin/NetworkManager --no-daemon", "root", 20, 0.1),
    ("wpa_supplicant", "/sbin/wpa_supplicant -u -s -O /run/wpa_supplicant", "root", 10, 0.0),
    ("dbus-daemon", "@dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only", "messagebus", 6, 0.0),
    ("gdm3", "/usr/sbin/gdm3", "root", 9, 0.0),
    ("gnome-shell", "/usr/bin/gnome-shell", "alice", 420, 6.0),
    ("Xwayland", "/usr/bin/Xwayland :0 -rootless -noreset -accessx -core -auth /run/user/1000/.mutter-Xwaylandauth.ABC123", "alice", 90, 1.0),
    ("pipewire", "/usr/bin/pipewire", "alice", 14, 0.3),
    ("wireplumber", "/usr/bin/wireplumber", "alice", 18, 0.1),
    ("firefox-esr", "/usr/lib/firefox-esr/firefox-esr", "alice", 640, 9.0),
    ("Web Content", "/usr/lib/firefox-esr/firefox-esr -contentproc -childID 12 -isForBrowser -prefsLen 31000 -prefMapSize 230000 -jsInitLen 240000 -parentBuildID 20240101000000 -appDir /usr/lib/firefox-esr/browser 4711 true tab", "alice", 310, 4.0),
    ("Isolated Web Co", "/usr/lib/firefox-esr/firefox-esr -contentproc -childID 17 -isForBrowser -prefsLen 31000 -prefMapSize 230000 -jsInitLen 240000 -parentBuildID 20240101000000 -appDir /usr/lib/firefox-esr/browser 4711 true tab", "alice", 260, 3.0),
    ("thunderbird", "/usr/lib/thunderbird/thunderbird", "alice", 380, 1.5),
    ("code", "/usr/share/code/code --unity-launch", "alice", 520, 5.0),
    ("slack", "/usr/lib/slack/slack --enable-crashpad", "alice", 450, 2.0),
    ("evolution-data-", "/usr/libexec/evolution-data-server/evolution-source-registry", "alice", 30, 0.0),
    ("tracker-miner-f", "/usr/libexec/tracker-miner-fs-3", "alice", 60, 0.5),
    ("gnome-terminal-", "/usr/libexec/gnome-terminal-server", "alice", 55, 0.2),
    ("bash", "bash", "alice", 5, 0.0),
    ("sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", "root", 9, 0.0),
    ("cron", "/usr/sbin/cron -f", "root", 3, 0.0),
    ("cupsd", "/usr/sbin/cupsd -l", "root", 11, 0.0),
    ("packagekitd", "/usr/libexec/packagekitd", "root", 45, 0.0),
    ("fwupd", "/usr/libexec/fwupd/fwupd", "root", 40, 0.0),
    ("helpline", "/usr/bin/helpline daemon", "root", 38, 0.0),
]

KERNEL_THREADS = ["kthreadd", "rcu_gp", "rcu_par_gp", "kworker/0:1H", "ksoftirqd/0", "migration/0", "kworker/u16:3-events_unbound",
                  "kswapd0", "kcompactd0", "khugepaged", "irq/128-iwlwifi", "nvme-wq", "jbd2/nvme0n1p2-8", "ext4-rsv-conver",
                  "kworker/3:2-events", "card0-crtc0", "i915_flip", "scsi_eh_0", "watchdogd", "kauditd"]

FAILED_UNITS = [
    ("fwupd-refresh.service", "Refresh fwupd metadata and update motd", "exit-code"),
    ("cups-browsed.service", "Make remote CUPS printers available locally", "exit-code"),
    ("snapd.service", "Snap Daemon", "start-limit-hit"),
]

HOSTNAME_PREFIXES = ["laptop", "ws", "dev", "fin", "hr", "ops", "lab"]
CPU_MODELS = ["Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", "AMD Ryzen 7 PRO 5850U with Radeon Graphics",
              "Intel(R) Core(TM) i5-10310U CPU @ 1.70GHz", "12th Gen Intel(R) Core(TM) i7-1260P"]
KERNELS = ["6.1.0-18-amd64", "6.1.0-21-amd64", "6.1.0-23-amd64"]
NOTES = ["wifi keeps dropping", "laptop very slow since this morning", "cannot save files", "firefox closed by itself",
         "printer not found", "screen froze twice", None, None]


class Workstation:
    """One simulated laptop: a stable identity and a machine that changes a little between heartbeats."""

    def __init__(self, index, rng):
        self.rng = rng
        self.index = index
        self.hostname = f"{rng.choice(HOSTNAME_PREFIXES)}-{index:05d}"
        self.machine_id = uuid.UUID(int=rng.getrandbits(128)).hex
        self.boot_id = str(uuid.UUID(int=rng.getrandbits(128)))
        self.enrollment_key = "hlk_" + uuid.UUID(int=rng.getrandbits(128)).hex + uuid.UUID(int=rng.getrandbits(128)).hex
        self.host_id = None
        self.token = None
        self.booted_at = time.time() - rng.uniform(600, 7 * 86400)
        self.cpu_count = rng.choice([4, 8, 8, 12, 16])
        self.cpu_model = rng.choice(CPU_MODELS)
        self.kernel = rng.choice(KERNELS)
        self.total_memory = rng.choice([8, 16, 16, 32]) * GIB
        disk = rng.choice([256, 512, 1024]) * 1000 ** 3
        root_used = rng.uniform(0.3, 0.97)
        self.filesystems = [
            self._filesystem("/", "/dev/nvme0n1p2", "ext4", disk * 0.9, root_used),
            self._filesystem("/boot/efi", "/dev/nvme0n1p1", "vfat", 512 * MIB, 0.01),
            self._filesystem("/home", "/dev/mapper/vg-home", "ext4", disk * 0.08, rng.uniform(0.1, 0.9)),
            self._filesystem("/run", "tmpfs", "tmpfs", self.total_memory // 10, 0.01),
        ]
        self.failed_units = [u for u in FAILED_UNITS if rng.random() < 0.1]
        pid = 1
        self.processes = []
        for name in KERNEL_THREADS:
            pid += rng.randint(1, 9)
            self.processes.append((pid, 2, 0, "root", name, "", 0, 0.0))
        for _ in range(4):  # several copies of the multi-process programs, as on a real desktop
            for comm, cmd, user, rss, cpu in DESKTOP_PROCESSES:
                if rng.random() < (1.0 if _ == 0 else 0.25):
                    pid += rng.randint(1, 400)
                    self.processes.append((pid, 1, 1000 if user == "alice" else 0, user, comm, cmd, rss * MIB, cpu))

    def _filesystem(self, mount, device, fs_type, size, used_share):
        size = int(size)
        used = int(size * used_share)
        available = size - used
        inodes = max(size // 16384, 1)
        inodes_used = int(inodes * used_share * 0.3)
        return {"mountPoint": mount, "device": device, "fsType": fs_type, "readOnly": False, "sizeBytes": size,
                "usedBytes": used, "availableBytes": available, "usedPercent": used * 100.0 / max(used + available, 1),
                "inodesTotal": inodes, "inodesUsed": inodes_used, "inodesUsedPercent": inodes_used * 100.0 / inodes}

    # Records shared by heartbeats and bundles

    def system(self, now):
        load = round(self.rng.uniform(0.1, self.cpu_count * 0.6), 2)
        return {"hostname": self.hostname, "machineID": self.machine_id, "bootID": self.boot_id,
                "osRelease": {"id": "debian", "versionID": "12", "prettyName": "Debian GNU/Linux 12 (bookworm)"},
                "kernel": {"sysname": "Linux", "release": self.kernel, "version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
                           "machine": "x86_64"},
                "uptimeSeconds": round(now - self.booted_at, 2), "cpuModel": self.cpu_model, "cpuCount": self.cpu_count,
                "loadAverage": [load, round(load * 0.9, 2), round(load * 0.8, 2)], "timezone": "Europe/Paris",
                "virtualization": "none"}

    def memory(self):
        rng = self.rng
        total = self.total_memory
        available = int(total * rng.uniform(0.05, 0.7))
        free = available // 3
        cached = available - free
        swap_total = 2 * GIB
        swap_free = int(swap_total * rng.uniform(0.5, 1.0))
        meminfo = {"MemTotal": total, "MemFree": free, "MemAvailable": available, "Buffers": 120 * MIB, "Cached": cached,
                   "SwapCached": 8 * MIB, "Active": total // 3, "Inactive": total // 4, "Active(anon)": total // 5,
                   "Inactive(anon)": total // 20, "Active(file)": total // 7, "Inactive(file)": total // 5,
                   "Unevictable": 40 * MIB, "Mlocked": 30 * MIB, "SwapTotal": swap_total, "SwapFree": swap_free,
                   "Zswap": 0, "Zswapped": 0, "Dirty": rng.randint(0, 64) * MIB, "Writeback": 0, "AnonPages": total // 4,
                   "Mapped": 600 * MIB, "Shmem": 400 * MIB, "KReclaimable": 300 * MIB, "Slab": 500 * MIB,
                   "SReclaimable": 300 * MIB, "SUnreclaim": 200 * MIB, "KernelStack": 20 * MIB, "PageTables": 60 * MIB,
                   "SecPageTables": 0, "NFS_Unstable": 0, "Bounce": 0, "WritebackTmp": 0, "CommitLimit": total // 2 + swap_total,
                   "Committed_AS": total, "VmallocTotal": 34359738367 * 1024, "VmallocUsed": 80 * MIB, "VmallocChunk": 0,
                   "Percpu": 12 * MIB, "HardwareCorrupted": 0, "AnonHugePages": 0, "ShmemHugePages": 0,
                   "ShmemPmdMapped": 0, "FileHugePages": 0, "FilePmdMapped": 0, "HugePages_Total": 0, "HugePages_Free": 0,
                   "HugePages_Rsvd": 0, "HugePages_Surp": 0, "Hugepagesize": 2 * MIB, "Hugetlb": 0, "DirectMap4k": 500 * MIB,
                   "DirectMap2M": 8 * GIB, "DirectMap1G": 8 * GIB}

        def psi(level):
            line = {"avg10": round(level * rng.uniform(0.5, 1.5), 2), "avg60": round(level, 2), "avg300": round(level * 0.8, 2),
                    "totalMicroseconds": rng.randint(0, 10 ** 9)}
            return line

        pressure = {"cpu": {"some": psi(rng.uniform(0, 20))},
                    "memory": {"some": psi(rng.uniform(0, 5)), "full": psi(rng.uniform(0, 2))},
                    "io": {"some": psi(rng.uniform(0, 8)), "full": psi(rng.uniform(0, 3))}}
        return {"totalBytes": total, "availableBytes": available, "freeBytes": free, "buffersBytes": 120 * MIB,
                "cachedBytes": cached, "swapTotalBytes": swap_total, "swapFreeBytes": swap_free, "meminfo": meminfo,
                "pressure": pressure, "oomKills": 0}

    def process_records(self, now):
        rng = self.rng
        records = []
        for pid, ppid, uid, user, comm, cmd, rss, cpu in self.processes:
            records.append({"pid": pid, "ppid": ppid, "uid": uid, "user": user, "state": "S" if rng.random() < 0.95 else "R",
                            "name": comm[:15], "commandLine": cmd, "threads": 1 if not cmd else rng.randint(1, 60),
                            "rssBytes": int(rss * rng.uniform(0.8, 1.3)), "startTime": iso(self.booted_at + pid / 10),
                            "cpuPercent": round(cpu * rng.uniform(0.2, 2.0), 1), "topCPU": False, "topMemory": False})
        for r in sorted(records, key=lambda r: -r["cpuPercent"])[:5]:
            r["topCPU"] = True
        for r in sorted(records, key=lambda r: -r["rssBytes"])[:5]:
            r["topMemory"] = True
        return records

    def units(self, now):
        return [{"name": n, "description": d, "loadState": "loaded", "activeState": "failed", "subState": "failed",
                 "since": iso(now - 3600), "restarts": 0, "result": r} for n, d, r in self.failed_units]

    # What goes on the wire

    def heartbeat(self, sent_at, spooled=0):
        """The JSON body of one `POST /api/v1/heartbeats`; `sent_at` is whole seconds."""
        top = [p for p in self.process_records(sent_at) if p["topCPU"] or p["topMemory"]]
        beat = {"schemaVersion": 1, "host": {"hostID": self.host_id, "hostname": self.hostname, "machineID": self.machine_id,
                                             "bootID": self.boot_id.replace("-", "")},
                "sentAt": iso(sent_at), "agentVersion": AGENT_VERSION, "system": self.system(sent_at), "memory": self.memory(),
                "filesystems": self.filesystems, "topProcesses": top, "failedUnits": self.units(sent_at),
                "spooledBundles": spooled}
        return canonical_json(beat)

    def bundle(self, journal, now, reason="user_request"):
        """A complete bundle: (bundle id, gzip bytes). `journal` is a `JournalVariant`."""
        bundle_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        note = self.rng.choice(NOTES) if reason == "user_request" else None
        processes = self.process_records(now)
        members = [
            ("system.json", canonical_json(self.system(now)), 1),
            ("memory.json", canonical_json(self.memory()), 55),
            ("disks.json", canonical_json({"filesystems": self.filesystems,
                                           "blockDevices": [{"name": "nvme0n1", "sizeBytes": 512 * 1000 ** 3, "rotational": False,
                                                             "removable": False, "model": "SAMSUNG MZVL2512HCJQ-00B00"}]}),
             len(self.filesystems)),
            ("processes.json", canonical_json({"sampleIntervalMS": 500, "processes": processes}), len(processes)),
            ("units.json", canonical_json({"failed": self.units(now)}), len(self.failed_units)),
            ("network.json", canonical_json(self.network()), 3),
        ]
        if note:
            members.append(("note.txt", note.encode(), 1))
        probes = [{"name": "journal", "member": "journal.jsonl", "status": "ok", "durationMS": self.rng.randint(150, 600),
                   "items": journal.entries, "bytes": journal.raw_bytes, "truncated": False}]
        for name, data, items in members:
            if name != "note.txt":
                probes.append({"name": name.split(".")[0], "member": name, "status": "ok", "durationMS": self.rng.randint(1, 600),
                               "items": items, "bytes": len(data), "truncated": False})
        manifest = {"schemaVersion": 1, "bundleID": bundle_id, "createdAt": iso(now), "agentVersion": AGENT_VERSION,
                    "host": {"hostID": self.host_id, "hostname": self.hostname, "machineID": self.machine_id,
                             "bootID": self.boot_id.replace("-", "")},
                    "reason": reason, "probes": probes, "redactions": {"password": 1} if self.rng.random() < 0.2 else {},
                    "journalWindow": {"allSince": iso(now - 3600), "importantSince": iso(now - 72 * 3600), "importantPriority": 4,
                                      "kernelBootID": self.boot_id.replace("-", ""), "until": iso(now), "maxEntries": 200000,
                                      "maxBytes": 64 * MIB, "firstCursor": journal.first_cursor, "lastCursor": journal.last_cursor}}
        if note:
            manifest["note"] = note
            manifest["requestedBy"] = "alice"
        head = tar_member("manifest.json", canonical_json(manifest))
        head += b"".join(tar_member(name, data) for name, data, _ in members)
        return bundle_id, gzip.compress(head, compresslevel=3, mtime=0) + journal.member + END_OF_ARCHIVE

    def network(self):
        octet = self.index % 250 + 2
        return {"interfaces": [{"name": "lo", "state": "unknown", "mtu": 65536, "addresses": ["127.0.0.1/8", "::1/128"]},
                               {"name": "wlp2s0", "state": "up", "mac": "02:00:00:%02x:%02x:%02x" % (self.index >> 16 & 255, self.index >> 8 & 255, self.index & 255),
                                "mtu": 1500, "addresses": [f"10.20.{self.index // 250 % 250}.{octet}/16"]},
                               {"name": "enp0s31f6", "state": "down", "mac": "02:00:01:00:00:01", "mtu": 1500, "addresses": []}],
                "routes": [{"destination": "default", "gateway": "10.20.0.1", "interface": "wlp2s0", "metric": 600},
                           {"destination": "10.20.0.0/16", "interface": "wlp2s0", "metric": 600}],
                "dns": [{"servers": ["127.0.0.53"], "searchDomains": ["corp.example"], "source": "/etc/resolv.conf"}]}


# Journal content

IDENTS = [
    # (identifier, unit, comm, exe, transport, facility, weight, priorities, messages)
    ("kernel", None, None, None, "kernel", 0, 12, [6] * 12 + [5, 5, 4], [
        "usb 1-{a}: new high-speed USB device number {n} using xhci_hcd",
        "wlp2s0: associated",
        "audit: type=1400 audit({t}.{n}:{n}): apparmor=\"ALLOWED\" operation=\"open\" profile=\"snap.firefox\" name=\"/proc/{n}/stat\" pid={n} comm=\"firefox\" requested_mask=\"r\" denied_mask=\"r\" fsuid=1000 ouid=1000",
        "EXT4-fs (nvme0n1p2): re-mounted. Quota mode: none.",
        "i915 0000:00:02.0: [drm] GT0: HuC: authenticated!",
        "nvme nvme0: {n}/0/0 default/read/poll queues",
        "iwlwifi 0000:00:14.3: Unhandled alg: 0x{h}",
    ]),
    ("systemd", "init.scope", "systemd", "/usr/lib/systemd/systemd", "journal", 3, 20, [6] * 12 + [5, 4], [
        "Started session-{n}.scope - Session {n} of User alice.",
        "Starting apt-daily.service - Daily apt download activities...",
        "Finished apt-daily.service - Daily apt download activities.",
        "logrotate.service: Deactivated successfully.",
        "Created slice user-1000.slice - User Slice of UID 1000.",
        "fwupd-refresh.service: Consumed {n}ms CPU time.",
        "Starting packagekit.service - PackageKit Daemon...",
    ]),
    ("NetworkManager", "NetworkManager.service", "NetworkManager", "/usr/sbin/NetworkManager", "syslog", 3, 10, [6] * 8 + [5, 4], [
        "<info>  [{t}.{n}] dhcp4 (wlp2s0): state changed new lease, address=10.20.{a}.{b}",
        "<info>  [{t}.{n}] device (wlp2s0): state change: activated -> activated (reason 'none', sys-iface-state: 'managed')",
        "<warn>  [{t}.{n}] device (wlp2s0): Activation: (wifi) association took too long",
        "<info>  [{t}.{n}] manager: NetworkManager state is now CONNECTED_GLOBAL",
    ]),
    ("gnome-shell", None, "gnome-shell", "/usr/bin/gnome-shell", "stdout", 3, 14, [6, 6, 6, 4, 3], [
        "Window manager warning: Overwriting existing binding of keysym {a} with keysym {a} (keycode {n}).",
        "JS ERROR: TypeError: this._windowActor is null",
        "meta_window_set_stack_position_no_sync: assertion 'window->stack_position >= 0' failed",
        "Can't update stage views actor unnamed [MetaWindowActorX11] is on because it needs an allocation.",
    ]),
    ("sshd", "ssh.service", "sshd", "/usr/sbin/sshd", "syslog", 4, 4, [6] * 6 + [5, 4], [
        "Accepted publickey for alice from 10.0.0.{b} port {n} ssh2: ED25519 SHA256:{h}",
        "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
        "Connection closed by 10.0.0.{b} port {n} [preauth]",
    ]),
    ("CRON", "cron.service", "cron", "/usr/sbin/cron", "syslog", 9, 5, [6], [
        "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
    ]),
    ("firefox-esr", None, "firefox-esr", "/usr/lib/firefox-esr/firefox-esr", "stdout", 3, 10, [6] * 6 + [4, 3], [
        "[Parent {n}, Main Thread] WARNING: Failed to open {h}: file {h}, line {n}",
        "ATTENTION: default value of option mesa_glthread overridden by environment.",
        "[GFX1-]: Failed to connect WebRenderBridgeChild. isParent=true",
    ]),
    ("wireplumber", None, "wireplumber", "/usr/bin/wireplumber", "journal", 3, 4, [6, 6, 6, 4], [
        "spa.alsa: 'front:0': playback open failed: Device or resource busy",
        "<WpSiAudioAdapter:0x{h}> Object activation aborted: proxy destroyed",
    ]),
    ("dbus-daemon", "dbus.service", "dbus-daemon", "/usr/bin/dbus-daemon", "syslog", 3, 6, [6] * 8 + [5], [
        "[system] Activating via systemd: service name='org.freedesktop.hostname1' unit='dbus-org.freedesktop.hostname1.service' requested by ':1.{n}' (uid=1000 pid={n} comm=\"gnome-shell\")",
        "[system] Successfully activated service 'org.freedesktop.hostname1'",
    ]),
    ("systemd-resolved", "systemd-resolved.service", "systemd-resolve", "/usr/lib/systemd/systemd-resolved", "journal", 3, 3, [6, 6, 6, 4], [
        "Using degraded feature set UDP instead of UDP+EDNS0 for DNS server 10.20.0.1.",
        "Clock change detected. Flushing caches.",
    ]),
]

# Faults some journals carry, worded as the real programs word them, so the collector's
# rules fire and tickets, repeats and incidents are exercised too.
FAULTS = {
    "disk_full": [("gnome-shell", None, "gnome-shell", "/usr/bin/gnome-shell", "stdout", 3, 3,
                   "Failed to save session state: Error writing to file: No space left on device")],
    "oom": [("kernel", None, None, None, "kernel", 0, 3,
             "Out of memory: Killed process {n} (firefox-esr) total-vm:12345678kB, anon-rss:7654321kB, file-rss:0kB, shmem-rss:1024kB, UID:1000 pgtables:20000kB oom_score_adj:100")],
    "wifi": [("wpa_supplicant", "wpa_supplicant.service", "wpa_supplicant", "/usr/sbin/wpa_supplicant", "syslog", 3, 4,
              "wlp2s0: CTRL-EVENT-DISCONNECTED bssid=aa:bb:cc:dd:ee:{a}{a} reason=4")],
    "crash_loop": [("systemd", "init.scope", "systemd", "/usr/lib/systemd/systemd", "journal", 3, 4,
                    "cups-browsed.service: Scheduled restart job, restart counter is at {a}.")],
    "io_error": [("kernel", None, None, None, "kernel", 0, 3,
                  "I/O error, dev nvme0n1, sector {n} op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2")],
}


class JournalVariant:
    """One pre-compressed journal.jsonl member (tar header + data, its own gzip member)."""

    def __init__(self, entries, raw_bytes, member, first_cursor, last_cursor, faults):
        self.entries = entries
        self.raw_bytes = raw_bytes
        self.member = member
        self.first_cursor = first_cursor
        self.last_cursor = last_cursor
        self.faults = faults


def journal_variant(rng, entries, faults, now):
    """Builds `entries` journal lines over the hour before `now`, with the named faults planted."""
    boot = uuid.UUID(int=rng.getrandbits(128)).hex
    weights = [i[6] for i in IDENTS]
    start = int((now - 3600) * 1e6)
    step = int(3600e6 / entries)
    ts = start
    lines = []

    def render(template):
        return template.format(a=rng.randint(1, 9), n=rng.randint(1, 99999), b=rng.randint(2, 254), t=ts // 1000000,
                               h="%016x" % rng.getrandbits(64))

    planted = []
    for name in faults:
        for ident, unit, comm, exe, transport, fac, prio, template in FAULTS[name]:
            for _ in range(rng.randint(4, 12)):
                planted.append((rng.randrange(entries), ident, unit, comm, exe, transport, fac, prio, template))
    planted.sort()
    pi = 0
    pids = {i[0]: rng.randint(300, 40000) for i in IDENTS}
    for n in range(entries):
        ts += rng.randint(step // 2, step * 3 // 2)
        if pi < len(planted) and planted[pi][0] <= n:
            _, ident, unit, comm, exe, transport, fac, prio, template = planted[pi]
            pi += 1
        else:
            ident, unit, comm, exe, transport, fac, _, prios, templates = rng.choices(IDENTS, weights)[0]
            prio = rng.choice(prios)
            template = rng.choice(templates)
        # Keys in JournalLineCodec's fixed order; absent fields left out.
        entry = {"ts": ts, "boot": boot, "prio": prio, "fac": fac, "ident": ident}
        if unit:
            entry["unit"] = unit
        if transport != "kernel":
            entry["pid"] = pids.get(ident, 1000)
        if comm:
            entry["comm"] = comm
        if exe:
            entry["exe"] = exe
        entry["transport"] = transport
        entry["msg"] = render(template)
        lines.append(json.dumps(entry, separators=(",", ":"), ensure_ascii=False))
    data = ("\n".join(lines) + "\n").encode()
    member = gzip.compress(tar_member("journal.jsonl", data), compresslevel=3, mtime=0)
    first = f"b={boot};t={start + step // 2:x}"
    last = f"b={boot};t={ts:x}"
    return JournalVariant(entries, len(data), member, first, last, faults)


class JournalPool:
    """A few journal variants of different lengths and faults, built once per run."""

    def __init__(self, rng, count, min_entries, max_entries, now):
        fault_sets = [[], ["disk_full"], ["oom"], ["wifi"], ["crash_loop"], ["io_error"], ["wifi", "oom"], []]
        self.variants = []
        for i in range(count):
            entries = min_entries + (max_entries - min_entries) * i // max(count - 1, 1)
            self.variants.append(journal_variant(rng, entries, fault_sets[i % len(fault_sets)], now))

    def pick(self, rng):
        return rng.choice(self.variants)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()
