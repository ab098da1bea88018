#!/usr/bin/env python3
"""Load test for helpline-collector: bundles/s (~1 MB bundles) and heartbeats/s.

Loopback only and bounded in time: starts its own collector on a random 127.0.0.1 port
with a temp data directory and SQLite file, runs each phase for --duration seconds, prints
the rates and the collector's RSS before and after, and stops the collector.

    python3 bench/collector/load.py --bin .build/release/helpline-collector

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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("HELPLINE_COLLECTOR_BIN", ".build/release/helpline-collector"))
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per phase (default 10)")
    ap.add_argument("--bundle-kib", type=int, default=1024, help="attachment size per bundle (default 1024)")
    ap.add_argument("--bundle-workers", type=int, default=4)
    ap.add_argument("--heartbeat-workers", type=int, default=4)
    ap.add_argument("--hosts", type=int, default=200)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="helpline-bench-")
    server = subprocess.Popen([args.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", work + "/data", "--log-level", "error",
                               "--min-free-disk-mb", "256", "--limit", "max_concurrent_uploads=32"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        secret, port = None, None
        deadline = time.time() + 30
        while port is None and time.time() < deadline:
            line = server.stdout.readline()
            if line.startswith("enrollment secret: "):
                secret = line.split(": ", 1)[1].strip()
            m = re.match(r"listening: .*:(\d+)$", line.strip())
            if m:
                port = int(m.group(1))
        if port is None:
            sys.exit("collector did not start")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        hosts = []
        for i in range(args.hosts):
            conn.request("POST", "/api/v1/enroll", body=json.dumps({"secret": secret, "hostname": f"bench-{i}", "machineID": f"bench{i:06d}"}),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            e = json.loads(r.read())
            hosts.append((e["hostID"], e["hostToken"]))
        tail = shared_tail(args.bundle_kib * 1024)
        size = len(bundle(hosts[0][0], tail))
        rss0 = rss_kib(server.pid)
        print(f"collector {args.bin} pid {server.pid} port {port}; {args.hosts} hosts; bundle {size} bytes")
        print(f"RSS before: {rss0 / 1024:.1f} MiB")

        rate, ok, bad, el = phase("bundles", bundle_worker,
                                  lambda w, d, o: (port, hosts[w::args.bundle_workers], tail, d, o), args.bundle_workers, args.duration)
        rss1 = rss_kib(server.pid)
        print(f"bundles:    {rate:8.1f}/s  ({ok} stored, {bad} refused, {el:.1f} s, {args.bundle_workers} clients, "
              f"{rate * size / 1e6:.1f} MB/s)  RSS after: {rss1 / 1024:.1f} MiB")

        rate, ok, bad, el = phase("heartbeats", heartbeat_worker,
                                  lambda w, d, o: (port, hosts[w::args.heartbeat_workers], d, o), args.heartbeat_workers, args.duration)
        rss2 = rss_kib(server.pid)
        print(f"heartbeats: {rate:8.1f}/s  ({ok} stored, {bad} refused, {el:.1f} s, {args.heartbeat_workers} clients)  "
              f"RSS after: {rss2 / 1024:.1f} MiB")
        # A second bundle phase shows whether memory stays flat under sustained load.
        rate, ok, bad, el = phase("bundles", bundle_worker,
                                  lambda w, d, o: (port, hosts[w::args.bundle_workers], tail, d, o), args.bundle_workers, args.duration)
        rss3 = rss_kib(server.pid)
        print(f"bundles #2: {rate:8.1f}/s  ({ok} stored, {bad} refused)  RSS after: {rss3 / 1024:.1f} MiB")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
