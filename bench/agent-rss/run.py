#!/usr/bin/env python3
"""The agent daemon at rest: total RSS, RSS by mapping class, and idle CPU (issue 12).

Starts `helpline daemon` with a throwaway state folder, socket and empty config, in two
states: not enrolled (it only idles), and enrolled against a stub collector on 127.0.0.1
(this script answers the heartbeat in a thread of its own), measured after the first
heartbeat. Each binary is dropped from the page cache first (see `cold`). Samples
/proc/PID/smaps once a second and prints the largest sample, by mapping class, beside
`sleep` (a floor) and `journalctl -f` (a familiar anchor).

    python3 bench/agent-rss/run.py                       # builds with scripts/build-release.sh
    python3 bench/agent-rss/run.py --binary PATH [--baseline [LABEL=]PATH]... [--seconds 15]
    python3 bench/agent-rss/run.py --binary PATH --seconds 200 --every 30s   # at rest between work

With --every, the enrolled daemon heartbeats (--heartbeat-interval) and checks in
(reply_check_interval) that often, so the window holds idle ticks (the daemon wakes at least
once a minute), heartbeat and check-in children and what each leaves behind; the table then
also gives the last sample beside the largest.

Every wait has a deadline; every process started here is ended here.
"""
import argparse
import datetime
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TICKS = os.sysconf("SC_CLK_TCK")


def mapping_class(path, binary):
    """Which of the table's columns a mapping's pages count in."""
    base = os.path.basename(path)
    if path and os.path.realpath(path) == os.path.realpath(binary):
        return "binary"
    if base.startswith("lib_FoundationICU"):
        return "ICU"
    if base.startswith("libFoundation"):
        return "Foundation"
    if base.startswith(("libswift", "libdispatch", "libBlocksRuntime")):
        return "Swift runtime"
    if ".so" in base:
        return "system libs"
    return "heap+anon"   # [heap], [anon], [stack], [vdso]… and unnamed mappings


CLASSES = ["binary", "Swift runtime", "Foundation", "ICU", "system libs", "heap+anon"]


def sample(pid, binary):
    """RSS in kB per class, and Private_Dirty in kB in all, from /proc/PID/smaps."""
    rss = dict.fromkeys(CLASSES, 0)
    dirty = 0
    cls = "heap+anon"
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split(None, 5)
            if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                path = head[5].strip() if len(head) > 5 else ""
                cls = mapping_class(path, binary)
            elif head[0] == "Rss:":
                rss[cls] += int(head[1])
            elif head[0] == "Private_Dirty:":
                dirty += int(head[1])
    return rss, dirty


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime


class StubCollector(http.server.BaseHTTPRequestHandler):
    """Answers every request as a collector answers a heartbeat; counts them."""
    beats = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/api/v1/heartbeats"):
            StubCollector.beats += 1
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = json.dumps({"hostID": "bench-host", "receivedAt": now}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST


def wait_for(predicate, deadline_s, what):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise SystemExit(f"timed out after {deadline_s} s waiting for {what}")


def cold(path):
    """Drops `path` from the page cache, so the process starts as after a boot.

    How many of a binary's clean pages a fault maps depends on how the page cache holds
    the file: a binary just written by the linker or `strip` sits in large folios and
    showed up to 2x the RSS of the same file read back from disk. Only this file is
    evicted; shared libraries stay as other processes left them.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(name, argv, binary, seconds, ready=None, env=None):
    """Starts argv, waits for `ready`, samples for `seconds`; returns the row."""
    cold(binary)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    try:
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        if ready:
            wait_for(lambda: proc.poll() is not None or ready(lines), 30, f"{name} to be ready")
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode}: {b''.join(lines).decode(errors='replace')}")
        time.sleep(1)   # settle: the first tick's work is done
        best, best_total, best_dirty, last = None, -1, 0, 0
        t0, c0 = time.monotonic(), cpu_ticks(proc.pid)
        while time.monotonic() - t0 < seconds:
            rss, dirty = sample(proc.pid, binary)
            last = sum(rss.values())
            if last > best_total:
                best, best_total, best_dirty = rss, last, dirty
            time.sleep(1)
        cpu = (cpu_ticks(proc.pid) - c0) / TICKS / (time.monotonic() - t0) * 100
        return {"name": name, "rss": best, "total": best_total, "dirty": best_dirty, "cpu": cpu, "last": last}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def daemon_rows(label, binary, seconds, port, every=None):
    rows = []
    for enrolled in (False, True):
        state = tempfile.mkdtemp(prefix="helpline-rss-")
        try:
            conf = os.path.join(state, "agent.conf")
            with open(conf, "w") as f:
                if every and enrolled:
                    f.write(f"reply_check_interval = {every}\n")
            if enrolled:
                with open(os.path.join(state, "enrollment.json"), "w") as f:
                    json.dump({"server": f"http://127.0.0.1:{port}", "hostID": "bench-host", "hostToken": "t",
                               "hostname": "bench", "enrolledAt": "2026-01-01T00:00:00Z"}, f)
            before = StubCollector.beats
            ready = (lambda lines: StubCollector.beats > before) if enrolled else \
                (lambda lines: any(b"started;" in l for l in lines))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPLINE_", "NOTIFY_SOCKET", "WATCHDOG_"))}
            argv = [binary, "daemon", "--state-dir", state, "--socket", os.path.join(state, "agent.sock"),
                    "--config", conf]
            what = "enrolled, after a heartbeat" if enrolled else "not enrolled"
            if every and enrolled:
                argv += ["--heartbeat-interval", every]
                what = f"enrolled, heartbeat and check-in every {every}"
            rows.append(measure(f"{label}, {what}", argv, binary, seconds, ready, env))
        finally:
            shutil.rmtree(state, ignore_errors=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", help="release helpline to measure (default: build with scripts/build-release.sh)")
    ap.add_argument("--baseline", action="append", default=[], metavar="[LABEL=]PATH",
                    help="another helpline to print beside it, e.g. a plain `swift build -c release` (repeatable)")
    ap.add_argument("--seconds", type=float, default=15, help="sampling window per case (default 15)")
    ap.add_argument("--every", metavar="DURATION",
                    help="enrolled: heartbeat and check in this often (e.g. 30s; default: the daemon's own, 15m and 5m)")
    args = ap.parse_args()

    binary = args.binary
    if not binary:
        out = subprocess.run(["bash", os.path.join(ROOT, "scripts/build-release.sh"), "--agent-only"],
                             check=True, timeout=1800, capture_output=True, text=True).stdout
        binary = os.path.join(ROOT, out.strip().splitlines()[-1])   # the script prints it relative to the repository
    binary = os.path.abspath(binary)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StubCollector)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rows = daemon_rows("helpline daemon", binary, args.seconds, port, args.every)
        baselines = [b.split("=", 1) if "=" in b else ("baseline", b) for b in args.baseline]
        for label, path in baselines:
            rows += daemon_rows(label, os.path.abspath(path), args.seconds, port, args.every)
        rows.append(measure("sleep 600 (floor)", ["sleep", "600"], shutil.which("sleep"), min(args.seconds, 3)))
        if shutil.which("journalctl"):
            rows.append(measure("journalctl -f (anchor)", ["journalctl", "-f", "-n", "0"],
                                shutil.which("journalctl"), min(args.seconds, 3)))
    finally:
        server.shutdown()

    print(f"binary: {binary}, {os.path.getsize(binary) / 1e6:.1f} MB")
    for label, path in baselines:
        print(f"{label}: {path}, {os.path.getsize(path) / 1e6:.1f} MB")
    print(f"largest of ~{args.seconds:.0f} one-second samples; MB = 10^6 bytes; CPU = share of one core over the window\n")
    print(f"heartbeats the stub answered: {StubCollector.beats}\n")
    head = ["case", "total RSS", "last sample"] + CLASSES + ["Private_Dirty", "CPU"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" + "---:|" * (len(head) - 1))
    mb = lambda kb: f"{kb * 1024 / 1e6:.1f}"
    for r in rows:
        cells = [r["name"], f"**{mb(r['total'])}**", mb(r["last"])] + [mb(r["rss"][c]) for c in CLASSES] + [mb(r["dirty"]), f"{r['cpu']:.2f} %"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
