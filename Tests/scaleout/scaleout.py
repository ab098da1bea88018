#!/usr/bin/env python3
"""Scale-out suite: two real collectors on one real PostgreSQL (issue #15).

Scenarios (each on a fresh database, the two collectors sharing one data directory as they
would share a network filesystem):
  1. the same bundle uploaded to both collectors at the same instant, five times: exactly
     one bundle row and one ticket each time, both answers name that ticket, one says
     `duplicate`;
  2. bundles from 20 simulated hosts (two each, so repeats join) spread over both collectors
     by four concurrent uploaders, and the same bundles sent one by one to a single
     collector on SQLite: the same tickets, incidents and findings, compared through the
     REST API and through fleet queries;
  3. a real agent uploading through a round-robin balancer in front of both collectors, the
     collector receiving the upload SIGKILLed in the middle of it: the agent's retry goes
     through the other collector and the bundle is stored exactly once, its blob whole in the
     shared folder; the killed collector restarts on the shared folder and removes nothing.

It reuses the fault suite's helpers (Tests/faults/faults.py: collectors, agents, the slow
proxy, journals) and the load test's simulated workstations (Tests/load/workstation.py).
Needs `psql` and the admin URL of a PostgreSQL server whose role may create databases
(HELPLINE_TEST_POSTGRES_URL; run.sh starts one with scripts/postgres.sh when it is unset).
One line per check, `N passed, M failed` alone on the last line; exit 1 on any failure.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
import types
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "faults"))
sys.path.insert(0, os.path.join(HERE, "..", "load"))
import faults as F  # noqa: E402
import workstation as W  # noqa: E402


# --------------------------------------------------------------------------- PostgreSQL

class Postgres:
    """The test server, through psql: a fresh database per scenario, and plain counts."""

    def __init__(self, admin_url):
        self.admin = admin_url

    def database_url(self, name):
        parts = urllib.parse.urlsplit(self.admin)
        return urllib.parse.urlunsplit(parts._replace(path="/" + name))

    def fresh(self, label):
        name = f"helpline_scaleout_{label}_{uuid.uuid4().hex[:8]}"
        self.sql(self.admin, f"CREATE DATABASE {name}")
        return self.database_url(name)

    def sql(self, url, statement):
        r = F.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, "-c", statement], F.base_env(), 30)
        if r.rc != 0:
            raise RuntimeError(f"psql {statement!r}: {r.brief()}")
        return r.out.strip()

    def count(self, url, table_and_where):
        return int(self.sql(url, f"SELECT count(*) FROM {table_and_where}"))


# --------------------------------------------------------------------------- HTTP

def api(port, method, path, token=None, body=None, content_type="application/json", timeout=60.0):
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = content_type
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
    status, _, text = F.http_call(port, method, path, body=body, headers=headers, timeout=timeout)
    try:
        answer = json.loads(text) if text else None
    except ValueError:
        answer = None
    return status, answer, text


def admin_token(ctx, collector, database):
    r = F.run([os.path.join(ctx.bin_dir, "helpline-collector"), "admin", "token", "create", f"scaleout-{uuid.uuid4().hex[:6]}",
               "--role", "admin", "--data-dir", collector.data] + (["--database", database] if database else []), F.base_env(), 60)
    if r.rc != 0:
        raise RuntimeError(f"admin token create: {r.brief()}")
    return r.out.strip().splitlines()[-1]


def enroll(port, secret, ws):
    status, answer, text = api(port, "POST", "/api/v1/enroll", body={
        "secret": secret, "hostname": ws.hostname, "machineID": ws.machine_id, "agentVersion": W.AGENT_VERSION,
        "enrollmentKey": ws.enrollment_key})
    if status not in (200, 201) or not answer:
        raise RuntimeError(f"enroll {ws.hostname}: {status} {text[:300]}")
    ws.host_id, ws.token = answer["hostID"], answer["hostToken"]


def upload(port, ws, data):
    return api(port, "POST", "/api/v1/bundles", token=ws.token, body=data, content_type="application/gzip")


def start_collectors(ctx, names, database, data):
    """Collectors on one data folder (and `database`, when given); the first start's secret."""
    out = []
    for name in names:
        extra = []
        if database:
            extra += ["--database", database]
        c = F.Collector(ctx.bin_dir, data, ctx.logs, name, extra=extra)
        c.start(deadline=60)
        ctx.collectors.append(c)
        out.append(c)
    secret = next((c.secret for c in out if c.secret), None)
    if not secret:
        raise RuntimeError("no collector printed first-start credentials")
    return out, secret


# --------------------------------------------------------------------------- scenario 1

def scenario_same_bundle_twice(suite, ctx):
    db = ctx.pg.fresh("s1")
    (a, b), secret = start_collectors(ctx, ["s1-a", "s1-b"], db, os.path.join(ctx.work, "s1-data"))
    rng = random.Random(ctx.seed)
    now = time.time()
    pool = W.JournalPool(rng, 3, 300, 900, now)
    problems = []
    for round_ in range(5):
        ws = W.Workstation(round_, rng)
        enroll(a.port if round_ % 2 == 0 else b.port, secret, ws)
        bundle_id, data = ws.bundle(pool.pick(rng), now)
        answers = [None, None]
        barrier = threading.Barrier(2)

        def send(i, port):
            barrier.wait(10)
            answers[i] = upload(port, ws, data)
        threads = [threading.Thread(target=send, args=(0, a.port)), threading.Thread(target=send, args=(1, b.port))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        statuses = [x[0] if x else None for x in answers]
        receipts = [x[1] or {} if x else {} for x in answers]
        rows = ctx.pg.count(db, f"bundles WHERE bundle_id = '{bundle_id}'")
        tickets = ctx.pg.count(db, f"tickets WHERE host_id = '{ws.host_id}'")
        ticket_ids = {r.get("ticketID") for r in receipts}
        duplicates = sorted(bool(r.get("duplicate")) for r in receipts)
        if not (all(s in (200, 201) for s in statuses) and rows == 1 and tickets == 1 and len(ticket_ids) == 1
                and None not in ticket_ids and duplicates == [False, True]):
            problems.append(f"round {round_}: statuses {statuses}, bundle rows {rows}, tickets {tickets}, "
                            f"ticket ids {ticket_ids}, duplicate flags {duplicates}")
    suite.check("the same bundle sent to two collectors at once, five times: one bundle row and one ticket each time, "
                "both answers name it, one says duplicate", not problems, "", problems)
    blobs = sorted(os.listdir(os.path.join(ctx.work, "s1-data", "blobs")))
    suite.check("the shared folder holds one blob folder entry per distinct bundle", 1 <= len(blobs) <= 5, f"{len(blobs)} prefixes")


# --------------------------------------------------------------------------- scenario 2

def fleet_state(ctx, port, token):
    """What technicians see: tickets, incidents and findings, without ids or times (the two
    stores number and time them independently)."""
    status, answer, text = api(port, "GET", "/api/v1/hosts", token=token)
    if status != 200:
        raise RuntimeError(f"GET /api/v1/hosts: {status} {text[:300]}")
    hosts = answer.get("hosts", answer) if isinstance(answer, dict) else answer
    hostname = {h["id"] if "id" in h else h["hostID"]: h["hostname"] for h in hosts}
    status, answer, text = api(port, "GET", "/api/v1/tickets?limit=500", token=token)
    if status != 200:
        raise RuntimeError(f"GET /api/v1/tickets: {status} {text[:300]}")
    tickets = sorted((hostname.get(t["hostID"], "?"), t["title"], t["priority"], t["status"], t.get("topRuleID"), t["bundleCount"])
                     for t in answer["tickets"])
    status, answer, text = api(port, "GET", "/api/v1/incidents", token=token)
    if status != 200:
        raise RuntimeError(f"GET /api/v1/incidents: {status} {text[:300]}")
    incidents = answer.get("incidents", answer) if isinstance(answer, dict) else answer
    # An incident's title is its opening finding's ("… (cups-browsed.service) failed … on 5
    # hosts"), so it names whichever host's bundle crossed the threshold first: with four
    # uploads at a time that differs from the one-by-one SQLite run. Compared: the rule, the
    # status, the counts, and that the title is the rule's, opened at the threshold.
    incidents = sorted((i["ruleID"], f"({i['ruleID']}) on " in i["title"], i["status"], i["hostCount"], len(i.get("ticketIDs", [])))
                       for i in incidents)
    queries = {}
    for name, sql in [
        ("tickets", "SELECT hostname, status, priority, title, top_rule_id, bundle_count FROM tickets ORDER BY 1, 2, 3, 4, 5, 6"),
        ("incidents", "SELECT rule_id, status, host_count, CASE WHEN title LIKE '%(' || rule_id || ') on %' THEN 1 ELSE 0 END AS titled FROM incidents ORDER BY 1, 2"),
        ("findings", "SELECT hostname, rule_id, severity, count(*) AS n FROM findings GROUP BY hostname, rule_id, severity ORDER BY 1, 2, 3"),
        ("hosts", "SELECT hostname, machine_id FROM hosts ORDER BY hostname"),
    ]:
        status, answer, text = api(port, "POST", "/api/v1/query", token=token, body={"sql": sql})
        if status != 200:
            raise RuntimeError(f"fleet query {name}: {status} {text[:300]}")
        queries[name] = answer["rows"]
    return {"tickets": tickets, "incidents": incidents, "queries": queries}


def send_fleet(ctx, ports, secret, concurrent):
    """20 hosts, two bundles each, made from the same seed whatever the store: enrollments one
    by one, then the uploads (four at a time when `concurrent`). Returns failures."""
    rng = random.Random(ctx.seed)
    pool = W.JournalPool(rng, 8, 300, 1500, ctx.fleet_now)
    hosts = [W.Workstation(i, rng) for i in range(20)]
    for i, ws in enumerate(hosts):
        enroll(ports[i % len(ports)], secret, ws)
    work = []
    for i, ws in enumerate(hosts):
        journal = pool.pick(rng)
        for n in range(2):
            _, data = ws.bundle(journal, ctx.fleet_now + n)
            work.append((ws, data, ports[(i + n) % len(ports)]))
    failures = []
    lock = threading.Lock()

    def worker(items):
        for ws, data, port in items:
            status, _, text = upload(port, ws, data)
            if status not in (200, 201):
                with lock:
                    failures.append(f"{ws.hostname}: {status} {text[:200]}")
    if concurrent:
        # A host's two bundles stay in order (the second one joins the first's ticket).
        lanes = [[] for _ in range(4)]
        for k in range(0, len(work), 2):
            lanes[(k // 2) % 4] += work[k:k + 2]
        threads = [threading.Thread(target=worker, args=(lane,)) for lane in lanes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    else:
        worker(work)
    return failures


def scenario_fleet_matches_sqlite(suite, ctx):
    ctx.fleet_now = time.time()
    (single,), secret = start_collectors(ctx, ["s2-sqlite"], None, os.path.join(ctx.work, "s2-sqlite"))
    failures = send_fleet(ctx, [single.port], secret, concurrent=False)
    suite.check("40 bundles from 20 hosts stored by one collector on SQLite", not failures, "", failures)
    expected = fleet_state(ctx, single.port, admin_token(ctx, single, None))
    single.stop()

    db = ctx.pg.fresh("s2")
    (a, b), secret = start_collectors(ctx, ["s2-a", "s2-b"], db, os.path.join(ctx.work, "s2-shared"))
    failures = send_fleet(ctx, [a.port, b.port], secret, concurrent=True)
    suite.check("the same 40 bundles stored by two collectors on PostgreSQL, four uploads at a time", not failures, "", failures)
    token = admin_token(ctx, a, db)
    got_a = fleet_state(ctx, a.port, token)
    got_b = fleet_state(ctx, b.port, token)

    n_tickets, n_incidents = len(expected["tickets"]), len(expected["incidents"])
    joined = sum(1 for t in expected["tickets"] if t[5] >= 2)
    suite.check("the SQLite run is a real comparison: a ticket for every host, repeats joined, at least one incident",
                n_tickets >= 20 and len({t[0] for t in expected["tickets"]}) == 20 and joined >= 1 and n_incidents >= 1,
                f"{n_tickets} tickets, {joined} with a joined repeat, {n_incidents} incidents")
    for what in ("tickets", "incidents"):
        suite.check(f"PostgreSQL's {what} (REST API) are SQLite's", got_a[what] == expected[what], f"{len(got_a[what])} rows",
                    [f"sqlite:     {expected[what]}", f"postgresql: {got_a[what]}"])
    for name in expected["queries"]:
        suite.check(f"fleet query over `{name}` answers the same on PostgreSQL as on SQLite",
                    got_a["queries"][name] == expected["queries"][name], f"{len(expected['queries'][name])} rows",
                    [f"sqlite:     {expected['queries'][name][:8]}", f"postgresql: {got_a['queries'][name][:8]}"])
    suite.check("both collectors answer the same (no state kept in one process)", got_a == got_b)


# --------------------------------------------------------------------------- scenario 3

class BalancingProxy(F.SlowProxy):
    """A round-robin TCP balancer with failover, throttled like the fault suite's proxy, that
    remembers which collector each connection went to."""

    def __init__(self, upstream_ports, rate):
        self.upstreams = list(upstream_ports)
        self.next = 0
        self.pick_lock = threading.Lock()
        super().__init__(upstream_ports[0], rate)

    def _connect_upstream(self, conn):
        with self.pick_lock:
            start = self.next
            self.next = (self.next + 1) % len(self.upstreams)
        last = None
        for k in range(len(self.upstreams)):
            port = self.upstreams[(start + k) % len(self.upstreams)]
            try:
                sock = F.socket.create_connection(("127.0.0.1", port), timeout=5)
                conn.upstream_port = port
                return sock
            except OSError as e:
                last = e
        raise last


def scenario_collector_killed_mid_upload(suite, ctx):
    db = ctx.pg.fresh("s3")
    shared = os.path.join(ctx.work, "s3-shared")
    (a, b), secret = start_collectors(ctx, ["s3-a", "s3-b"], db, shared)
    proxy = BalancingProxy([a.port, b.port], rate=768 * 1024)
    try:
        journal = F.make_journal(os.path.join(ctx.work, "s3-journal"), 40000)
        agent = F.Agent(ctx.bin_dir, ctx.work, "s3-agent", retries=3, journal=journal)
        front = types.SimpleNamespace(url=f"http://127.0.0.1:{proxy.port}", secret=secret)
        r = agent.enroll(front)
        suite.check("the agent enrolls through the balancer", r.rc == 0, r.brief())
        before = proxy.connections
        p = F.CHILDREN.spawn(agent.request_args("scale-out: killed mid-upload", server=front.url), env=agent.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The upload: the first connection after enrollment whose body is large.
        victim, conn, end = None, None, time.monotonic() + 90
        while time.monotonic() < end and victim is None:
            for c in proxy.conns[before:]:
                if (c.content_length or 0) > 256 * 1024 and c.body_forwarded > c.content_length // 3:
                    conn = c
                    victim = a if getattr(c, "upstream_port", None) == a.port else b
                    break
            time.sleep(0.05)
        suite.check("an upload of more than 256 KiB went a third of the way through the balancer", victim is not None,
                    f"{len(proxy.conns) - before} connections")
        if victim is None:
            p.kill()
            return
        survivor = b if victim is a else a
        victim.kill()
        try:
            out, err = p.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate(timeout=5)
        try:
            answer = json.loads(out)
        except ValueError:
            answer = {}
        receipt = answer.get("receipt") or {}
        bundle_id = receipt.get("bundleID")
        suite.check("the agent's retry delivers through the other collector (exit 0, a ticket number)",
                    p.returncode == F.DELIVERED and isinstance(receipt.get("ticketID"), int),
                    f"exit {p.returncode}, ticket {receipt.get('ticketID')}", [err[-600:], out[-600:]])
        later = [c for c in proxy.conns if c is not conn and getattr(c, "upstream_port", None) == survivor.port
                 and (c.content_length or 0) > 256 * 1024]
        suite.check("the retried upload went to the surviving collector", bool(later), f"{len(later)} uploads there")
        rows = ctx.pg.sql(db, "SELECT bundle_id || ' ' || sha256 FROM bundles").splitlines()
        suite.check("the bundle is stored exactly once", len(rows) == 1 and (not bundle_id or rows[0].startswith(bundle_id)), f"{rows}")
        if rows:
            sha = rows[0].split()[1]
            path = os.path.join(shared, "blobs", sha[:2], sha[2:])
            whole = os.path.exists(path) and W.sha256_hex(F.read_bytes(path)) == sha
            suite.check("its blob is whole in the shared folder", whole, path)
            status, _, _ = api(survivor.port, "GET", f"/api/v1/bundles/{rows[0].split()[0]}",
                               token=admin_token(ctx, survivor, db))
            suite.check("the surviving collector serves it", status == 200, f"HTTP {status}")
        blobs_before = sorted(os.listdir(os.path.join(shared, "blobs")))
        victim.start(deadline=60)
        blobs_after = sorted(os.listdir(os.path.join(shared, "blobs")))
        suite.check("the killed collector restarts on the shared folder and removes nothing", victim.alive() and blobs_after == blobs_before,
                    f"{len(blobs_after)} blob folders")
    finally:
        proxy.stop()


# --------------------------------------------------------------------------- main

class Context:
    def __init__(self, bin_dir, work, pg, seed):
        self.bin_dir = bin_dir
        self.work = work
        self.logs = os.path.join(work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.collectors = []
        self.pg = pg
        self.seed = seed
        self.fleet_now = time.time()


SCENARIOS = [("1", scenario_same_bundle_twice), ("2", scenario_fleet_matches_sqlite), ("3", scenario_collector_killed_mid_upload)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", required=True, help="folder with helpline and helpline-collector")
    ap.add_argument("--work", required=True, help="scratch folder (run.sh removes it)")
    ap.add_argument("--postgres", required=True, help="admin URL of the test PostgreSQL server")
    ap.add_argument("--results", help="file to append each check line to")
    ap.add_argument("--only", default=os.environ.get("SCALEOUT_ONLY", ""), help="comma-separated scenario numbers")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SCALEOUT_SEED", "0")) or None)
    args = ap.parse_args()

    seed = args.seed or random.randrange(1, 1 << 30)
    print(f"scale-out suite: seed {seed} (SCALEOUT_SEED={seed} repeats it), work {args.work}", flush=True)
    suite = F.Suite(args.results)
    ctx = Context(os.path.abspath(args.bin_dir), os.path.abspath(args.work), Postgres(args.postgres), seed)

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    try:
        for number, scenario in SCENARIOS:
            if only and number not in only:
                continue
            started = time.monotonic()
            try:
                scenario(suite, ctx)
            except Exception:  # noqa: BLE001 - a broken scenario is a failed check, and the next one runs
                suite.check(f"scenario {number} ran to its end", False, "", traceback.format_exc().splitlines()[-12:])
            finally:
                for c in ctx.collectors:
                    if c.alive():
                        c.stop(5)
                ctx.collectors = []
            print(f"     scenario {number}: {time.monotonic() - started:.1f} s", flush=True)
    finally:
        F.CHILDREN.kill_all()
    print(f"     total {suite.elapsed():.1f} s", flush=True)
    print(f"{suite.passed} passed, {suite.failed} failed", flush=True)
    return 1 if suite.failed else 0


if __name__ == "__main__":
    sys.exit(main())
