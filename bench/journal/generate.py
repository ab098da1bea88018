#!/usr/bin/env python3
"""Generate a realistic systemd journal for benchmarks: N entries over D days ending now.

Writes journal export format and pipes it into systemd-journal-remote, so the result is a
real journal (several files once it rotates), read by sd-journal like a laptop's.
Usage: generate.py OUTDIR [--entries 500000] [--days 7] [--seed 1]
"""
import argparse, os, random, struct, subprocess, sys, time, uuid

IDENTS = [
    # (identifier, unit, comm, exe, transport, weight, priorities, messages)
    ("kernel", None, None, None, "kernel", 12, [6] * 12 + [5, 5, 4, 3], [
        "usb 1-{a}: new high-speed USB device number {n} using xhci_hcd",
        "wlp2s0: associated",
        "audit: type=1400 audit({t}.{n}:{n}): apparmor=\"ALLOWED\" operation=\"open\" profile=\"snap.firefox\" name=\"/proc/{n}/stat\"",
        "EXT4-fs (nvme0n1p2): re-mounted. Quota mode: none.",
        "i915 0000:00:02.0: [drm] GT0: HuC: authenticated!",
        "nvme nvme0: {n}/0/0 default/read/poll queues",
        "TCP: request_sock_TCP: Possible SYN flooding on port {n}. Sending cookies.",
    ]),
    ("systemd", "init.scope", "systemd", "/usr/lib/systemd/systemd", "journal", 20, [6] * 12 + [5, 4], [
        "Started session-{n}.scope - Session {n} of User alice.",
        "Starting apt-daily.service - Daily apt download activities...",
        "Finished apt-daily.service - Daily apt download activities.",
        "logrotate.service: Deactivated successfully.",
        "Created slice user-1000.slice - User Slice of UID 1000.",
        "fwupd-refresh.service: Consumed {n}ms CPU time.",
    ]),
    ("NetworkManager", "NetworkManager.service", "NetworkManager", "/usr/sbin/NetworkManager", "syslog", 10, [6] * 8 + [5, 4], [
        "<info>  [{t}.{n}] dhcp4 (wlp2s0): state changed new lease, address=192.168.1.{b}",
        "<info>  [{t}.{n}] device (wlp2s0): state change: activated -> activated (reason 'none', sys-iface-state: 'managed')",
        "<warn>  [{t}.{n}] device (wlp2s0): Activation: (wifi) association took too long",
    ]),
    ("gnome-shell", None, "gnome-shell", "/usr/bin/gnome-shell", "stdout", 14, [6, 6, 6, 4, 3], [
        "Window manager warning: Overwriting existing binding of keysym {a} with keysym {a} (keycode {n}).",
        "JS ERROR: TypeError: this._windowActor is null",
        "meta_window_set_stack_position_no_sync: assertion 'window->stack_position >= 0' failed",
    ]),
    ("sshd", "ssh.service", "sshd", "/usr/sbin/sshd", "syslog", 4, [6] * 6 + [5, 4], [
        "Accepted publickey for alice from 10.0.0.{b} port {n} ssh2: ED25519 SHA256:{h}",
        "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
        "Connection closed by 10.0.0.{b} port {n} [preauth]",
    ]),
    ("CRON", "cron.service", "cron", "/usr/sbin/cron", "syslog", 5, [6], [
        "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
    ]),
    ("firefox", None, "firefox", "/usr/lib/firefox/firefox", "stdout", 10, [6] * 6 + [4, 3], [
        "[Parent {n}, Main Thread] WARNING: Failed to open {h}: file {h}, line {n}",
        "ATTENTION: default value of option mesa_glthread overridden by environment.",
        "[GFX1-]: Failed to connect WebRenderBridgeChild. isParent=true",
    ]),
    ("pulseaudio", None, "pulseaudio", "/usr/bin/pulseaudio", "syslog", 4, [6, 6, 6, 4], [
        "E: [alsa-sink-ALC257 Analog] alsa-sink.c: ALSA woke us up to write new data to the device, but there was actually nothing to write.",
    ]),
    ("dbus-daemon", "dbus.service", "dbus-daemon", "/usr/bin/dbus-daemon", "syslog", 6, [6] * 8 + [5], [
        "[system] Activating via systemd: service name='org.freedesktop.hostname1' unit='dbus-org.freedesktop.hostname1.service' requested by ':1.{n}' (uid=1000 pid={n} comm=\"gnome-shell\")",
        "[system] Successfully activated service 'org.freedesktop.hostname1'",
    ]),
    ("systemd-resolved", "systemd-resolved.service", "systemd-resolve", "/usr/lib/systemd/systemd-resolved", "journal", 3, [6, 6, 6, 4], [
        "Using degraded feature set UDP instead of UDP+EDNS0 for DNS server 192.168.1.1.",
        "Clock change detected. Flushing caches.",
    ]),
]

def render(template, rnd, t):
    return template.format(a=rnd.randint(1, 9), n=rnd.randint(1, 99999), b=rnd.randint(2, 254), t=t // 1000000,
                           h="%016x" % rnd.getrandbits(64))

def field(out, name, value):
    if isinstance(value, str):
        value = value.encode()
    if b"\n" in value:
        out.append(name.encode() + b"\n" + struct.pack("<Q", len(value)) + value + b"\n")
    else:
        out.append(name.encode() + b"=" + value + b"\n")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--entries", type=int, default=500_000)
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    os.makedirs(args.outdir, exist_ok=True)
    machine = "%032x" % rnd.getrandbits(128)
    now = int(time.time() * 1e6)
    start = now - int(args.days * 86400e6)
    step = (now - start) // args.entries
    weights = [i[5] for i in IDENTS]
    boots = []
    proc = subprocess.Popen(["/lib/systemd/systemd-journal-remote", "-o", os.path.join(args.outdir, "system.journal"), "-"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    boot = None
    boot_start = start
    seq_in_boot = 0
    batch = []
    for i in range(args.entries):
        t = start + i * step + rnd.randint(0, max(1, step - 1))
        # A new boot about every 40 hours, the last one current.
        if boot is None or t - boot_start > 40 * 3600e6:
            boot = "%032x" % rnd.getrandbits(128)
            boot_start = t
            boots.append(boot)
        ident, unit, comm, exe, transport, _, prios, msgs = rnd.choices(IDENTS, weights)[0]
        prio = rnd.choice(prios)
        e = []
        field(e, "__REALTIME_TIMESTAMP", str(t))
        field(e, "__MONOTONIC_TIMESTAMP", str(t - boot_start + 5_000_000))
        field(e, "_BOOT_ID", boot)
        field(e, "_MACHINE_ID", machine)
        field(e, "_HOSTNAME", "laptop-42")
        field(e, "PRIORITY", str(prio))
        field(e, "_TRANSPORT", transport)
        if transport != "kernel":
            pid = str(rnd.randint(300, 60000))
            field(e, "SYSLOG_IDENTIFIER", ident)
            field(e, "SYSLOG_FACILITY", "3")
            field(e, "_PID", pid)
            field(e, "_UID", "1000" if ident in ("gnome-shell", "firefox", "pulseaudio") else "0")
            field(e, "_GID", "1000" if ident in ("gnome-shell", "firefox", "pulseaudio") else "0")
            field(e, "_COMM", comm)
            field(e, "_EXE", exe)
            field(e, "_CMDLINE", exe + " --no-daemon")
            field(e, "_CAP_EFFECTIVE", "1ffffffffff")
            field(e, "_SYSTEMD_CGROUP", "/system.slice/" + (unit or "user@1000.service"))
            field(e, "_SYSTEMD_SLICE", "system.slice")
            field(e, "_SOURCE_REALTIME_TIMESTAMP", str(t - 17))
            if unit:
                field(e, "_SYSTEMD_UNIT", unit)
            else:
                field(e, "_SYSTEMD_USER_UNIT", "org.gnome.Shell@wayland.service")
            if transport == "journal":
                field(e, "CODE_FILE", "src/core/unit.c")
                field(e, "CODE_LINE", str(rnd.randint(1, 6000)))
                field(e, "CODE_FUNC", "unit_log_success")
        else:
            field(e, "SYSLOG_IDENTIFIER", "kernel")
            field(e, "SYSLOG_FACILITY", "0")
        field(e, "MESSAGE", render(rnd.choice(msgs), rnd, t))
        e.append(b"\n")
        batch.append(b"".join(e))
        if len(batch) >= 5000:
            proc.stdin.write(b"".join(batch))
            batch = []
    proc.stdin.write(b"".join(batch))
    proc.stdin.close()
    err = proc.stderr.read().decode()
    proc.wait()
    print(err.strip().splitlines()[-1] if err.strip() else "done", file=sys.stderr)
    with open(os.path.join(args.outdir, "current-boot-id"), "w") as f:
        f.write(str(uuid.UUID(boots[-1])) + "\n")

if __name__ == "__main__":
    main()
