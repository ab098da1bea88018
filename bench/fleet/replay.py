#!/usr/bin/env python3
"""Replays a fixed number of realistic heartbeats against a collector on a kept store and
reports the cost per heartbeat: collector CPU time and, with --count-pages, WAL frames
written (4 KiB pages, which do not depend on what else the machine runs).

    python3 bench/fleet/run.py --bin OLD --hosts 3000 --history-hosts 0 --bundles 0 \
        --ingest-hosts 3000 --ingest-seconds 3 --runs 1 --keep /tmp/hb-store       # once
    python3 bench/fleet/replay.py --bin BIN --store /tmp/hb-store --count 9000 --count-pages

The store is copied first (each run starts from the same bytes), the collector starts on
the copy with the token cache off (as bench/fleet does by default), `--warmup` heartbeats
go first (migrations done, caches warm), then `--count` heartbeats from
`--connections` keep-alive connections, cycling through the store's hosts with figures
that move from one beat of a host to the next (the same bodies for every binary: fixed
ticks and time).
"""
import argparse
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import json
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as fleet  # noqa: E402  (the realistic host model)


def send(port, items, errors):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for token, body in items:
        conn.request("POST", "/api/v1/heartbeats", body=body,
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status != 202:
            errors.append(r.status)
    conn.close()


def blast(port, items, connections):
    errors = []
    threads = [threading.Thread(target=send, args=(port, items[k::connections], errors)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def page_size(path):
    """The database's page size, from its header (bytes 16-17; 1 means 65,536)."""
    with open(path, "rb") as f:
        f.seek(16)
        n = int.from_bytes(f.read(2), "big")
    return 65536 if n == 1 else n


def wait_stored(port, total, deadline_seconds=300):
    """Waits until the collector has stored `total` heartbeats (`helpline_heartbeats_accepted_total`,
    counted at commit): a heartbeat the writer is behind on is answered before it is stored,
    and the WAL (and the CPU) must be read after its batch, not while it is written."""
    deadline = time.time() + deadline_seconds
    while time.time() < deadline:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/metrics")
        m = re.search(r"^helpline_heartbeats_accepted_total (\d+)", c.getresponse().read().decode(), re.M)
        c.close()
        if m and int(m.group(1)) >= total:
            return
        time.sleep(0.1)
    sys.exit(f"the collector did not store {total} heartbeats within {deadline_seconds} s")


def print_pages_by_table(work, start, end, count, size):
    """Maps the WAL frames written between byte offsets start and end to the table or index
    that owns each page (dbstat on a copy of the database and its WAL, taken while the
    collector is idle), and prints frames and distinct pages per heartbeat for each."""
    import collections
    import sqlite3
    snap = os.path.join(work, "snap")
    os.makedirs(snap)
    for suffix in ("", "-wal"):
        shutil.copyfile(os.path.join(work, "data", "collector.sqlite" + suffix), os.path.join(snap, "collector.sqlite" + suffix))
    with open(os.path.join(snap, "collector.sqlite-wal"), "rb") as f:
        # Frames follow the WAL's 32-byte header; a log emptied by a checkpoint before the
        # measure starts at 0, where the header is, not a frame.
        f.seek(max(start, 32))
        frames = []
        while f.tell() + 24 + size <= end:
            header = f.read(24)
            frames.append(int.from_bytes(header[:4], "big"))
            f.seek(size, 1)
    db = sqlite3.connect(os.path.join(snap, "collector.sqlite"))
    owner = dict((pageno, name) for name, pageno in db.execute("SELECT name, pageno FROM dbstat"))
    db.close()
    by_frames = collections.Counter(owner.get(p, "(free list or header)") for p in frames)
    by_pages = collections.Counter(owner.get(p, "(free list or header)") for p in set(frames))
    print(f"WAL frames per heartbeat by table or index ({len(frames)} frames, {len(set(frames))} distinct pages):")
    for name, n in by_frames.most_common(16):
        print(f"  {name:40} {n / count:6.2f} frames, {by_pages[name] / count:6.2f} distinct pages")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--store", required=True, help="a directory kept by bench/fleet/run.py --keep (copied, not changed)")
    ap.add_argument("--count", type=int, default=3000, help="heartbeats measured (default 3000)")
    ap.add_argument("--warmup", type=int, default=300, help="heartbeats before measuring (default 300)")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--tick", type=int, default=500, help="the heartbeats' tick (figures moved since the fill)")
    ap.add_argument("--order", choices=["enrolled", "random"], default="enrolled",
                    help="hosts in enrollment order (neighbours share pages) or shuffled with a fixed seed, as a fleet beats "
                         "(default enrolled)")
    ap.add_argument("--count-pages", action="store_true",
                    help="no checkpoint during the run (sqlite_checkpoint_pages=1000000): report WAL frames written per heartbeat")
    ap.add_argument("--pages-by-table", action="store_true",
                    help="with --count-pages: which table or index each measured WAL frame belongs to (SQLite's dbstat)")
    args = ap.parse_args()
    if args.pages_by_table and not args.count_pages:
        sys.exit("--pages-by-table needs --count-pages (no checkpoint during the run)")

    work = tempfile.mkdtemp(prefix="hb-replay-")
    shutil.copytree(os.path.join(args.store, "data"), os.path.join(work, "data"))
    if args.count_pages:
        # The WAL starts empty: a log left by the fill, cut to its size limit, would be written
        # over from its start, and its growth would not count the frames written.
        import sqlite3
        con = sqlite3.connect(os.path.join(work, "data", "collector.sqlite"))
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
    hosts = []
    with open(os.path.join(args.store, "hosts.txt")) as f:
        for line in f:
            i, h, t = line.split()
            hosts.append((int(i), h, t))
    hosts.sort()
    if args.order == "random":
        import random
        random.Random(11).shuffle(hosts)
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
    def bodies(first_tick, count):
        # Heartbeat k is host k % hosts' beat number first_tick + k // hosts: a host's figures
        # move between two of its beats, as they do in a fleet.
        return [(t, json.dumps(fleet.heartbeat(i, h, fleet.host_name(i), fleet.machine_id(i), first_tick + k // len(hosts), now),
                               separators=(",", ":")))
                for k, (i, h, t) in ((k, hosts[k % len(hosts)]) for k in range(count))]
    warm = bodies(args.tick - 100, args.warmup)
    measured = bodies(args.tick, args.count)

    serve = [args.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, "data"), "--log-level", "error",
             "--min-free-disk-mb", "256", "--limit", "heartbeats_per_hour=1000000000", "--limit", "max_connections=4096",
             "--limit", "host_token_cache_entries=0"]
    if args.count_pages:
        serve += ["--limit", "sqlite_checkpoint_pages=1000000"]
    wal = os.path.join(work, "data", "collector.sqlite-wal")
    server = subprocess.Popen(serve, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = None
        deadline = time.time() + 900
        while port is None and time.time() < deadline:
            line = server.stdout.readline()
            if not line and server.poll() is not None:
                sys.exit("collector exited before listening")
            m = re.match(r"listening: .*:(\d+)$", line.strip())
            if m:
                port = int(m.group(1))
        errors = blast(port, warm, args.connections)
        wait_stored(port, len(warm) - len(errors))
        cpu0, t0, wal0 = cpu_seconds(server.pid), time.time(), os.path.getsize(wal)
        errors += blast(port, measured, args.connections)
        wait_stored(port, len(warm) + len(measured) - len(errors))
        cpu, el, wal1 = cpu_seconds(server.pid) - cpu0, time.time() - t0, os.path.getsize(wal)
        size = page_size(os.path.join(work, "data", "collector.sqlite"))
        pages = (f"; {(wal1 - wal0) / (size + 24) / args.count:.2f} WAL frames of {size} bytes per heartbeat, "
                 f"{(wal1 - wal0) / args.count / 1024:.1f} KiB" if args.count_pages else "")
        if errors:
            print(f"refused: {len(errors)} ({sorted(set(errors))})")
        if args.pages_by_table:
            print_pages_by_table(work, wal0, wal1, args.count, size)
        print(f"{args.count} heartbeats in {el:.2f} s; collector CPU {cpu:.2f} s = {cpu / args.count * 1e6:.0f} µs per heartbeat; "
              f"load {os.getloadavg()[0]:.1f}{pages}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
