#!/usr/bin/env python3
"""Fleet benchmark: fill a real collector with N realistic hosts, then measure heartbeat
ingest and the dashboard's seven built-in queries.

    python3 bench/fleet/run.py --bin .build-fleetbench/release/helpline-collector [--hosts 100000]

Loopback only: starts its own collector (`serve --listen 127.0.0.1:0`, temp data dir) and
stops it at the end. Everything goes through the real API:

1. fill: N hosts enroll (POST /api/v1/enroll with the first-start enrollment secret) and send
   one heartbeat each from --workers Python processes; --history-hosts of them send
   --history-beats more (health_history); --bundles hosts upload a small real bundle whose
   journal holds lines the diagnosis rules match (OOM kills, full disks, failed units…), so
   tickets, findings and incidents exist.
2. ingest: --ingest-seconds of heartbeats from wrk (bench/fleet/heartbeat.lua, many
   connections) or, without wrk, from Python processes; rate and the collector's CPU per
   heartbeat.
3. queries: each dashboard query (parsed from WebController+Fleet+Query.swift, so the
   benchmark runs what the page runs) --runs times through POST /api/v1/query with an API
   token: p50/p95 of the server's elapsedMS and of the client's wall time.

Prints one Markdown table with the machine's facts. --keep DIR keeps the data dir (for
EXPLAIN QUERY PLAN with sqlite3 DIR/data/collector.sqlite); --reuse DIR starts on a kept
one and skips the fill (a new binary migrates it first).

PostgreSQL (issue 15): --database postgres://… runs the collectors on that database instead
of SQLite, and --collectors 2 starts two on it sharing the data dir: the fill, the bundles and
the heartbeats are spread over them (one wrk each) and the PostgreSQL server's CPU is shown
beside the collectors'. --ingest-bundles N adds a measured phase of N bundle uploads of
--bundle-entries journal entries each, every one from another host.
"""
import argparse
import gzip
import http.client
import io
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GiB = 1 << 30

# ---------------------------------------------------------------- realistic host model

# (weight, os id, version, pretty name, kernels)
OS_MIX = [
    (30, "ubuntu", "22.04", "Ubuntu 22.04.5 LTS", ["5.15.0-125-generic", "5.15.0-126-generic", "6.8.0-49-generic", "6.8.0-50-generic"]),
    (28, "ubuntu", "24.04", "Ubuntu 24.04.1 LTS", ["6.8.0-48-generic", "6.8.0-49-generic", "6.8.0-50-generic", "6.11.0-9-generic"]),
    (15, "debian", "12", "Debian GNU/Linux 12 (bookworm)", ["6.1.0-26-amd64", "6.1.0-27-amd64", "6.1.0-28-amd64"]),
    (6, "debian", "11", "Debian GNU/Linux 11 (bullseye)", ["5.10.0-32-amd64", "5.10.0-33-amd64"]),
    (8, "fedora", "41", "Fedora Linux 41 (Workstation Edition)", ["6.11.8-300.fc41.x86_64", "6.11.10-300.fc41.x86_64", "6.12.4-200.fc41.x86_64"]),
    (4, "fedora", "40", "Fedora Linux 40 (Workstation Edition)", ["6.11.6-200.fc40.x86_64", "6.11.10-200.fc40.x86_64"]),
    (5, "linuxmint", "22", "Linux Mint 22", ["6.8.0-49-generic", "6.8.0-50-generic"]),
    (2, "arch", None, "Arch Linux", ["6.12.1-arch1-1", "6.12.4-arch1-1"]),
    (2, "rhel", "9.5", "Red Hat Enterprise Linux 9.5 (Plow)", ["5.14.0-503.15.1.el9_5.x86_64"]),
]
AGENT_MIX = [(50, "0.4.2"), (24, "0.4.1"), (14, "0.3.9"), (6, "0.5.0-rc.1"), (6, "0.2.7")]
CPUS = [("Intel(R) Core(TM) i7-1265U", 12), ("Intel(R) Core(TM) i5-1245U", 12), ("13th Gen Intel(R) Core(TM) i7-1360P", 16),
        ("AMD Ryzen 7 PRO 7840U w/ Radeon 780M Graphics", 16), ("AMD Ryzen 5 PRO 5650U with Radeon Graphics", 12),
        ("Intel(R) Core(TM) i7-10610U CPU @ 1.80GHz", 8), ("Intel(R) Xeon(R) W-2245 CPU @ 3.90GHz", 16),
        ("Intel(R) Core(TM) Ultra 7 165U", 14)]
MEMORY_MIX = [(20, 8), (45, 16), (28, 32), (7, 64)]
USERS = ["alice", "bob", "chen", "dmitri", "eva", "farid", "grace", "hiro", "ines", "jonas", "kemal", "lena", "mateo", "nora"]
# name, command line template ({u} = user), typical RSS MiB, threads
PROCESSES = [
    ("firefox", "/usr/lib/firefox/firefox", 900, 120), ("Isolated Web Co", "/usr/lib/firefox/firefox -contentproc -childID 12 -isForBrowser -prefsLen 31264 -prefMapSize 244787 -parentBuildID 20241121140525 tab", 350, 28),
    ("chrome", "/opt/google/chrome/chrome --type=renderer --crashpad-handler-pid=3312 --enable-crash-reporter --lang=en-US --num-raster-threads=4", 400, 22),
    ("code", "/usr/share/code/code --type=utility --utility-sub-type=node.mojom.NodeService --lang=en-US", 700, 40),
    ("gnome-shell", "/usr/bin/gnome-shell", 450, 25), ("Xwayland", "/usr/bin/Xwayland :0 -rootless -noreset -accessx -core -auth /run/user/1000/.mutter-Xwaylandauth.8WYKX2", 120, 6),
    ("slack", "/usr/lib/slack/slack --type=renderer --enable-crash-reporter=c5b3f6a2 --lang=en-US --num-raster-threads=4", 600, 30),
    ("teams-for-linux", "/opt/teams-for-linux/teams-for-linux --type=renderer --lang=en-US", 550, 28),
    ("java", "/opt/idea-IU-243.21565.193/jbr/bin/java -Xmx4096m -XX:+UseG1GC -Djava.system.class.loader=com.intellij.util.lang.PathClassLoader com.intellij.idea.Main", 2500, 90),
    ("python3", "/usr/bin/python3 /home/{u}/src/etl/run_pipeline.py --config /home/{u}/src/etl/prod.yaml", 800, 8),
    ("dockerd", "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock", 110, 30),
    ("containerd", "/usr/bin/containerd", 60, 20), ("systemd-journal", "/usr/lib/systemd/systemd-journald", 90, 1),
    ("thunderbird", "/usr/lib/thunderbird/thunderbird", 500, 60), ("evolution", "/usr/bin/evolution", 300, 12),
    ("nautilus", "/usr/bin/nautilus --gapplication-service", 150, 8), ("zoom", "/opt/zoom/zoom zoommtg://zoom.us/join?action=join&confno=REDACTED", 450, 35),
    ("node", "/usr/bin/node /home/{u}/src/web/node_modules/.bin/vite --host", 350, 11), ("tracker-miner-f", "/usr/libexec/tracker-miner-fs-3", 80, 5),
    ("packagekitd", "/usr/libexec/packagekitd", 70, 3), ("snapd", "/usr/lib/snapd/snapd", 45, 14), ("pipewire", "/usr/bin/pipewire", 25, 3),
    ("gnome-software", "/usr/bin/gnome-software --gapplication-service", 280, 9), ("kwin_wayland", "/usr/bin/kwin_wayland --wayland-fd 7 --socket wayland-0", 300, 12),
    ("plasmashell", "/usr/bin/plasmashell --no-respawn", 420, 18), ("libreoffice", "/usr/lib/libreoffice/program/soffice.bin --writer --splash-pipe=5", 260, 7),
    ("onedrive", "/usr/bin/onedrive --monitor --confdir=/home/{u}/.config/onedrive", 60, 4), ("rustc", "/home/{u}/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc --crate-name tokio --edition=2021", 900, 16),
]
# unit, description, result, weight
FAILED_UNITS = [
    ("cups-browsed.service", "Make remote CUPS printers available locally", "exit-code", 14),
    ("fwupd-refresh.service", "Refresh fwupd metadata and update motd", "exit-code", 12),
    ("NetworkManager-wait-online.service", "Network Manager Wait Online", "exit-code", 9),
    ("systemd-networkd-wait-online.service", "Wait for Network to be Configured", "timeout", 4),
    ("snapd.seeded.service", "Wait until snapd is fully seeded", "timeout", 5),
    ("apt-daily.service", "Daily apt download activities", "exit-code", 6),
    ("packagekit.service", "PackageKit Daemon", "signal", 3), ("motd-news.service", "Message of the Day", "exit-code", 4),
    ("plymouth-quit-wait.service", "Hold until boot process finishes up", "timeout", 2),
    ("bluetooth.service", "Bluetooth service", "exit-code", 3), ("docker.service", "Docker Application Container Engine", "start-limit-hit", 3),
    ("smartd.service", "Self Monitoring and Reporting Technology (SMART) Daemon", "exit-code", 2),
    ("apport.service", "automatic crash report generation", "exit-code", 2), ("ModemManager.service", "Modem Manager", "core-dump", 1),
    ("logrotate.service", "Rotate log files", "exit-code", 2), ("man-db.service", "Daily man-db regeneration", "exit-code", 1),
    ("e2scrub_reap.service", "Remove Stale Online ext4 Metadata Check Snapshots", "exit-code", 1),
    ("tailscaled.service", "Tailscale node agent", "exit-code", 2), ("openvpn-client@corp.service", "OpenVPN tunnel for corp", "exit-code", 3),
    ("dnf-makecache.service", "dnf makecache", "exit-code", 3), ("gdm.service", "GNOME Display Manager", "start-limit-hit", 1),
]


def pick(rng, weighted):
    total = sum(w for w, *_ in weighted)
    x = rng.uniform(0, total)
    for item in weighted:
        x -= item[0]
        if x <= 0:
            return item
    return weighted[-1]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def used_percent(rng, over90):
    """A filesystem's fill: most between 20 and 80 %, a tail above; `over90` forces > 90 %."""
    if over90:
        return rng.uniform(90.5, 99.8)
    return min(89.5, max(0.5, rng.betavariate(2.2, 2.8) * 100))


def filesystems(rng, tick_rng):
    """3–8 mounts like a real workstation's (what DisksProbe keeps: no snaps, no pseudo fs)."""
    nvme = rng.random() < 0.75
    disk = "/dev/nvme0n1p" if nvme else "/dev/sda"
    full = rng.random() < 0.008  # with the draws below, ~1 % of hosts have a filesystem over 90 %
    mounts = [("/", disk + "2", rng.choice(["ext4", "ext4", "ext4", "btrfs", "xfs"]), False, rng.choice([256, 512, 512, 1024, 2048]) * GiB),
              ("/boot/efi", disk + "1", "vfat", False, 512 << 20)]
    if rng.random() < 0.5:
        mounts.append(("/home", disk + "3", rng.choice(["ext4", "btrfs"]), False, rng.choice([256, 512, 1024]) * GiB))
    mounts.append(("/tmp", "tmpfs", "tmpfs", False, rng.choice([4, 8, 16]) * GiB))
    for extra in range(rng.choice([0, 0, 0, 1, 1, 2, 3, 4])):
        kind = rng.random()
        if kind < 0.3:
            mounts.append(("/run/user/1000", "tmpfs", "tmpfs", False, rng.choice([1, 2, 3]) * GiB))
        elif kind < 0.6:
            mounts.append((f"/media/{rng.choice(USERS)}/USB{extra}", "/dev/sdb1", rng.choice(["vfat", "exfat", "ntfs3"]), False, rng.choice([16, 32, 64, 128]) * GiB))
        elif kind < 0.65:
            mounts.append(("/media/cdrom0", "/dev/sr0", "iso9660", True, rng.choice([700 << 20, 4 * GiB])))
        elif kind < 0.85:
            mounts.append(("/mnt/share", "fileserver.corp.example:/export/home", "nfs4", False, 8192 * GiB))
        else:
            mounts.append(("/var/lib/docker", disk + "4", "ext4", False, 256 * GiB))
    mounts = list({m[0]: m for m in mounts}.values())[:8]
    while len(mounts) < 3:
        mounts.append(("/var", disk + "5", "ext4", False, 128 * GiB))
    if rng.random() < 0.004:  # the root filesystem remounted read-only after errors
        mounts[0] = mounts[0][:3] + (True,) + mounts[0][4:]
    full_at = rng.randrange(len(mounts)) if full else -1
    out = []
    for i, (mount, dev, fs, ro, size) in enumerate(mounts):
        if fs == "iso9660":
            pct = 100.0
        else:
            pct = used_percent(rng, i == full_at)
            pct = min(99.9, max(0.1, pct + tick_rng.uniform(-0.3, 0.3)))
        used = int(size * pct / 100)
        avail = size - used
        inodes = size // 16384
        inodes_used = int(inodes * min(0.99, pct / 100 * rng.uniform(0.1, 0.6)))
        out.append({"mountPoint": mount, "device": dev, "fsType": fs, "readOnly": ro, "sizeBytes": size, "usedBytes": used,
                    "availableBytes": avail, "usedPercent": round(used / (used + avail) * 100, 2) if used + avail else 0,
                    "inodesTotal": inodes if fs not in ("btrfs", "vfat", "iso9660", "nfs4") else 0,
                    "inodesUsed": inodes_used if fs not in ("btrfs", "vfat", "iso9660", "nfs4") else 0,
                    "inodesUsedPercent": round(inodes_used / inodes * 100, 2) if inodes and fs not in ("btrfs", "vfat", "iso9660", "nfs4") else 0})
    return out


def psi_line(rng, level):
    a10 = round(level * rng.uniform(0.5, 1.5), 2)
    return {"avg10": a10, "avg60": round(a10 * 0.7, 2), "avg300": round(a10 * 0.4, 2), "totalMicroseconds": rng.randrange(10**6, 10**10)}


def heartbeat(index, host_id, hostname, machine_id, tick, now):
    """Host `index`'s heartbeat number `tick`: stable identity, slowly moving figures."""
    rng = random.Random(index * 7919 + 17)
    t = random.Random(index * 7919 + 17 + tick * 104729)
    _, os_id, os_ver, pretty, kernels = pick(rng, OS_MIX)
    _, agent = pick(rng, AGENT_MIX)
    cpu_model, cpus = rng.choice(CPUS)
    ram = pick(rng, MEMORY_MIX)[1] * GiB
    pressured = rng.random() < 0.03
    mem_used = min(0.99, max(0.15, rng.betavariate(4, 3) + t.uniform(-0.05, 0.05) + (0.25 if pressured else 0)))
    available = int(ram * (1 - mem_used))
    swap = rng.choice([0, 2 * GiB, 2 * GiB, 4 * GiB, 8 * GiB, 16 * GiB])
    swap_free = int(swap * (1 - min(0.95, rng.betavariate(1.2, 6) + (0.5 if pressured else 0))))
    meminfo = {"MemTotal": ram, "MemFree": available // 3, "MemAvailable": available, "Buffers": 200 << 20,
               "Cached": available // 2, "SwapCached": 0, "Active": ram // 3, "Inactive": ram // 4, "Shmem": 600 << 20,
               "SwapTotal": swap, "SwapFree": swap_free, "Dirty": t.randrange(0, 50 << 20), "Writeback": 0,
               "AnonPages": int(ram * mem_used * 0.6), "Mapped": 900 << 20, "Slab": 500 << 20, "SReclaimable": 300 << 20,
               "KernelStack": 30 << 20, "PageTables": 80 << 20, "CommitLimit": ram // 2 + swap, "Committed_AS": int(ram * 1.2),
               "HugePages_Total": 0, "HugePages_Free": 0, "Hugepagesize": 2 << 20}
    mem_psi = t.uniform(10, 45) if pressured else (t.uniform(0, 2) if t.random() < 0.2 else 0.0)
    pressure = {"cpu": {"some": psi_line(t, t.uniform(0, 8))},
                "memory": {"some": psi_line(t, mem_psi), "full": psi_line(t, mem_psi * 0.4)},
                "io": {"some": psi_line(t, t.uniform(0, 5)), "full": psi_line(t, t.uniform(0, 2))}}
    pressure["memory"]["some"]["avg10"] = round(mem_psi, 2)
    user = rng.choice(USERS)
    uid = 1000 + USERS.index(user)
    procs = []
    for n, (name, cmd, rss_mib, threads) in enumerate(rng.sample(PROCESSES, 10)):
        procs.append({"pid": rng.randrange(900, 400000), "ppid": 1, "uid": uid if n % 4 else 0, "user": user if n % 4 else "root",
                      "state": "R" if t.random() < 0.2 else "S", "name": name[:15], "commandLine": cmd.format(u=user),
                      "threads": threads, "rssBytes": int(rss_mib * t.uniform(0.6, 1.6)) << 20,
                      "cpuPercent": round(t.expovariate(1 / 8), 1), "topCPU": n < 5, "topMemory": n >= 5})
    nfail = pick(rng, [(72, 0), (19, 1), (6, 2), (3, 3)])[1]
    units = []
    for name, desc, result, _ in rng.sample(FAILED_UNITS, nfail) if nfail else []:
        units.append({"name": name, "description": desc, "loadState": "loaded", "activeState": "failed", "subState": "failed",
                      "since": iso(now - timedelta(minutes=rng.randrange(5, 6000))), "restarts": rng.choice([0, 0, 1, 5]), "result": result})
    boot_minutes = rng.randrange(10, 30 * 24 * 60)
    hb = {"schemaVersion": 1, "host": {"hostID": host_id, "hostname": hostname, "machineID": machine_id}, "sentAt": iso(now),
          "agentVersion": agent,
          "system": {"hostname": hostname, "machineID": machine_id, "osRelease": {"id": os_id, "versionID": os_ver, "prettyName": pretty},
                     "kernel": {"sysname": "Linux", "release": rng.choice(kernels), "version": "#1 SMP PREEMPT_DYNAMIC", "machine": "x86_64"},
                     "uptimeSeconds": boot_minutes * 60.0 + tick * 900, "cpuModel": cpu_model, "cpuCount": cpus,
                     "loadAverage": [round(t.expovariate(1 / 1.2), 2), round(t.expovariate(1 / 1.0), 2), round(t.expovariate(1 / 0.9), 2)],
                     "timezone": rng.choice(["Europe/Paris", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"])},
          "memory": {"totalBytes": ram, "availableBytes": available, "freeBytes": available // 3, "buffersBytes": 200 << 20,
                     "cachedBytes": available // 2, "swapTotalBytes": swap, "swapFreeBytes": swap_free, "meminfo": meminfo,
                     "pressure": pressure, "oomKills": rng.choice([0] * 30 + [1, 2, 5])},
          "filesystems": filesystems(rng, t), "topProcesses": procs, "failedUnits": units, "spooledBundles": rng.choice([0] * 40 + [1, 2])}
    if os_ver is None:
        del hb["system"]["osRelease"]["versionID"]
    return hb


def host_name(i):
    return f"{random.Random(i).choice(['lt', 'ws', 'nb'])}-{i:06d}.corp.example"


def machine_id(i):
    return uuid.UUID(int=random.Random(i * 31 + 7).getrandbits(128)).hex


# ---------------------------------------------------------------- bundles with findings

def jline(ts_us, boot, msg, transport="journal", ident=None, prio=6, unit=None, pid=None):
    e = {"ts": ts_us, "boot": boot, "prio": prio}
    if ident:
        e["ident"] = ident
    if unit:
        e["unit"] = unit
    if pid:
        e["pid"] = pid
    e["transport"] = transport
    e["msg"] = msg
    return json.dumps(e, separators=(",", ":"))


# (weight, lines(rng, ts, boot) -> list of journal lines)
PROBLEMS = [
    (20, lambda r, ts, b: [jline(ts, b, f"Out of memory: Killed process {r.randrange(2000, 90000)} ({r.choice(['firefox', 'chrome', 'java', 'code', 'slack'])}) "
                                      f"total-vm:{r.randrange(4, 20)}000000kB, anon-rss:{r.randrange(1, 9)}000000kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:12000kB oom_score_adj:200",
                                      "kernel", "kernel", 3)]),
    (12, lambda r, ts, b: [jline(ts + k, b, f"Error writing /home/u/.cache/tracker3/files/meta.db-wal: No space left on device", "journal",
                                 r.choice(["tracker-miner-f", "gnome-shell", "evolution"]), 3) for k in range(3)]),
    (18, lambda r, ts, b: [jline(ts, b, f"{u}: Failed with result '{res}'.", "journal", "systemd", 4, "init.scope", 1)
                           for u, _, res, _ in r.sample([f for f in FAILED_UNITS if f[2] != "start-limit-hit"], r.choice([1, 1, 2]))]),
    (10, lambda r, ts, b: [jline(ts + k * 1000, b, f"wlp0s20f3: CTRL-EVENT-DISCONNECTED bssid=a4:2b:b0:{r.randrange(16, 99)}:11:2f reason={r.choice([3, 4, 6, 7])}",
                                 "journal", "wpa_supplicant", 6) for k in range(r.randrange(2, 12))]),
    (5, lambda r, ts, b: [jline(ts, b, f"blk_update_request: I/O error, dev {r.choice(['sda', 'nvme0n1'])}, sector {r.randrange(10**6, 10**9)} op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0",
                                "kernel", "kernel", 3)]),
    (8, lambda r, ts, b: [jline(ts, b, f"{r.choice(['chrome', 'slack', 'gnome-shell', 'python3'])}[{r.randrange(2000, 90000)}]: segfault at 0 ip 00007f3c9a1b2c3d sp 00007ffd4c0e1a20 error 4 in libc.so.6[7f3c9a000000+195000]",
                               "kernel", "kernel", 6)]),
    (6, lambda r, ts, b: [jline(ts + k, b, f"CPU{r.randrange(0, 8)}: Package temperature above threshold, cpu clock throttled (total events = {r.randrange(10, 9000)})",
                                "kernel", "kernel", 4) for k in range(r.randrange(1, 14))]),
    (5, lambda r, ts, b: [jline(ts, b, f"usb 1-{r.randrange(1, 6)}: device descriptor read/64, error -71", "kernel", "kernel", 3)]),
    (6, lambda r, ts, b: [jline(ts + k, b, f"docker.service: Scheduled restart job, restart counter is at {k + 1}.", "journal", "systemd", 6, "init.scope", 1)
                          for k in range(5)]),
    (6, lambda r, ts, b: [jline(ts + k * 10**6, b, "curl: (6) Could not resolve host: intranet.corp.example", "stdout", "backup.sh", 3)
                          for k in range(r.randrange(3, 30))]),
    (2, lambda r, ts, b: [jline(ts, b, f"EXT4-fs ({r.choice(['nvme0n1p2', 'sda2'])}): Remounting filesystem read-only", "kernel", "kernel", 2)]),
]
NOISE = ["Started Session 3 of User alice.", "Accepted publickey for alice", "gnome-shell: JS WARNING: [resource:///org/gnome/shell/ui/windowManager.js 1234]",
         "NetworkManager: <info>  [1733050000.1234] dhcp4 (wlp0s20f3): state changed new lease", "systemd-resolved: Using degraded feature set UDP instead of EDNS0",
         "pulseaudio: W: [pulseaudio] sink-input.c: Failed to create sink input", "CRON[4242]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
         "fwupd: failed to get HSI attributes", "kernel: wlp0s20f3: associated", "snapd: storehelpers.go:916: cannot refresh: snap has no updates available"]


def tar_member(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    return info, io.BytesIO(data)


def make_bundle(index, host_id, hostname, mid, now, salt=0, entries=None):
    """A bundle for host `index`; `salt` gives the same host another bundle (id and content),
    `entries` its journal's size (default: 60–400 lines, spread over two hours)."""
    r = random.Random(index * 131 + 5 + salt * 7_919_999)
    boot = uuid.UUID(int=r.getrandbits(128)).hex
    count = entries or r.randrange(60, 400)
    step = max(1, 7_200_000_000 // count)
    start = int((now - timedelta(hours=2)).timestamp() * 1e6)
    lines = [jline(start + k * step, boot, r.choice(NOISE), "syslog", r.choice(["systemd", "NetworkManager", "gnome-shell", "CRON"]))
             for k in range(count)]
    for _ in range(pick(r, [(55, 1), (30, 2), (15, 3)])[1]):
        _, problem = pick(r, PROBLEMS)
        lines += problem(r, start + r.randrange(0, 7_000_000_000), boot)
    lines.sort(key=lambda l: json.loads(l)["ts"])
    manifest = {"schemaVersion": 1, "bundleID": str(uuid.UUID(int=r.getrandbits(128))), "createdAt": iso(now), "agentVersion": "0.4.2",
                "host": {"hostID": host_id, "hostname": hostname, "machineID": mid}, "reason": "user_request",
                "note": r.choice(["computer is slow", "my browser closed by itself", "cannot save files", "wifi keeps dropping", "printer gone"]),
                "requestedBy": r.choice(USERS), "probes": [], "redactions": {}}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in [("manifest.json", json.dumps(manifest).encode()), ("journal.jsonl", ("\n".join(lines) + "\n").encode())]:
            tar.addfile(*tar_member(name, data))
    return buf.getvalue()


# ---------------------------------------------------------------- clients

def request(conn_box, port, method, path, body, headers):
    """One request on a kept-alive connection, reconnecting once when the server closed it."""
    for attempt in range(3):
        try:
            if conn_box[0] is None:
                conn_box[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn_box[0].request(method, path, body=body, headers=headers)
            r = conn_box[0].getresponse()
            return r.status, r.read()
        except (http.client.HTTPException, ConnectionError, OSError):
            conn_box[0] = None
            if attempt == 2:
                raise
            time.sleep(0.2)


def fill_worker(port, secret, indices, history_hosts, history_beats, out_path, done):
    """Enrolls its hosts, sends each one heartbeat (and history beats for the first ones)."""
    conn = [None]
    ok_hb = bad = 0
    with open(out_path, "w") as out:
        for i in indices:
            name, mid = host_name(i), machine_id(i)
            status, body = request(conn, port, "POST", "/api/v1/enroll",
                                   json.dumps({"secret": secret, "hostname": name, "machineID": mid, "agentVersion": "0.4.2"}),
                                   {"Content-Type": "application/json"})
            if status not in (200, 201):
                bad += 1
                continue
            e = json.loads(body)
            out.write(f"{i} {e['hostID']} {e['hostToken']}\n")
            auth = {"Authorization": f"Bearer {e['hostToken']}", "Content-Type": "application/json"}
            beats = 1 + (history_beats if i < history_hosts else 0)
            now = datetime.now(timezone.utc)
            for tick in range(beats):
                hb = json.dumps(heartbeat(i, e["hostID"], name, mid, tick, now), separators=(",", ":"))
                status, _ = request(conn, port, "POST", "/api/v1/heartbeats", hb, auth)
                if status == 202:
                    ok_hb += 1
                else:
                    bad += 1
    done.put((ok_hb, bad))


def bundle_worker(port, hosts, out):
    conn = [None]
    ok = bad = 0
    now = datetime.now(timezone.utc)
    for i, host_id, token in hosts:
        data = make_bundle(i, host_id, host_name(i), machine_id(i), now)
        status, _ = request(conn, port, "POST", "/api/v1/bundles", data,
                            {"Authorization": f"Bearer {token}", "Content-Type": "application/gzip"})
        if status in (200, 201):
            ok += 1
        else:
            bad += 1
    out.put((ok, bad))


def upload_worker(port, bodies, out):
    """Uploads ready-made bundles (token, gzip bytes), one after another on one connection."""
    conn = [None]
    ok = bad = 0
    for token, data in bodies:
        status, _ = request(conn, port, "POST", "/api/v1/bundles", data,
                            {"Authorization": f"Bearer {token}", "Content-Type": "application/gzip"})
        ok, bad = (ok + 1, bad) if status in (200, 201) else (ok, bad + 1)
    out.put((ok, bad))


def heartbeat_worker(port, lines, deadline, out):
    conn = [None]
    ok = bad = 0
    k = 0
    while time.time() < deadline:
        token, body = lines[k % len(lines)]
        k += 1
        status, _ = request(conn, port, "POST", "/api/v1/heartbeats", body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        ok, bad = (ok + 1, bad) if status == 202 else (ok, bad + 1)
    out.put((ok, bad))


# ---------------------------------------------------------------- measuring helpers

def run_workers(target, per_worker):
    """Runs `target(*args, queue)` in one process per entry of `per_worker` and answers what
    each put on the queue (in arrival order)."""
    out = mp.Queue()
    procs = [mp.Process(target=target, args=(*args, out)) for args in per_worker]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return results


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds():
    """CPU of every running PostgreSQL server process (comm `postgres`), for the database's
    share of a phase; 0 when none runs. Backends that exit during a phase take theirs along,
    so pools that stay connected (the collectors') are what this counts."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        if text[text.index("(") + 1:text.rindex(")")] != "postgres":
            continue
        fields = text.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def written_bytes(pid):
    """Bytes the process dirtied in the page cache for files (/proc/PID/io write_bytes): WAL
    frames and checkpoints, not sockets."""
    with open(f"/proc/{pid}/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("write_bytes:"))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024


def percentile(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def dashboard_queries(path):
    """The dashboard's built-in queries as the page runs them (title, sql)."""
    src = open(path).read()
    block = src[src.index("static let dashboard"):]
    block = block[:block.index("\n    ]")]
    found = re.findall(r'\("((?:[^"\\]|\\.)*)",\s*"(?:[^"\\]|\\.)*",\s*"((?:[^"\\]|\\.)*)"\)', block, re.S)
    if len(found) != 7:
        sys.exit(f"expected the seven dashboard queries in WebController+Fleet+Query.swift, found {len(found)}")
    return [(t, s.replace('\\"', '"')) for t, s in found]


def machine_facts():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(next(l for l in f if l.startswith("MemTotal")).split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB RAM, {os.uname().release}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("HELPLINE_COLLECTOR_BIN", ".build/release/helpline-collector"))
    ap.add_argument("--hosts", type=int, default=100_000, help="hosts to enroll, one heartbeat each (default 100000)")
    ap.add_argument("--history-hosts", type=int, default=2_000, help="hosts that send --history-beats more heartbeats (default 2000)")
    ap.add_argument("--history-beats", type=int, default=24, help="extra heartbeats of each history host (default 24)")
    ap.add_argument("--bundles", type=int, default=2_000, help="hosts that upload one bundle each (default 2000)")
    ap.add_argument("--workers", type=int, default=6, help="Python processes that enroll and fill (default 6)")
    ap.add_argument("--ingest-seconds", type=float, default=20.0, help="length of the sustained heartbeat phase (default 20)")
    ap.add_argument("--ingest-hosts", type=int, default=20_000, help="hosts whose heartbeats the ingest phase cycles through (default 20000)")
    ap.add_argument("--ingest-order", choices=["enrolled", "random"], default="enrolled",
                    help="which hosts beat and in what order: the first --ingest-hosts in enrollment order, which is also the "
                         "order of their rows (default), or as many drawn from the whole fleet in random order, as a fleet beats")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections in the ingest phase (default 64)")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument("--ingest-rate", type=float, default=0,
                    help="pace wrk near this many heartbeats/s: each connection waits connections/rate s after each answer "
                         "(less the answer's ~2 ms); 0 floods (default). Use many connections, e.g. --connections 512")
    ap.add_argument("--token-cache", choices=["on", "off"], default="off",
                    help="host token cache: off (default) is what 15-minute heartbeats from 100k hosts meet in production")
    ap.add_argument("--runs", type=int, default=25, help="runs of each dashboard query (default 25, after 2 warm-up runs)")
    ap.add_argument("--also", action="append", default=[], metavar="SQL",
                    help="another query to measure the same way, shown without a target (repeatable)")
    ap.add_argument("--dashboard-source", default=os.path.join(ROOT, "Sources/Collector/Web/WebController+Fleet+Query.swift"),
                    help="the Swift file to read the dashboard queries from (another revision's, to measure its binary)")
    ap.add_argument("--skip-ingest", action="store_true", help="measure only the queries")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (data dir DIR/data, hosts DIR/hosts.txt)")
    ap.add_argument("--reuse", metavar="DIR", help="start on DIR kept by --keep; skip the fill")
    ap.add_argument("--perf-record", metavar="FILE", help="perf record -e cpu-clock -g the collector during the ingest phase")
    ap.add_argument("--collector-arg", action="append", default=[], metavar="ARG", help="extra argument for `serve` (repeatable)")
    ap.add_argument("--database", metavar="URL",
                    help="the collectors' store: a postgres:// URL (default: SQLite in the data dir); --keep/--reuse then keep "
                         "the data dir (blobs, hosts.txt) and the database keeps the rest")
    ap.add_argument("--collectors", type=int, default=1,
                    help="collectors started on the same data dir and --database (PostgreSQL only; default 1); the fill, "
                         "bundle uploads and heartbeats are spread over them, one wrk per collector")
    ap.add_argument("--ingest-bundles", type=int, default=0,
                    help="bundles uploaded in a measured phase before the heartbeats, each from another host (default 0)")
    ap.add_argument("--bundle-entries", type=int, default=5_000,
                    help="journal entries in each measured bundle (default 5000)")
    ap.add_argument("--bundle-workers", type=int, default=4, help="Python processes uploading the measured bundles (default 4)")
    args = ap.parse_args()
    if args.collectors < 1 or (args.collectors > 1 and not args.database):
        sys.exit("--collectors above 1 needs --database postgres://… (SQLite has one writer process)")

    work = args.reuse or args.keep or tempfile.mkdtemp(prefix="helpline-fleetbench-")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    hosts_file = os.path.join(work, "hosts.txt")
    facts = machine_facts()
    load = [os.getloadavg()[0]]
    serve = [args.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--log-level", "error", "--min-free-disk-mb", "256",
             # Simulated hosts send far more often than real ones, and bundles in bursts: lift per-host rates.
             "--limit", "heartbeats_per_hour=1000000000", "--limit", "host_bundles_per_hour=1000000",
             "--limit", "max_concurrent_uploads=16", "--limit", "max_connections=4096"]
    if args.token_cache == "off":
        serve += ["--limit", "host_token_cache_entries=0"]
    store_args = ["--database", args.database] if args.database else []
    servers, ports = [], []
    rows = []
    try:
        secret = None
        for _ in range(args.collectors):
            # One at a time: the first migrates (a reused store may take minutes) and creates
            # the first-start credentials; the others find both done.
            server = subprocess.Popen(serve + store_args + args.collector_arg, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            servers.append(server)
            port = None
            deadline = time.time() + 600
            while port is None and time.time() < deadline:
                line = server.stdout.readline()
                if not line and server.poll() is not None:
                    sys.exit("collector exited before listening")
                if line.startswith("first-start credentials: "):
                    with open(line.split(": ", 1)[1].strip()) as f:
                        secret = next(l.split(": ", 1)[1].strip() for l in f if l.startswith("enrollment secret: "))
                m = re.match(r"listening: .*:(\d+)$", line.strip())
                if m:
                    port = int(m.group(1))
            if port is None:
                sys.exit("collector did not start")
            ports.append(port)
        server, port = servers[0], ports[0]
        pids = [s.pid for s in servers]
        store_name = "PostgreSQL" if args.database else "SQLite"

        def peak_rss_mib(pid):
            try:
                with open(f"/proc/{pid}/status") as f:
                    return next((int(l.split()[1]) / 1024 for l in f if l.startswith("VmHWM:")), 0)
            except OSError:
                return 0

        def stored_heartbeats():
            """Heartbeats the collectors have stored (`helpline_heartbeats_accepted_total`, counted
            at commit): when the writer is behind they are answered before that."""
            total = 0
            for p in ports:
                c = http.client.HTTPConnection("127.0.0.1", p, timeout=30)
                c.request("GET", "/metrics")
                m = re.search(r"^helpline_heartbeats_accepted_total (\d+)", c.getresponse().read().decode(), re.M)
                c.close()
                total += int(m.group(1)) if m else 0
            return total

        def collector_cpu():
            return sum(cpu_seconds(pid) for pid in pids)

        print(f"{len(servers)} collector(s) {args.bin} pids {pids} ports {ports}; {store_name}; data {data}; {facts}", flush=True)

        # ------------------------------------------------ fill
        if not args.reuse:
            if secret is None:
                sys.exit("no first-start credentials: give an empty --keep DIR, or --reuse a kept one")
            t0, cpu0 = time.time(), collector_cpu()
            parts = [os.path.join(work, f"hosts.{w}.txt") for w in range(args.workers)]
            results = run_workers(fill_worker, [(ports[w % len(ports)], secret, range(w, args.hosts, args.workers), args.history_hosts,
                                                 args.history_beats, parts[w]) for w in range(args.workers)])
            with open(hosts_file, "w") as out:
                for part in parts:
                    with open(part) as f:
                        out.write(f.read())
                    os.remove(part)
            hb_ok, bad = sum(r[0] for r in results), sum(r[1] for r in results)
            el = time.time() - t0
            print(f"fill: {args.hosts} enrollments and {hb_ok} heartbeats in {el:.0f} s ({bad} refused); "
                  f"collector CPU {collector_cpu() - cpu0:.0f} s; load {os.getloadavg()[0]:.1f}", flush=True)
            load.append(os.getloadavg()[0])
        hosts = []
        with open(hosts_file) as f:
            for line in f:
                i, h, t = line.split()
                hosts.append((int(i), h, t))
        hosts.sort()

        if not args.reuse and args.bundles:
            t0 = time.time()
            chosen = random.Random(1).sample(hosts, min(args.bundles, len(hosts)))
            results = run_workers(bundle_worker, [(ports[w % len(ports)], chosen[w::4]) for w in range(4)])
            print(f"bundles: {sum(r[0] for r in results)} stored, {sum(r[1] for r in results)} refused, {time.time() - t0:.0f} s", flush=True)

        # ------------------------------------------------ bundles (measured)
        if args.ingest_bundles:
            now = datetime.now(timezone.utc)
            salt = int(time.time())  # new bundle ids on every run of a kept store
            chosen = random.Random(salt).sample(hosts, min(args.ingest_bundles, len(hosts)))
            bodies = [(t, make_bundle(i, h, host_name(i), machine_id(i), now, salt=salt, entries=args.bundle_entries)) for i, h, t in chosen]
            size = sum(len(b) for _, b in bodies) / len(bodies)
            n = args.bundle_workers
            cpu0, db0, l0 = collector_cpu(), database_cpu_seconds(), os.getloadavg()[0]
            t0 = time.time()
            results = run_workers(upload_worker, [(ports[w % len(ports)], bodies[w::n]) for w in range(n)])
            el = time.time() - t0
            ok, bad = sum(r[0] for r in results), sum(r[1] for r in results)
            cpu, dbcpu = collector_cpu() - cpu0, database_cpu_seconds() - db0
            print(f"bundles: {ok / el:.1f}/s ({ok} stored, {bad} refused, {el:.1f} s, {n} uploaders, {args.bundle_entries} journal entries, "
                  f"{size / 1024:.0f} KiB gzip'd each); collector CPU {cpu / max(ok, 1) * 1e3:.1f} ms per bundle"
                  + (f", PostgreSQL {dbcpu / max(ok, 1) * 1e3:.1f} ms" if args.database else "") + f"; load {l0:.1f} → {os.getloadavg()[0]:.1f}", flush=True)
            rows.append((f"bundle ingest ({args.bundle_entries:,} entries, {size / 1024:.0f} KiB)", f"{ok / el:,.1f} /s",
                         f"{cpu / max(ok, 1) * 1e3:.1f} ms collector CPU each" + (f", {dbcpu / max(ok, 1) * 1e3:.1f} ms PostgreSQL" if args.database else ""),
                         "", ""))

        # ------------------------------------------------ ingest
        if not args.skip_ingest:
            now = datetime.now(timezone.utc)
            sample = hosts[: args.ingest_hosts] if args.ingest_order == "enrolled" else random.Random(2).sample(hosts, min(args.ingest_hosts, len(hosts)))
            tick = int(time.time()) % 1000 + 100  # figures moved since the fill
            lines = [(t, json.dumps(heartbeat(i, h, host_name(i), machine_id(i), tick, now), separators=(",", ":"))) for i, h, t in sample]
            avg_bytes = sum(len(b) for _, b in lines) / len(lines)
            perf = None
            db0 = database_cpu_seconds()
            if args.perf_record:
                perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-o", args.perf_record, "-p", str(server.pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu0, l0, written0 = collector_cpu(), os.getloadavg()[0], sum(written_bytes(pid) for pid in pids)
            stored0 = stored_heartbeats()
            # (time, heartbeats stored) every 0.2 s from here until the backlog is stored.
            samples, sampling = [], [True]

            def sample_stored():
                while sampling[0]:
                    samples.append((time.time(), stored_heartbeats() - stored0))
                    time.sleep(0.2)
            import threading
            sampler = threading.Thread(target=sample_stored, daemon=True)
            sampler.start()
            if shutil.which("wrk"):
                # One wrk per collector, each on its share of the hosts and connections.
                cmds = []
                for k, p in enumerate(ports):
                    requests_file = os.path.join(work, f"heartbeats.{k}.tsv")
                    with open(requests_file, "w") as f:
                        f.writelines(f"{t}\t{b}\n" for t, b in lines[k::len(ports)])
                    pause = max(0, round(args.connections / args.ingest_rate * 1000 - 2)) if args.ingest_rate > 0 else 0
                    cmds.append(["wrk", f"-t{args.wrk_threads}", f"-c{max(1, args.connections // len(ports))}", f"-d{int(args.ingest_seconds)}s",
                                 "--latency", "-s", os.path.join(HERE, "heartbeat.lua"), f"http://127.0.0.1:{p}", "--", requests_file, str(pause)])
                t0 = time.time()
                wrks = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for c in cmds]
                texts = [w.communicate(timeout=args.ingest_seconds + 300)[0] for w in wrks]
                el = time.time() - t0
                ok = bad = 0
                rate = 0.0
                for text in texts:
                    total = int(re.search(r"(\d+) requests in", text).group(1))
                    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
                    b = int(m.group(1)) if m else 0
                    ok, bad = ok + total - b, bad + b
                    rate += float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)) * (total - b) / max(total, 1)
                lat = re.search(r"^\s+50%\s+(\S+).*?^\s+99%\s+(\S+)", texts[0], re.S | re.M)
                client = f"{len(cmds)} × wrk {args.wrk_threads} thread, {args.connections} connections in all"
                latency = f"latency p50 {lat.group(1)}, p99 {lat.group(2)}" if lat else ""
            else:
                n = max(2, args.connections // 8)
                t0 = time.time()
                results = run_workers(heartbeat_worker, [(ports[w % len(ports)], lines[w::n], t0 + args.ingest_seconds) for w in range(n)])
                el = time.time() - t0
                ok, bad = sum(r[0] for r in results), sum(r[1] for r in results)
                rate = ok / el
                client, latency = f"{n} Python processes (wrk not installed)", ""
            answered_cpu = collector_cpu() - cpu0
            answered_at = time.time()
            # Answered is not stored when heartbeats are answered once logged: wait for the
            # backlog, and give the rate at which they were stored, first to last commit
            # (wrk spends a few seconds reading its requests before it sends any).
            deadline = time.time() + 900
            while (not samples or samples[-1][1] < ok) and time.time() < deadline:
                time.sleep(0.1)
            sampling[0] = False
            sampler.join(timeout=30)
            stored = samples[-1][1] if samples else 0
            first = next((t for t, n in samples if n > 0), t0)
            last = next((t for t, n in samples if n >= stored), time.time())
            stored_el = max(last - first, 1e-3)
            at_answer_end = max([n for t, n in samples if t <= answered_at] or [0])
            cpu = collector_cpu() - cpu0
            dbcpu = database_cpu_seconds() - db0
            written = sum(written_bytes(pid) for pid in pids) - written0
            if perf:
                perf.send_signal(2)
                perf.wait(timeout=120)
            load.append(os.getloadavg()[0])
            print(f"ingest: {rate:.0f}/s ({ok} ok, {bad} refused, {el:.1f} s, {client}, {avg_bytes / 1024:.1f} KiB each; {latency}); "
                  f"collector CPU {cpu:.1f} s = {cpu / max(ok, 1) * 1e6:.0f} µs per heartbeat"
                  + (f", PostgreSQL {dbcpu / max(ok, 1) * 1e6:.0f} µs" if args.database else f"; {written / max(ok, 1) / 1024:.1f} KiB written to files per heartbeat")
                  + f"; load {l0:.1f} → {os.getloadavg()[0]:.1f}", flush=True)
            drain = last - answered_at
            print(f"stored: {stored / stored_el:.0f}/s ({stored} of {ok} answered stored over {stored_el:.1f} s, first to last commit; "
                  f"{at_answer_end} when the last was answered, the other {stored - at_answer_end} in the {drain:.1f} s after"
                  + (f" = {(stored - at_answer_end) / drain:.0f}/s" if drain > 0.5 else "")
                  + f"; collector CPU while answering {answered_cpu / max(ok, 1) * 1e6:.0f} µs per heartbeat; "
                  f"collector peak RSS {sum(peak_rss_mib(pid) for pid in pids):.0f} MiB)", flush=True)
            rows.append(("heartbeats stored (first to last commit)", f"{stored / stored_el:,.0f} /s", f"{max(drain, 0):.1f} s after the last answer",
                         "≥ 5,000 /s", "yes" if stored / stored_el >= 5000 else "no"))
            rows.append(("heartbeat ingest", f"{rate:,.0f} /s", f"{cpu / max(ok, 1) * 1e6:.0f} µs collector CPU each"
                         + (f", {dbcpu / max(ok, 1) * 1e6:.0f} µs PostgreSQL" if args.database else ""), "≥ 5,000 /s",
                         "yes" if rate >= 5000 else "no"))

        # ------------------------------------------------ queries
        token = subprocess.run([args.bin, "admin", "token", "create", f"fleetbench-{int(time.time())}", "--role", "technician",
                                "--data-dir", data] + store_args, capture_output=True, text=True, check=True).stdout.strip().split()[-1]
        conn = [None]
        counts = {}
        for title, sql in dashboard_queries(args.dashboard_source) + [(f"also: {q}", q) for q in args.also]:
            server_ms, wall_ms = [], []
            l0 = os.getloadavg()[0]
            for run in range(args.runs + 2):
                body = json.dumps({"sql": sql})
                t0 = time.perf_counter()
                status, answer = request(conn, port, "POST", "/api/v1/query", body,
                                         {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                wall = (time.perf_counter() - t0) * 1000
                if status != 200:
                    sys.exit(f"query {title!r} answered {status}: {answer[:300]!r}")
                a = json.loads(answer)
                counts[title] = len(a["rows"])
                if run >= 2:
                    server_ms.append(a["elapsedMS"])
                    wall_ms.append(wall)
            p50 = percentile(server_ms, 50)
            extra = title.startswith("also: ")
            rows.append((f"{'`' + sql + '`' if extra else title} ({counts[title]} rows)", f"p50 {p50:.0f} ms, p95 {percentile(server_ms, 95):.0f} ms",
                         f"wall p50 {percentile(wall_ms, 50):.1f} ms, p95 {percentile(wall_ms, 95):.1f} ms", "" if extra else "p50 ≤ 50 ms",
                         "" if extra else ("yes" if p50 <= 50 else "no")))
            print(f"query {title}: server p50 {p50:.0f} ms p95 {percentile(server_ms, 95):.0f} ms; wall p50 {percentile(wall_ms, 50):.1f} ms; "
                  f"{counts[title]} rows; load {l0:.1f}", flush=True)
        load.append(os.getloadavg()[0])

        if args.database:
            size = int(subprocess.run(["psql", args.database, "-tAc", "SELECT pg_database_size(current_database())"],
                                      capture_output=True, text=True, check=True, timeout=60).stdout.strip())
        else:
            size = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data) if f.startswith("collector.sqlite"))
        print()
        print(f"{len(hosts):,} hosts; {len(servers)} collector(s); {store_name} store {size / 2**20:,.0f} MiB; "
              f"collector RSS {' + '.join(f'{rss_mib(pid):.0f}' for pid in pids)} MiB; {facts}; "
              f"load average (1 min) during the run {min(load):.1f}–{max(load):.1f}; {args.runs} runs per query")
        print()
        print("| measure | figure | also | target | met |")
        print("|---|---|---|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        if not (args.keep or args.reuse):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
