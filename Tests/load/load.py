#!/usr/bin/env python3
"""Bounded loopback load test of helpline-collector: N simulated agents at once.

Starts one collector on 127.0.0.1:0 with a temporary data directory, enrolls N hosts, then
runs N simulated agents concurrently for --seconds: each sends heartbeats every few seconds
(jittered) and now and then a real bundle, and honours 429/503 `Retry-After` the way the
agent does (wait, capped and jittered, then send again until a 2xx). Afterwards it checks
the answers and the collector's SQLite file and prints requests by kind and status,
retries, latency percentiles, the collector's CPU and memory and the client's CPU. The
last line is `N passed, M failed`; the exit status is 1 when a check failed.

    HELPLINE_COLLECTOR_BIN=.build/debug/helpline-collector python3 Tests/load/load.py --agents 500 --seconds 30

Only 127.0.0.1 is contacted; every request has a deadline; the collector is stopped (and
killed if need be) whatever happens. Standard library only. See Tests/load/README.md.
"""
import argparse
import asyncio
import collections
import json
import math
import os
import queue
import random
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http1  # noqa: E402
import workstation  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RETRY_AFTER_CAP = 30.0  # seconds, as the agent caps it (Sources/Agent/Delivery/Uploader.swift)


# ---------------------------------------------------------------------------------------------
# The collector process

class Collector:
    """One `helpline-collector serve` child: started, watched, stopped (killed if need be)."""

    def __init__(self, binary, work, extra_args, keep):
        self.binary = binary
        self.work = "" if keep else work
        self.data = os.path.join(work, "data")
        self.stderr_path = os.path.join(work, "collector.stderr")
        self.stdout_lines = queue.Queue()
        self.args = [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data, "--min-free-disk-mb", "1",
                     "--log-level", "error",
                     # Simulated agents send far more often than real ones (15 min between
                     # heartbeats): lift the per-host rates. max_concurrent_uploads stays 8.
                     "--limit", "heartbeats_per_hour=1000000", "--limit", "host_bundles_per_hour=100000",
                     "--limit", "max_uploads_per_host=4"] + extra_args
        self.proc = None
        self.watchdog = None
        self.port = None
        self.secret = None

    def start(self, timeout):
        env = dict(os.environ)
        stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env)
        stderr.close()
        self.watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(os.getpid()), str(self.proc.pid), self.work],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        deadline = time.monotonic() + timeout
        credentials = None
        while self.port is None:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError(f"collector did not print `listening:` within {timeout:.0f} s "
                                   f"(exit status {self.proc.poll()}); stderr: {self.stderr_tail()}")
            try:
                line = self.stdout_lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line.startswith("first-start credentials: "):
                credentials = line.split(": ", 1)[1].strip()
            m = re.match(r"listening: (127\.0\.0\.1):(\d+)$", line.strip())
            if m:
                self.port = int(m.group(2))
        if credentials is None:
            raise RuntimeError("collector printed no `first-start credentials:` line on an empty data directory")
        with open(credentials) as f:
            for line in f:
                if line.startswith("enrollment secret: "):
                    self.secret = line.split(": ", 1)[1].strip()
        if not self.secret:
            raise RuntimeError(f"no `enrollment secret:` line in {credentials}")

    def _read_stdout(self):
        for raw in self.proc.stdout:
            self.stdout_lines.put(raw.decode(errors="replace"))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def proc_status(self):
        """VmHWM, VmRSS (KiB) and thread count from /proc/PID/status."""
        out = {}
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("VmHWM", "VmRSS", "Threads"):
                        out[key] = int(value.split()[0])
        except OSError:
            pass
        return out

    def cpu_seconds(self):
        """User + system CPU seconds of the collector (all its threads) so far."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return float("nan")

    def stop(self, timeout):
        """SIGTERM, then SIGKILL after `timeout` s. Returns (exit status, seconds, killed)."""
        if self.proc is None:
            return None, 0.0, False
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0, False
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
            return self.proc.returncode, time.monotonic() - start, False
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return self.proc.returncode, time.monotonic() - start, True

    def kill(self):
        """Kills the collector if it still runs, then its watchdog."""
        for proc in (self.proc, self.watchdog):
            if proc is not None and proc.poll() is None:
                proc.kill()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass

    def stderr_tail(self, lines=5):
        try:
            with open(self.stderr_path, errors="replace") as f:
                text = f.read().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stderr_lines(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []


# Kills the collector (by its pid) if this script dies without doing it, even by SIGKILL,
# and removes the temporary folder (unless --keep): it polls whether this script is still
# its parent. PR_SET_PDEATHSIG would be simpler, but the kernel of the machine this was
# written on did not deliver it.
WATCHDOG = """
import os, shutil, signal, sys, time
parent, child, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
while os.path.exists(f"/proc/{child}"):
    if os.getppid() != parent:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(1)
        if work:
            shutil.rmtree(work, ignore_errors=True)
        break
    time.sleep(0.5)
"""


# ---------------------------------------------------------------------------------------------
# What happened, request by request

class Record:
    """Everything the clients saw, for the report and the checks."""

    def __init__(self):
        self.status = collections.Counter()         # (kind, status or failure kind) → attempts
        self.codes = collections.Counter()          # (kind, status, error code) for non-2xx
        self.latency = collections.defaultdict(list)     # kind → seconds per answered attempt
        self.connect = collections.defaultdict(list)     # kind → of which opening the connection
        self.delivery = collections.defaultdict(list)    # kind → seconds from first try to 2xx
        self.retries = collections.Counter()        # kind → attempts after the first
        self.retry_wait = collections.Counter()     # kind → seconds spent waiting to retry
        self.no_answer = []                         # (kind, failure kind, detail) — first ones kept
        self.no_answer_count = collections.Counter()
        self.bad_answers = []                       # (kind, status, retry-after, body) — first ones kept
        self.bad_count = collections.Counter()
        self.bad5 = 0                               # 5xx answers other than 503 with Retry-After
        self.undelivered = collections.Counter()    # kind → actions that never got a 2xx
        self.early = collections.Counter()          # (kind, status) answered before the body was sent
        self.in_flight = 0
        self.peak_in_flight = 0
        self.retry_after_values = collections.Counter()  # Retry-After header → answers
        self.loop_lag = []                          # seconds the client's event loop woke up late
        self.bundles_sent = {}                      # bundle id → (host id, sha256, bytes)
        self.receipts = {}                          # bundle id → (status, receipt JSON, earlier attempt unanswered)
        self.heartbeats = collections.defaultdict(list)  # host id → sentAt of each accepted heartbeat

    def answered(self, kind, answer):
        self.status[(kind, answer.status)] += 1
        self.latency[kind].append(answer.seconds)
        self.latency[f"{kind} {answer.status}"].append(answer.seconds)
        self.connect[kind].append(answer.connect_seconds)
        if answer.status in (429, 503):
            self.retry_after_values[answer.header("retry-after")] += 1
        if answer.early:
            self.early[(kind, answer.status)] += 1
        if not 200 <= answer.status < 300:
            code = _error_code(answer.body)
            self.codes[(kind, answer.status, code)] += 1
            overloaded = answer.status in (429, 503) and _retry_after(answer) is not None
            if not overloaded:
                self.bad_count[kind] += 1
                self.bad5 += answer.status >= 500
                if len(self.bad_answers) < 20:
                    self.bad_answers.append((kind, answer.status, answer.header("retry-after"), answer.body[:300]))

    def failed(self, kind, failure):
        self.status[(kind, failure.kind)] += 1
        self.no_answer_count[kind] += 1
        if len(self.no_answer) < 20:
            self.no_answer.append((kind, failure.kind, failure.detail))


def _error_code(body):
    try:
        return json.loads(body)["error"]["code"]
    except Exception:
        return "-"


def _retry_after(answer):
    value = answer.header("retry-after")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


# ---------------------------------------------------------------------------------------------
# Simulated agents

class Run:
    """The shared state of one load run."""

    def __init__(self, args, port, secret, record, rng):
        self.args = args
        self.port = port
        self.secret = secret
        self.record = record
        self.rng = rng
        self.send_end = None
        self.hard_end = None

    async def deliver(self, kind, path, body, content_type, token=None):
        """Sends until a 2xx (Retry-After honoured, capped and jittered), like the agent's client.

        Returns (answer, an earlier attempt got no answer) or (None, …) when it never got a 2xx.
        """
        rec = self.record
        headers = {"Content-Type": content_type}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        first = time.monotonic()
        attempt = 0
        unanswered_before = False
        while True:
            left = self.hard_end - time.monotonic()
            if left <= 0:
                rec.undelivered[kind] += 1
                return None, unanswered_before
            if attempt:
                rec.retries[kind] += 1
            attempt += 1
            rec.in_flight += 1
            rec.peak_in_flight = max(rec.peak_in_flight, rec.in_flight)
            try:
                answer = await http1.request(self.port, "POST", path, headers, body, min(self.args.request_timeout, left))
            except http1.NoAnswer as failure:
                if failure.kind == "timeout" and time.monotonic() >= self.hard_end - 0.5:
                    failure = http1.NoAnswer("cut", f"still unanswered when the run ended ({failure.detail})")
                rec.failed(kind, failure)
                unanswered_before = True
                # The agent retries a connection failure with exponential backoff and jitter.
                wait = 0.25 * (1 << min(attempt, 6)) + self.rng.uniform(0, 0.25)
            except asyncio.CancelledError:
                rec.failed(kind, http1.NoAnswer("cut", "still unanswered when the run ended"))
                raise
            else:
                rec.answered(kind, answer)
                if 200 <= answer.status < 300:
                    rec.delivery[kind].append(time.monotonic() - first)
                    return answer, unanswered_before
                retry_after = _retry_after(answer)
                if answer.status in (429, 503) and retry_after is not None:
                    wait = min(retry_after, RETRY_AFTER_CAP) + self.rng.uniform(0, 1.0)
                elif answer.status >= 500 or answer.status == 429:
                    wait = 0.25 * (1 << min(attempt, 6)) + self.rng.uniform(0, 0.25)
                else:
                    rec.undelivered[kind] += 1  # a refusal: the agent does not send it again
                    return None, unanswered_before
            finally:
                rec.in_flight -= 1
            if time.monotonic() + wait >= self.hard_end:
                rec.undelivered[kind] += 1
                return None, unanswered_before
            rec.retry_wait[kind] += wait
            await asyncio.sleep(wait)

    async def enroll(self, ws, gate):
        async with gate:
            body = json.dumps({"secret": self.secret, "hostname": ws.hostname, "machineID": ws.machine_id,
                               "enrollmentKey": ws.enrollment_key, "agentVersion": workstation.AGENT_VERSION}).encode()
            answer, _ = await self.deliver("enroll", "/api/v1/enroll", body, "application/json")
            if answer is None or answer.status != 201:
                return False
            reply = json.loads(answer.body)
            ws.host_id, ws.token = reply["hostID"], reply["hostToken"]
            return True

    async def heartbeats(self, ws, rng):
        interval = self.args.heartbeat_interval
        await asyncio.sleep(rng.uniform(0, interval))
        last = 0
        while time.monotonic() < self.send_end:
            # sentAt in whole seconds (BundleJSON), one second apart at least so that each
            # heartbeat of a host is told apart in the collector's history.
            sent_at = max(int(time.time()), last + 1)
            last = sent_at
            answer, _ = await self.deliver("heartbeat", "/api/v1/heartbeats", ws.heartbeat(sent_at), "application/json", ws.token)
            if answer is not None:
                self.record.heartbeats[ws.host_id].append(workstation.iso(sent_at))
            pause = interval * rng.uniform(0.5, 1.5)
            if time.monotonic() + pause >= self.send_end:
                return
            await asyncio.sleep(pause)

    async def bundles(self, ws, rng, pool):
        """Bundles the user asks for (or a timer collects), as a Poisson process."""
        per_agent = self.args.bundles_per_second / self.args.agents
        if per_agent <= 0:
            return
        while True:
            pause = rng.expovariate(per_agent)
            if time.monotonic() + pause >= self.send_end:
                return
            await asyncio.sleep(pause)
            await self.send_bundle(ws, rng, pool, "user_request" if rng.random() < 0.8 else "scheduled")

    async def bursts(self, agents, rng, pool):
        """Every --burst-every seconds, --burst-size agents send a bundle at the same moment, as
        when a technician asks a group of hosts for one: more uploads than upload slots, so
        429 `too_many_uploads` with Retry-After happens whatever the machine's load."""
        every, size = self.args.burst_every, min(self.args.burst_size, len(agents))
        if every <= 0 or size <= 0:
            return
        at = self.send_end - self.args.seconds + every / 2
        sends = []
        while at < self.send_end:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            for ws in rng.sample(agents, size):
                sends.append(asyncio.create_task(self.send_bundle(ws, random.Random(rng.getrandbits(64)), pool, "technician_request")))
            at += every
        await asyncio.gather(*sends)

    async def send_bundle(self, ws, rng, pool, reason):
        bundle_id, data = ws.bundle(pool.pick(rng), time.time(), reason)
        self.record.bundles_sent[bundle_id] = (ws.host_id, workstation.sha256_hex(data), len(data))
        answer, unanswered_before = await self.deliver("bundle", "/api/v1/bundles", data, "application/gzip", ws.token)
        if answer is not None:
            self.record.receipts[bundle_id] = (answer.status, answer.body, unanswered_before)


# ---------------------------------------------------------------------------------------------
# Reading the collector's database afterwards

def read_store(data_dir):
    """Bundles, ticket links and heartbeats as stored, through a read-only connection."""
    path = os.path.join(data_dir, "collector.sqlite")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        bundles = db.execute("""
            SELECT b.bundle_id, b.host_id, b.sha256, b.compressed_bytes, b.expired,
                   (SELECT group_concat(tb.ticket_id) FROM ticket_bundles tb WHERE tb.bundle_row = b.id)
            FROM bundles b""").fetchall()
        history = db.execute("SELECT host_id, sent_at FROM health_history ORDER BY id").fetchall()
        latest = db.execute("SELECT host_id, body FROM heartbeats_latest").fetchall()
        tickets = db.execute("SELECT count(*) FROM tickets").fetchone()[0]
        incidents = db.execute("SELECT count(*) FROM incidents").fetchone()[0]
        hosts = db.execute("SELECT count(*) FROM hosts").fetchone()[0]
    finally:
        db.close()
    return {"bundles": bundles, "history": history, "latest": latest, "tickets": tickets, "incidents": incidents, "hosts": hosts}


def metrics_text(port):
    """`GET /metrics`, or None."""
    async def get():
        return await http1.request(port, "GET", "/metrics", {}, None, 10)
    try:
        answer = asyncio.run(get())
        return answer.body.decode(errors="replace") if answer.status == 200 else None
    except Exception:
        return None


def healthz(port):
    async def get():
        return await http1.request(port, "GET", "/healthz", {}, None, 10)
    try:
        return asyncio.run(get()).status
    except Exception as e:
        return f"no answer ({e})"


def metric(text, name):
    if not text:
        return None
    total = None
    for line in text.splitlines():
        if line.startswith(name) and (len(line) == len(name) or line[len(name)] in " {"):
            try:
                total = (total or 0) + float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return total


# ---------------------------------------------------------------------------------------------
# Report helpers

def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def mib(kib):
    return f"{kib / 1024:.1f} MiB" if kib is not None else "?"


class Checks:
    def __init__(self):
        self.results = []

    def add(self, ok, name, detail=""):
        self.results.append((bool(ok), name, detail))

    def print(self):
        print("checks:")
        for ok, name, detail in self.results:
            print(f"  {'ok  ' if ok else 'FAIL'} {name}" + (f" — {detail}" if detail else ""))
        passed = sum(1 for r in self.results if r[0])
        failed = len(self.results) - passed
        print(f"{passed} passed, {failed} failed")
        return failed


# ---------------------------------------------------------------------------------------------

async def drive(args, collector, record, rng, agents, pool, progress):
    """Enrolls every agent, then runs them all until the send phase ends and retries drain."""
    run = Run(args, collector.port, collector.secret, record, rng)
    run.send_end = time.monotonic() + 3600
    run.hard_end = min(time.monotonic() + args.enroll_timeout, progress["deadline"] - args.seconds - 12)
    gate = asyncio.Semaphore(args.enroll_concurrency)
    start = time.monotonic()
    enrolled = await asyncio.gather(*(run.enroll(ws, gate) for ws in agents))
    progress["enroll_seconds"] = time.monotonic() - start
    progress["enrolled"] = sum(enrolled)
    print(f"enrolled {sum(enrolled)} of {len(agents)} hosts in {progress['enroll_seconds']:.1f} s", flush=True)
    if not all(enrolled):
        return False
    progress["after_enroll"] = (collector.proc_status(), collector.cpu_seconds(), _self_cpu())

    run.send_end = time.monotonic() + args.seconds
    run.hard_end = min(run.send_end + args.drain, progress["deadline"] - 12)
    progress["start"] = time.monotonic()
    tasks = []
    for ws in agents:
        agent_rng = random.Random(rng.getrandbits(64))
        tasks.append(asyncio.create_task(run.heartbeats(ws, agent_rng)))
        tasks.append(asyncio.create_task(run.bundles(ws, random.Random(rng.getrandbits(64)), pool)))
    tasks.append(asyncio.create_task(run.bursts(agents, random.Random(rng.getrandbits(64)), pool)))
    sampler = asyncio.create_task(sample(args, collector, record, progress))
    lag = asyncio.create_task(loop_lag(record))
    done, pending = await asyncio.wait(tasks, timeout=max(1.0, run.hard_end - time.monotonic() + 2))
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
    progress["cancelled"] = len(pending)
    progress["end"] = time.monotonic()
    progress["send_end"] = run.send_end
    sampler.cancel()
    lag.cancel()
    for t in done:
        if t.exception() is not None:
            progress.setdefault("errors", []).append(repr(t.exception()))
    return True


async def sample(args, collector, record, progress):
    """Every second: the collector's RSS; every --report-every seconds: one progress line."""
    every = args.report_every or max(5, round(args.seconds / 6))
    start = progress["start"]
    next_line = start + every
    last = (0, 0, 0)
    while True:
        await asyncio.sleep(1)
        status = collector.proc_status()
        progress.setdefault("rss", []).append((time.monotonic() - start, status.get("VmRSS")))
        if time.monotonic() >= next_line:
            next_line += every
            hb = sum(v for (k, s), v in record.status.items() if k == "heartbeat" and isinstance(s, int) and 200 <= s < 300)
            bu = sum(v for (k, s), v in record.status.items() if k == "bundle" and isinstance(s, int) and 200 <= s < 300)
            busy = sum(v for (k, s), v in record.status.items() if s in (429, 503))
            el = time.monotonic() - start
            print(f"  t={el:5.0f}s  heartbeats {hb:6d} (+{(hb - last[0]) / every:5.1f}/s)  bundles {bu:5d} (+{(bu - last[1]) / every:4.1f}/s)"
                  f"  429/503 {busy:4d}  in flight {record.in_flight:3d}  collector RSS {mib(status.get('VmRSS'))}"
                  f"  CPU {collector.cpu_seconds():6.1f} s", flush=True)
            last = (hb, bu, busy)


async def loop_lag(record):
    """How late this client's event loop wakes up: if it lags, latencies are the client's."""
    while True:
        start = time.monotonic()
        await asyncio.sleep(0.05)
        record.loop_lag.append(time.monotonic() - start - 0.05)


def _self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("HELPLINE_COLLECTOR_BIN", os.path.join(REPO, ".build/debug/helpline-collector")),
                    help="the collector binary (default $HELPLINE_COLLECTOR_BIN, else .build/debug/helpline-collector)")
    ap.add_argument("--agents", type=int, default=500, help="simulated agents, each its own enrolled host (default 500)")
    ap.add_argument("--seconds", type=float, default=30, help="how long the agents send (default 30; the long run is 300)")
    ap.add_argument("--heartbeat-interval", type=float, default=4.0,
                    help="mean seconds between one agent's heartbeats, jittered ±50%% (default 4; the real daemon: 15 min)")
    ap.add_argument("--bundles-per-second", type=float, default=5.0,
                    help="bundles per second over the whole fleet, each agent a Poisson process (default 5)")
    ap.add_argument("--burst-every", type=float, default=10,
                    help="seconds between bursts of bundles sent at the same moment (default 10; 0: none)")
    ap.add_argument("--burst-size", type=int, default=24,
                    help="agents sending a bundle in each burst (default 24, three times max_concurrent_uploads)")
    ap.add_argument("--journal-lines", default="3000-9000", metavar="MIN-MAX",
                    help="journal.jsonl lines per bundle, over the pool's variants (default 3000-9000)")
    ap.add_argument("--journal-variants", type=int, default=8, help="pre-compressed journals bundles draw from (default 8)")
    ap.add_argument("--drain", type=float, default=40, help="seconds after the send phase for retries to finish (default 40)")
    ap.add_argument("--request-timeout", type=float, default=60, help="deadline of one request (default 60 s)")
    ap.add_argument("--enroll-timeout", type=float, default=30, help="deadline for enrolling every agent (default 30 s)")
    ap.add_argument("--budget", type=float, default=0,
                    help="hard limit on the whole run in seconds, setup and checks included (default --seconds + 80); "
                         "retries still pending 12 s before it count as never accepted")
    ap.add_argument("--enroll-concurrency", type=int, default=16, help="enrollments in flight at once (default 16)")
    ap.add_argument("--report-every", type=float, default=0, help="seconds between progress lines (default: the run / 6, at least 5)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock; printed)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directory and print its path")
    ap.add_argument("--collector-arg", action="append", default=[], metavar="ARG",
                    help="extra `serve` argument (repeatable), e.g. --collector-arg=--limit --collector-arg=retry_after_seconds=2")
    args = ap.parse_args()
    lo, _, hi = args.journal_lines.partition("-")
    journal_min, journal_max = int(lo), int(hi or lo)
    if args.agents < 1 or args.seconds <= 0 or journal_min < 1 or journal_max < journal_min:
        ap.error("--agents ≥ 1, --seconds > 0 and --journal-lines MIN-MAX with 1 ≤ MIN ≤ MAX")
    if not os.access(args.bin, os.X_OK):
        checks = Checks()
        checks.add(False, "collector binary present", f"nothing executable at {args.bin} (set HELPLINE_COLLECTOR_BIN or pass --bin)")
        checks.print()
        sys.exit(1)

    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="helpline-load-")
    collector = Collector(args.bin, work, args.collector_arg, args.keep)
    record = Record()
    checks = Checks()
    progress = {"deadline": time.monotonic() + (args.budget or args.seconds + 80)}

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    stop = None
    try:
        t0 = time.monotonic()
        cpu0 = _self_cpu()
        pool = workstation.JournalPool(rng, args.journal_variants, journal_min, journal_max, time.time())
        agents = [workstation.Workstation(i, random.Random(rng.getrandbits(64))) for i in range(args.agents)]
        setup_cpu = _self_cpu() - cpu0
        sizes = sorted(len(agents[0].bundle(v, time.time())[1]) for v in pool.variants)
        collector.start(timeout=30)
        started = time.monotonic() - t0
        print(f"collector {args.bin} pid {collector.proc.pid} 127.0.0.1:{collector.port}, data {collector.data}")
        print(f"machine: {os.cpu_count()} cores shared by collector and clients, load average {os.getloadavg()[0]:.1f}; seed {seed}")
        print(f"fleet: {args.agents} agents, heartbeat every {args.heartbeat_interval:g} s ±50 %, {args.bundles_per_second:g} bundles/s "
              f"over the fleet + {args.burst_size} at once every {args.burst_every:g} s, {args.seconds:g} s sending "
              f"+ up to {args.drain:g} s for retries")
        print(f"bundles: {len(pool.variants)} journals of {journal_min}–{journal_max} lines (faults: "
              f"{', '.join('+'.join(v.faults) or 'none' for v in pool.variants)}), {sizes[0] // 1024}–{sizes[-1] // 1024} KiB compressed; "
              f"client setup {setup_cpu:.1f} s CPU; collector up after {started:.1f} s")

        ok = asyncio.run(drive(args, collector, record, rng, agents, pool, progress))
        enrolled = progress.get("enrolled", 0)
        checks.add(ok and enrolled == args.agents, "collector started and every agent enrolled (201)",
                   f"{enrolled}/{args.agents} in {progress.get('enroll_seconds', 0):.1f} s")
        if ok:
            drained = progress["end"] - progress["send_end"]
            print(f"ran {progress['send_end'] - progress['start']:.0f} s sending, last retry done {max(drained, 0):.1f} s later"
                  + (f"; {progress['cancelled']} agents cut at the end" if progress.get("cancelled") else ""))
        for e in progress.get("errors", []):
            print(f"client error: {e}")

        # The collector, measured before it is asked to stop.
        status = collector.proc_status()
        cpu_end = collector.cpu_seconds()
        alive = collector.alive()
        health = healthz(collector.port) if alive else "process gone"
        metrics = metrics_text(collector.port) if alive else None
        client_cpu = _self_cpu() - cpu0
        stop = collector.stop(timeout=10)
        store = None
        store_error = None
        try:
            store = read_store(collector.data)
        except Exception as e:  # reported as failed checks below
            store_error = f"{type(e).__name__}: {e}"

        report(args, record, progress, status, cpu_end, metrics, store, client_cpu, setup_cpu, collector)
        evaluate(checks, record, store, store_error, alive, health, stop, progress)
    except KeyboardInterrupt as e:
        checks.add(False, "run finished", f"interrupted ({e})")
    except Exception as e:
        checks.add(False, "run finished", f"{type(e).__name__}: {e}")
    finally:
        collector.kill()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = checks.print()
    sys.exit(1 if failed else 0)


def report(args, record, progress, status, cpu_end, metrics, store, client_cpu, setup_cpu, collector):
    kinds = ["enroll", "heartbeat", "bundle"]
    print("requests (every attempt) by kind and answer:")
    for kind in kinds:
        row = sorted(((s, n) for (k, s), n in record.status.items() if k == kind), key=lambda x: str(x[0]))
        total = sum(n for _, n in row)
        print(f"  {kind:10} {total:6d}: " + ", ".join(f"{s}: {n}" for s, n in row))
    codes = sorted(record.codes.items(), key=lambda x: (x[0][0], x[0][1], x[0][2]))
    if codes:
        print("  refusals: " + ", ".join(f"{k} {s} {c}: {n}" for (k, s, c), n in codes))
    if record.early:
        print("  answered before the whole body was sent: " + ", ".join(f"{k} {s}: {n}" for (k, s), n in sorted(record.early.items())))
    print("retries: " + ", ".join(f"{k} {record.retries[k]} (waited {record.retry_wait[k]:.0f} s in total)" for k in kinds))
    print(f"Retry-After values: {dict(record.retry_after_values)}; most requests in flight at once: {record.peak_in_flight}")
    print("latency of one attempt, seconds (p50 / p95 / p99 / max, n):")
    rows = []
    for kind in kinds:
        statuses = sorted(k for k in record.latency if k.startswith(kind + " "))
        rows += [kind] + (statuses if len(statuses) > 1 else [])
    for kind in rows:
        v = record.latency[kind]
        if v:
            print(f"  {kind:10} {percentile(v, 50):7.3f} {percentile(v, 95):7.3f} {percentile(v, 99):7.3f} {max(v):7.3f}  n={len(v)}")
    print("of which opening the TCP connection, seconds (p50 / p95 / p99 / max):")
    for kind in kinds:
        v = record.connect[kind]
        if v:
            print(f"  {kind:10} {percentile(v, 50):7.3f} {percentile(v, 95):7.3f} {percentile(v, 99):7.3f} {max(v):7.3f}")
    print("time to a 2xx including Retry-After waits, seconds (p50 / p95 / p99 / max, n):")
    for kind in ("heartbeat", "bundle"):
        v = record.delivery[kind]
        if v:
            print(f"  {kind:10} {percentile(v, 50):7.3f} {percentile(v, 95):7.3f} {percentile(v, 99):7.3f} {max(v):7.3f}  n={len(v)}")
    sent = record.bundles_sent.values()
    if sent:
        sizes = sorted(s for _, _, s in sent)
        print(f"bundles sent: {len(sizes)} distinct, {sum(sizes) / 1e6:.1f} MB, {sizes[0] // 1024}/{sizes[len(sizes) // 2] // 1024}/"
              f"{sizes[-1] // 1024} KiB min/median/max")
    hb = sum(len(v) for v in record.heartbeats.values())
    run_seconds = max(progress.get("end", 0) - progress.get("start", 0), 1e-9) if "start" in progress else None
    if run_seconds:
        print(f"accepted: {hb} heartbeats ({hb / args.seconds:.0f}/s over the send phase) from {len(record.heartbeats)} hosts, "
              f"{len(record.receipts)} bundles ({len(record.receipts) / args.seconds:.1f}/s)")
    after = progress.get("after_enroll")
    rss_after = after[0].get("VmRSS") if after else None
    cpu_run = cpu_end - after[1] if after else float("nan")
    print(f"collector: CPU {cpu_end:.1f} s in all, {cpu_run:.1f} s during the run ({cpu_run / max(run_seconds or 1, 1e-9):.2f} cores); "
          f"peak RSS (VmHWM) {mib(status.get('VmHWM'))}, RSS at the end {mib(status.get('VmRSS'))}, "
          f"after enrollment {mib(rss_after)}; {status.get('Threads', '?')} threads")
    rss = [r for _, r in progress.get("rss", []) if r]
    if rss:
        step = max(1, len(rss) // 10)
        print("collector RSS over the run (MiB, every ~{} s): ".format(step) + " ".join(f"{r / 1024:.0f}" for r in rss[::step]))
    client_run = client_cpu - (after[2] if after else 0)
    if record.loop_lag:
        v = record.loop_lag
        print(f"client event loop lag (a 50 ms timer woke late by), seconds: p50 {percentile(v, 50):.3f}, p99 {percentile(v, 99):.3f}, "
              f"max {max(v):.3f}")
    print(f"client (this process, one asyncio loop): CPU {client_cpu:.1f} s in all, {setup_cpu:.1f} s building the fleet and journals, "
          f"{client_run:.1f} s during the run")
    if metrics:
        names = ["helpline_bundles_accepted_total", "helpline_bundles_duplicate_total", "helpline_heartbeats_accepted_total",
                 "helpline_bundles_rejected_total", "helpline_host_limited_total", "helpline_connection_timeouts_total",
                 "helpline_connections_refused_total", "helpline_open_connections", "helpline_uploads_in_flight"]
        print("collector metrics: " + ", ".join(f"{n.removeprefix('helpline_')} {metric(metrics, n):g}" for n in names
                                                if metric(metrics, n) is not None))
    if store:
        print(f"store: {len(store['bundles'])} bundles, {len(store['history'])} heartbeat history rows, {len(store['latest'])} latest, "
              f"{store['tickets']} tickets, {store['incidents']} incidents, {store['hosts']} hosts")
    for kind, failure, detail in record.no_answer[:10]:
        print(f"no answer: {kind}: {failure}: {detail}")
    for kind, st, ra, body in record.bad_answers[:10]:
        print(f"unexpected answer: {kind}: {st} Retry-After {ra!r}: {body.decode(errors='replace')}")
    err = collector.stderr_lines()
    if err:
        print(f"collector stderr: {len(err)} lines; first ones:")
        for line in err[:8]:
            print(f"  {line[:300]}")


def evaluate(checks, record, store, store_error, alive, health, stop, progress):
    attempts = sum(record.status.values())
    failures = sum(record.no_answer_count.values())
    by_kind = collections.Counter()
    for (k, s), n in record.status.items():
        if not isinstance(s, int):
            by_kind[s] += n
    checks.add(failures == 0, "every request got an answer (no reset, refusal or timeout)",
               f"{attempts} attempts, {failures} without an answer" + (f" ({dict(by_kind)})" if by_kind else ""))
    bad = sum(record.bad_count.values())
    checks.add(bad == 0, "every answer is 2xx, or 429/503 with Retry-After", f"{bad} other answers")
    fives = sum(n for (k, s), n in record.status.items() if isinstance(s, int) and s >= 500)
    checks.add(record.bad5 == 0, "no 5xx other than 503 with Retry-After",
               f"{fives} 5xx answers, {record.bad5} of them not 503 with Retry-After")
    limited = sum(n for (k, st, c), n in record.codes.items() if k == "bundle" and st == 429 and c == "too_many_uploads")
    checks.add(limited > 0 and record.retry_after_values and None not in record.retry_after_values,
               "the upload limit was reached (429 too_many_uploads with Retry-After), so the agents' retry path ran",
               f"{limited} such answers, Retry-After values {dict(record.retry_after_values)}")
    und = dict(record.undelivered)
    sent = len(record.bundles_sent)
    checks.add(not und and not progress.get("cancelled") and len(record.receipts) == sent,
               "every heartbeat and bundle was eventually accepted (2xx) before the run ended",
               f"{sent} bundles sent, {len(record.receipts)} receipts" + (f"; never accepted: {und}" if und else "")
               + (f"; {progress['cancelled']} agents cut" if progress.get("cancelled") else ""))

    if store is None:
        checks.add(False, "every receipt's bundle is in collector.sqlite exactly once", f"database not readable: {store_error}")
        checks.add(False, "stored bundles = distinct bundles sent", "database not readable")
        checks.add(False, "heartbeats accepted = heartbeats stored", "database not readable")
    else:
        rows = collections.defaultdict(list)
        for bundle_id, host_id, sha, size, expired, tickets in store["bundles"]:
            rows[bundle_id].append((host_id, sha, size, tickets))
        problems = []
        for bundle_id, (status, body, unanswered_before) in record.receipts.items():
            host_id, sha, size = record.bundles_sent[bundle_id]
            try:
                receipt = json.loads(body)
            except ValueError:
                problems.append(f"{bundle_id}: receipt is not JSON")
                continue
            if receipt.get("bundleID") != bundle_id:
                problems.append(f"{bundle_id}: receipt names {receipt.get('bundleID')}")
            if status != 201 or receipt.get("duplicate"):
                if not (unanswered_before and status == 200 and receipt.get("duplicate")):
                    problems.append(f"{bundle_id}: first delivery answered {status} duplicate={receipt.get('duplicate')}")
            found = rows.get(bundle_id, [])
            if len(found) != 1:
                problems.append(f"{bundle_id}: {len(found)} rows")
                continue
            r_host, r_sha, r_size, r_tickets = found[0]
            if r_host != host_id:
                problems.append(f"{bundle_id}: stored for host {r_host}, sent by {host_id}")
            if r_sha != sha or r_size != size:
                problems.append(f"{bundle_id}: stored sha256/size {r_sha[:12]}…/{r_size}, sent {sha[:12]}…/{size}")
            if str(receipt.get("ticketID")) not in (r_tickets or "").split(","):
                problems.append(f"{bundle_id}: receipt ticket {receipt.get('ticketID')} does not hold it (tickets {r_tickets})")
        checks.add(not problems, "every receipt's bundle is in collector.sqlite exactly once (host, sha256, size, ticket as answered)",
                   f"{len(record.receipts)} receipts checked" + (f"; {len(problems)} problems, e.g. {problems[:3]}" if problems else ""))
        stored_ids = set(rows)
        extra = stored_ids - set(record.bundles_sent)
        checks.add(len(store["bundles"]) == sent and not extra, "stored bundles = distinct bundles sent",
                   f"{len(store['bundles'])} rows, {sent} sent" + (f", {len(extra)} unknown ids" if extra else ""))

        # The typed history keeps every heartbeat of the last day (GRDB stores "YYYY-MM-DD HH:MM:SS.SSS").
        stored = collections.defaultdict(list)
        for host_id, sent_at in store["history"]:
            stored[host_id].append(sent_at[:19].replace(" ", "T") + "Z" if sent_at else None)
        latest = {host_id: json.loads(body).get("sentAt") for host_id, body in store["latest"]}
        hb_problems = []
        for host_id in set(stored) | set(record.heartbeats):
            accepted = record.heartbeats.get(host_id, [])
            if sorted(stored.get(host_id, []), key=str) != sorted(accepted):
                hb_problems.append(f"host {host_id[:8]}: {len(accepted)} accepted, {len(stored.get(host_id, []))} in history")
            if accepted and latest.get(host_id) != max(accepted):
                hb_problems.append(f"host {host_id[:8]}: latest {latest.get(host_id)}, last accepted {max(accepted)}")
        total = sum(len(v) for v in record.heartbeats.values())
        checks.add(not hb_problems, "heartbeats accepted = heartbeats stored (typed history by sentAt per host; latest = last accepted)",
                   f"{total} accepted, {len(store['history'])} history rows"
                   + (f"; {len(hb_problems)} hosts differ, e.g. {hb_problems[:3]}" if hb_problems else ""))

    checks.add(alive and health == 200, "collector alive at the end (process running, /healthz 200)",
               f"process {'running' if alive else 'gone'}, /healthz {health}")
    code, seconds, killed = stop if stop else (None, 0, False)
    checks.add(code == 0 and not killed, "collector stops on SIGTERM with exit status 0 within 10 s",
               f"exit status {code} after {seconds:.1f} s" + (" (killed)" if killed else ""))


if __name__ == "__main__":
    main()
