#!/usr/bin/env python3
"""Load test for helpline-collector: bundles/s (~1 MB bundles) and heartbeats/s.

Loopback only and bounded in time: starts its own collector on a random 127.0.0.1 port
with a temp data directory and SQLite file, runs each phase for --duration seconds, prints
the rates and the collector's RSS before and after, and stops the collector.

    python3 bench/collector/load.py --bin .build/release/helpline-collector

Every phase reports how the load was made (client processes and the CPU seconds they used)
next to the collector's own CPU seconds per request, because client and server share this
machine's cores: a rate alone says little when the client eats half the CPU.

    --heartbeat-client wrk     heartbeats from wrk (C, one thread, --wrk-connections sockets)
                               driven by bench/collector/heartbeat.lua instead of Python
    --perf-record FILE         samples the collector with perf (cpu-clock) during the phases
    --wrapper "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out"
                               runs the collector under a profiler (rates are then meaningless)

Bundles are real gzip'd tar bundles: a unique manifest (its own gzip member) followed by a
shared, pre-compressed member with a 1 MiB random attachment, so the client spends its CPU
on sending, not compressing (BundleReader reads multi-member gzip, as BundleWriter writes).
"""
import argparse
import gzip
import http.client
import io
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid


def tar_member(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        t.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return raw[: 512 + ((len(data) + 511) // 512) * 512]  # without the end-of-archive blocks


def shared_tail(size):
    body = tar_member("attachments/noise.bin", os.urandom(size)) + b"\0" * 1024
    return gzip.compress(body, compresslevel=1, mtime=0)


def bundle(host_id, tail):
    manifest = {"schemaVersion": 1, "bundleID": str(uuid.uuid4()), "createdAt": "2026-11-29T08:00:00Z",
                "agentVersion": "bench", "host": {"hostID": host_id, "hostname": "bench", "machineID": host_id.replace("-", "")},
                "reason": "scheduled", "probes": [], "redactions": {}}
    head = gzip.compress(tar_member("manifest.json", json.dumps(manifest).encode()), compresslevel=1, mtime=0)
    return head + tail


def cpu_seconds(pid):
    """User + system CPU seconds of a process (and its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    """CPU seconds used by this script's finished child processes (the clients)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def post(conn, path, body, headers):
    conn.request("POST", path, body=body, headers=headers)
    r = conn.getresponse()
    r.read()
    return r.status


def bundle_worker(port, hosts, tail, deadline, out):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    ok = bad = 0
    i = 0
    while time.time() < deadline:
        host_id, token = hosts[i % len(hosts)]
        i += 1
        status = post(conn, "/api/v1/bundles", bundle(host_id, tail),
                      {"Authorization": f"Bearer {token}", "Content-Type": "application/gzip"})
        if status == 201:
            ok += 1
        else:
            bad += 1
    out.put((ok, bad))


def heartbeat_worker(port, hosts, deadline, out):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    bodies = []
    for host_id, token in hosts:
        hb = {"schemaVersion": 1, "host": {"hostID": host_id, "hostname": "bench"}, "sentAt": "2026-11-29T08:00:00Z",
              "agentVersion": "bench", "filesystems": [], "topProcesses": [], "failedUnits": [], "spooledBundles": 0,
              "memory": {"totalBytes": 16 << 30, "availableBytes": 8 << 30, "freeBytes": 4 << 30, "buffersBytes": 0,
                         "cachedBytes": 0, "swapTotalBytes": 0, "swapFreeBytes": 0, "meminfo": {}, "pressure": {}}}
        bodies.append((json.dumps(hb).encode(), {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}))
    ok = bad = 0
    i = 0
    while time.time() < deadline:
        body, headers = bodies[i % len(bodies)]
        i += 1
        if post(conn, "/api/v1/heartbeats", body, headers) == 202:
            ok += 1
        else:
            bad += 1
    out.put((ok, bad))


def phase(name, target, args_for, workers, duration):
    """Runs `workers` Python client processes until the deadline; returns (rate, ok, bad, elapsed)."""
    out = mp.Queue()
    deadline = time.time() + duration
    procs = [mp.Process(target=target, args=args_for(w, deadline, out)) for w in range(workers)]
    start = time.time()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.time() - start
    ok = sum(r[0] for r in results)
    bad = sum(r[1] for r in results)
    return ok / elapsed, ok, bad, elapsed


def wrk_phase(port, hosts_file, connections, threads, duration, mode):
    """Runs wrk with heartbeat.lua; returns (rate, ok, bad, elapsed) parsed from its summary."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "heartbeat.lua")
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, int(duration))}s", "--latency", "-s", script,
           f"http://127.0.0.1:{port}", "--", hosts_file, mode]
    start = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    elapsed = time.time() - start
    total = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(m.group(1)) if m else 0
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)) * (total - bad) / max(total, 1)
    lat = re.search(r"^\s+50%\s+(\S+).*?^\s+99%\s+(\S+)", out, re.S | re.M)
    if lat:
        print(f"            wrk latency p50 {lat.group(1)}, p99 {lat.group(2)}")
    return rate, total - bad, bad, elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("HELPLINE_COLLECTOR_BIN", ".build/release/helpline-collector"))
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per phase (default 10)")
    ap.add_argument("--bundle-kib", type=int, default=1024, help="attachment size per bundle (default 1024)")
    ap.add_argument("--bundle-workers", type=int, default=4, help="Python client processes for bundles (default 4)")
    ap.add_argument("--heartbeat-workers", type=int, default=4, help="Python client processes for heartbeats (default 4)")
    ap.add_argument("--heartbeat-client", choices=["python", "wrk"], default="python",
                    help="who sends heartbeats: Python processes or wrk with heartbeat.lua (default python)")
    ap.add_argument("--wrk-connections", type=int, default=16, help="wrk connections (default 16)")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--phases", default="bundles,heartbeats,bundles",
                    help="comma-separated phases in order: bundles, heartbeats, gets (GET /hosts/self/tickets, wrk only)")
    ap.add_argument("--wrapper", default="", help="command to run the collector under, e.g. valgrind --tool=callgrind")
    ap.add_argument("--perf-record", metavar="FILE", help="attach `perf record -e cpu-clock -g` to the collector during the phases")
    ap.add_argument("--collector-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for `serve` (repeatable), e.g. --collector-arg=--limit --collector-arg=host_token_cache_entries=0")
    ap.add_argument("--log-level", default="error", help="the collector's --log-level (default error)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="helpline-bench-")
    server = subprocess.Popen(args.wrapper.split() + [args.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", work + "/data",
                                                      "--log-level", args.log_level,
                                                      "--min-free-disk-mb", "256", "--limit", "max_concurrent_uploads=32",
                                                      # The load is a few simulated hosts sending far more than real ones:
                                                      # lift the per-host rates that would refuse it.
                                                      "--limit", "max_uploads_per_host=32", "--limit", "heartbeats_per_hour=1000000000",
                                                      "--limit", "host_bundles_per_hour=1000000000", "--limit", "host_max_stored_mb=1073741824"] + args.collector_arg,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        secret, port = None, None
        deadline = time.time() + (300 if args.wrapper else 30)
        while port is None and time.time() < deadline:
            line = server.stdout.readline()
            if line.startswith("first-start credentials: "):
                with open(line.split(": ", 1)[1].strip()) as f:
                    secret = next(l.split(": ", 1)[1].strip() for l in f if l.startswith("enrollment secret: "))
            m = re.match(r"listening: .*:(\d+)$", line.strip())
            if m:
                port = int(m.group(1))
        if port is None:
            sys.exit("collector did not start")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        hosts = []
        for i in range(args.hosts):
            conn.request("POST", "/api/v1/enroll", body=json.dumps({"secret": secret, "hostname": f"bench-{i}", "machineID": f"bench{i:06d}"}),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            e = json.loads(r.read())
            hosts.append((e["hostID"], e["hostToken"]))
        hosts_file = os.path.join(work, "hosts.txt")
        with open(hosts_file, "w") as f:
            f.writelines(f"{h} {t}\n" for h, t in hosts)
        tail = shared_tail(args.bundle_kib * 1024)
        size = len(bundle(hosts[0][0], tail))
        rss0 = rss_kib(server.pid)
        print(f"collector {args.bin} pid {server.pid} port {port}; {args.hosts} hosts; bundle {size} bytes; "
              f"{os.cpu_count()} cores shared by collector and clients; load average {os.getloadavg()[0]:.1f}")
        print(f"RSS before: {rss0 / 1024:.1f} MiB")

        perf = None
        if args.perf_record:
            perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-g", "-o", args.perf_record, "-p", str(server.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name in args.phases.split(","):
            server_cpu0, client_cpu0 = cpu_seconds(server.pid), children_cpu_seconds()
            if name == "bundles":
                rate, ok, bad, el = phase("bundles", bundle_worker,
                                          lambda w, d, o: (port, hosts[w::args.bundle_workers], tail, d, o), args.bundle_workers, args.duration)
                client = f"{args.bundle_workers} Python processes"
                extra = f", {rate * size / 1e6:.1f} MB/s"
            elif name in ("heartbeats", "gets") and (args.heartbeat_client == "wrk" or name == "gets"):
                rate, ok, bad, el = wrk_phase(port, hosts_file, args.wrk_connections, args.wrk_threads, args.duration,
                                              "get" if name == "gets" else "post")
                client = f"wrk, {args.wrk_threads} thread(s), {args.wrk_connections} connections"
                extra = ""
            elif name == "heartbeats":
                rate, ok, bad, el = phase("heartbeats", heartbeat_worker,
                                          lambda w, d, o: (port, hosts[w::args.heartbeat_workers], d, o), args.heartbeat_workers, args.duration)
                client = f"{args.heartbeat_workers} Python processes"
                extra = ""
            else:
                sys.exit(f"unknown phase {name}")
            server_cpu = cpu_seconds(server.pid) - server_cpu0
            client_cpu = children_cpu_seconds() - client_cpu0
            per = f"{server_cpu / ok * 1e6:.0f} µs" if ok else "-"
            print(f"{name + ':':11} {rate:8.1f}/s  ({ok} ok, {bad} refused, {el:.1f} s, {client}{extra})")
            print(f"            CPU: collector {server_cpu:.1f} s ({per} per request), clients {client_cpu:.1f} s; "
                  f"RSS after: {rss_kib(server.pid) / 1024:.1f} MiB")
        if perf:
            perf.send_signal(2)
            perf.wait(timeout=60)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60 if args.wrapper else 20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
