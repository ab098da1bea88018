#!/usr/bin/env python3
"""Journal view speed (issue 10): server time of journal pages on a 200,000-entry bundle, from the
journal index and from the blob scan it replaces, and what the index costs (it is built in the
background when a bundle's journal is first read, not at ingest).

Steps (each printed with its command):
  1. release build of helpline-collector (scratch path .build-rel unless --scratch);
  2. a realistic journal.jsonl of N entries (the identifiers, units, priorities and message templates
     of bench/journal/generate.py, written as the agent's journal.jsonl lines), cached in .bench-data/;
  3. two collectors on 127.0.0.1, each with its own data directory and SQLite file: one with the
     index (defaults), one with `journal_index_max_entries=0` (every page is the old blob scan);
  4. --ingests uploads of the bundle (fresh bundle ids) into each, timed: bundles/s with and without index;
  5. --runs requests of each page below to both, p50/p95 of the collector's own time (Server-Timing),
     checking that both answer the same JSON:
       first page, a page 150,000 entries in, a unit filter, a text search.
  6. the time retention takes to drop one bundle's index (its SQL, on the stopped collector's file),
     by 20,000-row transactions as the collector does, and at once for comparison.
Usage: bench/journal-view/run.py [--entries 200000] [--runs 21] [--blob-runs 7] [--ingests 3] [--no-build] [--scratch DIR]
"""
import argparse, gzip, http.client, importlib.util, io, json, os, random, shlex, shutil, statistics, subprocess, sys
import tarfile, tempfile, time, uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, ".bench-data", "journal-view")


def sh(cmd, **kw):
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.check_call(cmd, **kw)


def load_generator():
    """bench/journal/generate.py as a module: its IDENTS table and render()."""
    spec = importlib.util.spec_from_file_location("journal_generate", os.path.join(ROOT, "bench/journal/generate.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def journal_jsonl(entries, seed=1, days=3):
    """journal.jsonl as the agent writes it (short keys, see Shared JournalEntry), oldest first."""
    gen = load_generator()
    rnd = random.Random(seed)
    now = 1_790_000_000_000_000
    start = now - int(days * 86400e6)
    step = (now - start) // entries
    weights = [i[5] for i in gen.IDENTS]
    boot, boot_start = None, start
    out = io.StringIO()
    for i in range(entries):
        t = start + i * step + rnd.randint(0, max(1, step - 1))
        if boot is None or t - boot_start > 40 * 3600e6:
            boot, boot_start = "%032x" % rnd.getrandbits(128), t
        ident, unit, comm, exe, transport, _, prios, msgs = rnd.choices(gen.IDENTS, weights)[0]
        e = {"ts": t, "boot": boot, "prio": rnd.choice(prios)}
        if transport != "kernel":
            e.update({"fac": 3, "ident": ident, "pid": rnd.randint(300, 60000), "comm": comm, "exe": exe})
            if unit:
                e["unit"] = unit
            else:
                e["uunit"] = "org.gnome.Shell@wayland.service"
        else:
            e.update({"fac": 0, "ident": "kernel"})
        e["transport"] = transport
        e["msg"] = gen.render(rnd.choice(msgs), rnd, t)
        out.write(json.dumps(e, separators=(",", ":"), ensure_ascii=False))
        out.write("\n")
    return out.getvalue().encode()


def tar_member(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        t.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return raw[: 512 + ((len(data) + 511) // 512) * 512]


def bundle(host_id, machine_id, tail):
    """A bundle: its own manifest member (fresh id) followed by the shared compressed journal."""
    manifest = {"schemaVersion": 1, "bundleID": str(uuid.uuid4()), "createdAt": "2026-11-29T08:00:00Z", "agentVersion": "bench",
                "host": {"hostID": host_id, "hostname": "laptop-42", "machineID": machine_id}, "reason": "user_request",
                "probes": [], "redactions": {}}
    return manifest["bundleID"], gzip.compress(tar_member("manifest.json", json.dumps(manifest).encode()), compresslevel=1, mtime=0) + tail


class Collector:
    def __init__(self, binary, work, name, limits):
        self.dir = os.path.join(work, name)
        cmd = [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.dir, "--min-free-disk-mb", "64", "--log-level", "warning"]
        for k, v in limits.items():
            cmd += ["--limit", f"{k}={v}"]
        print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        secret = None
        for line in self.proc.stdout:
            if line.startswith("first-start credentials: "):
                with open(line.split(": ", 1)[1].strip()) as f:
                    secret = next(l.split(": ", 1)[1].strip() for l in f if l.startswith("enrollment secret: "))
            if line.startswith("listening: "):
                self.port = int(line.rsplit(":", 1)[1])
                break
        self.api = subprocess.check_output([binary, "admin", "token", "create", "bench", "--data-dir", self.dir], text=True).strip()
        conn = self.conn()
        machine = uuid.uuid4().hex
        conn.request("POST", "/api/v1/enroll", body=json.dumps({"secret": secret, "hostname": "laptop-42", "machineID": machine}),
                     headers={"Content-Type": "application/json"})
        e = json.loads(conn.getresponse().read())
        self.host, self.machine, self.token = e["hostID"], machine, e["hostToken"]

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def upload(self, tail):
        bundle_id, body = bundle(self.host, self.machine, tail)
        conn = self.conn()
        t = time.perf_counter()
        conn.request("POST", "/api/v1/bundles", body=body, headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/gzip"})
        r = conn.getresponse()
        r.read()
        elapsed = time.perf_counter() - t
        if r.status != 201:
            sys.exit(f"upload answered {r.status}")
        return bundle_id, elapsed

    def page(self, bundle_id, query):
        conn = self.conn()
        conn.request("GET", f"/api/v1/bundles/{bundle_id}/journal?{query}", headers={"Authorization": f"Bearer {self.api}"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"{query} answered {r.status}: {body[:300]}")
        ms = float(r.getheader("Server-Timing").split("dur=")[1])
        return r.getheader("Helpline-Journal-Source"), ms, body

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--blob-runs", type=int, default=7)
    ap.add_argument("--ingests", type=int, default=3)
    ap.add_argument("--scratch", default=os.path.join(ROOT, ".build-rel"))
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not a.no_build:
        sh(["swift", "build", "-c", "release", "--product", "helpline-collector", "--scratch-path", a.scratch], cwd=ROOT)
    binary = os.path.join(a.scratch, "release", "helpline-collector")

    os.makedirs(DATA, exist_ok=True)
    tail_path = os.path.join(DATA, f"journal-{a.entries}.gz")
    if not os.path.exists(tail_path):
        print(f"generating {a.entries} journal entries (bench/journal/generate.py's content)", flush=True)
        lines = journal_jsonl(a.entries)
        body = tar_member("journal.jsonl", lines) + b"\0" * 1024
        with open(tail_path, "wb") as f:
            f.write(gzip.compress(body, compresslevel=6, mtime=0))
    tail = open(tail_path, "rb").read()
    print(f"bundle: {a.entries} entries, {len(tail) / 1e6:.1f} MB compressed", flush=True)

    work = tempfile.mkdtemp(prefix="helpline-bench-journal-view-")
    common = {"host_bundles_per_hour": 1_000_000, "host_max_stored_mb": 1 << 20, "read_time_budget_seconds": 600}
    indexed = Collector(binary, work, "indexed", common)
    scanned = Collector(binary, work, "blob", dict(common, journal_index_max_entries=0))
    try:
        ingest = {}
        ids = {}
        every = []
        for name, c in [("with index", indexed), ("without index", scanned)]:
            times = []
            for _ in range(a.ingests):
                bundle_id, elapsed = c.upload(tail)
                times.append(elapsed)
                if c is indexed:
                    every.append(bundle_id)
            ids[name] = bundle_id
            ingest[name] = times
        # The index is built in the background when a bundle's journal is first read.
        started = time.monotonic()
        indexed.page(ids["with index"], "limit=1")
        while indexed.page(ids["with index"], "limit=1")[0] != "index":
            if time.monotonic() - started > 600:
                sys.exit("the journal index was not built within 600 s of the first read")
            time.sleep(0.2)
        print(f"  index built in the background {time.monotonic() - started:.1f} s after the journal's first read")
        # The other uploads' journals too, so the sizes below are per indexed bundle and
        # retention has two indexes to drop.
        for other in every[:-1]:
            while indexed.page(other, "limit=1")[0] != "index":
                if time.monotonic() - started > 1200:
                    sys.exit("the other journal indexes were not built in time")
                time.sleep(0.2)
        size = lambda d: sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs if "sqlite" in f)
        db_with, db_without = size(indexed.dir), size(scanned.dir)

        queries = [("first page", "limit=200"), ("page 150,000 in", "limit=200&offset=150000"),
                   ("unit filter", "unit=NetworkManager.service&limit=200"),
                   ("text search", "q=association%20took%20too%20long&limit=200"),
                   # Beyond the four targets: where the blob scan reads far, or everything.
                   ("unit, 10,000 in", "unit=NetworkManager.service&limit=200&offset=10000"),
                   ("priority <= 3", "priority=3&limit=200"),
                   ("text, no match", "q=no%20such%20text&limit=200"),
                   ("text, 2 letters", "q=zz&limit=200")]
        rows = []
        for label, query in queries:
            src_i, _, body_i = indexed.page(ids["with index"], query)
            src_b, _, body_b = scanned.page(ids["without index"], query)
            if (src_i, src_b) != ("index", "blob"):
                sys.exit(f"{label}: sources {src_i}/{src_b}")
            if body_i != body_b:
                sys.exit(f"{label}: the index and the blob scan answered differently")
            n = len(json.loads(body_i)["entries"])
            ti = [indexed.page(ids["with index"], query)[1] for _ in range(a.runs)]
            tb = [scanned.page(ids["without index"], query)[1] for _ in range(a.blob_runs)]
            rows.append((label, query, n, ti, tb))

        print(f"\njournal pages of a {a.entries}-entry bundle, collector time (Server-Timing) in ms, "
              f"index: {a.runs} runs, blob scan: {a.blob_runs} runs")
        print(f"{'page':<18} {'entries':>7} {'index p50':>10} {'index p95':>10} {'blob p50':>10} {'blob p95':>10}  query")
        for label, query, n, ti, tb in rows:
            print(f"{label:<18} {n:>7} {statistics.median(ti):>10.1f} {pct(ti, 0.95):>10.1f} "
                  f"{statistics.median(tb):>10.1f} {pct(tb, 0.95):>10.1f}  {query}")
        print(f"\ningest of the same bundle, {a.ingests} uploads each (client wall time, upload to receipt)")
        for name, times in ingest.items():
            med = statistics.median(times)
            print(f"  {name:<14} median {med:.2f} s ({1 / med:.2f} bundles/s), each: " + ", ".join(f"{t:.2f}" for t in times))
        print(f"  SQLite files: {db_with / 1e6:.0f} MB with index, {db_without / 1e6:.0f} MB without "
              f"({a.ingests} bundles each, all indexed on the left; the blob is {len(tail) / 1e6:.1f} MB)")
        # What retention pays to drop one bundle's index: the statements of
        # SQLiteStore.purgeJournalIndexes (20,000 rows a transaction) on the stopped collector's
        # file, and the same rows in one transaction for comparison.
        indexed.stop()
        import sqlite3
        db = sqlite3.connect(os.path.join(indexed.dir, "collector.sqlite"), isolation_level=None)
        db.execute("PRAGMA synchronous = FULL")
        rows = [r[0] for r in db.execute("SELECT bundle_row FROM journal_indexes ORDER BY bundle_row LIMIT 2")]

        def drop(row, chunk):
            lo, hi = row << 32, (row << 32) | 0xFFFFFFFF
            times = []
            while True:
                t = time.perf_counter()
                db.execute("BEGIN IMMEDIATE")
                db.execute("DELETE FROM journal_indexes WHERE bundle_row = ?", (row,))
                last = db.execute("SELECT id FROM journal_entries WHERE id BETWEEN ? AND ? ORDER BY id LIMIT 1 OFFSET ?",
                                  (lo, hi, chunk - 1)).fetchone()
                last = last[0] if last else hi
                db.execute("INSERT INTO journal_text (journal_text, rowid, message) SELECT 'delete', id, message FROM journal_entries "
                           "WHERE id BETWEEN ? AND ?", (lo, last))
                n = db.execute("DELETE FROM journal_entries WHERE id BETWEEN ? AND ?", (lo, last)).rowcount
                db.execute("COMMIT")
                times.append(time.perf_counter() - t)
                if n == 0 or last == hi:
                    return times

        chunked = drop(rows[0], 20_000)
        whole = drop(rows[1], 1 << 31)
        print(f"  dropping one bundle's index at expiry: {sum(chunked):.2f} s in {len(chunked)} transactions of 20,000 rows "
              f"(longest {max(chunked):.2f} s); in one transaction: {sum(whole):.2f} s")
        db.close()
    finally:
        indexed.stop()
        scanned.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
