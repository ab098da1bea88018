#!/usr/bin/env python3
"""Hostile-input suite for helpline-collector, through its real HTTP endpoints.

Starts one collector (temp data dir, random loopback port, short timeouts and small bundle
limits), enrolls hosts A and B (plus C for heartbeat bursts, D and E for the per-host
quotas), then runs named cases. Every case asserts the exact
status and JSON error code the collector documents, and afterwards the harness checks that
the process is alive, /healthz answers 200, no bundle/ticket/host/heartbeat row appeared
that the case did not expect, <data>/tmp/ is empty and the blob count is as expected.
Ends with the collector's peak RSS (VmHWM) against a bound and `N passed, M failed` alone
on the last line; exits 1 on any failure. Standard library only.

Usage: python3 Tests/hostile/hostile.py --bin PATH [--work DIR] [--only REGEX] [--rss-mib N]
(Tests/hostile/run.sh is the usual entry point.)
"""

import argparse
import ctypes
import gzip
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

# ---------------------------------------------------------------------------------------
# Settings

MiB = 1 << 20
RUN_DEADLINE_SECONDS = 170          # the whole run; the watchdog kills everything past it
RSS_BOUND_MIB = 400

# Limits passed as --limit NAME=VALUE. Small bundle limits make bombs quick; short timeouts
# make the slow-client cases quick. Names the binary does not know are left out (and the
# cases that need them then fail, which is the point).
LIMITS = {
    "max_bundle_bytes": 4 * MiB,
    "max_uncompressed_bytes": 24 * MiB,
    "max_compression_ratio": 100,
    "max_members": 32,
    "max_member_bytes": 16 * MiB,
    "max_json_member_bytes": 1 * MiB,
    "max_journal_line_bytes": 1 * MiB,
    "max_json_body_bytes": 1 * MiB,
    "max_concurrent_uploads": 8,
    "retry_after_seconds": 5,
    # added with the connection/fairness work
    "header_timeout_seconds": 2,
    "idle_timeout_seconds": 3,
    "body_idle_timeout_seconds": 2,
    "min_body_bytes_per_second": 2048,
    "body_rate_grace_seconds": 2,
    "max_connections": 24,
    "max_uploads_per_host": 2,
    "heartbeats_per_hour": 20,
    # Per-host quotas count *stored* bundles: host A stores 3 in this suite (fixture, NUL
    # note, million lines), B 2; D and E exist to hit these two limits.
    "host_bundles_per_hour": 6,
    "host_max_stored_mb": 8,
    "max_concurrent_reads": 2,
    "read_time_budget_seconds": 3,
}

# ---------------------------------------------------------------------------------------
# Collector process


class Collector:
    """One helpline-collector process on a temp data dir; restartable on the same data."""

    def __init__(self, binary, work):
        self.binary = binary
        self.work = work
        self.data = os.path.join(work, "data")
        self.proc = None
        self.port = None
        self.secret = None
        self.limits = {}
        self.unsupported = []
        self.err_path = os.path.join(work, "collector.err")
        self.starts = 0
        self.peak_rss_kib = 0

    def supported_limits(self):
        """Limit names this binary knows: a bogus --limit makes `serve` list them."""
        try:
            out = subprocess.run([self.binary, "serve", "--limit", "hostile_probe_name=1",
                                  "--data-dir", os.path.join(self.work, "probe")],
                                 capture_output=True, text=True, timeout=20, cwd=self.work)
            text = out.stdout + out.stderr
        except (subprocess.TimeoutExpired, OSError) as e:
            print(f"could not probe limit names: {e}", flush=True)
            return None
        m = re.search(r"(?:one of|known limits:)\s*([a-z0-9_,\s]+)", text)
        if not m:
            return None
        return set(re.findall(r"[a-z][a-z0-9_]+", m.group(1)))

    def start(self):
        if not self.limits and not self.unsupported:
            known = self.supported_limits()
            for name, value in LIMITS.items():
                if known is None or name in known:
                    self.limits[name] = value
                else:
                    self.unsupported.append(name)
        args = [self.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data,
                "--min-free-disk-mb", "1", "--log-level", "error"]
        for name, value in self.limits.items():
            args += ["--limit", f"{name}={value}"]
        err = open(self.err_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, cwd=self.work,
                                     preexec_fn=_die_with_parent)
        err.close()
        with open(os.path.join(self.work, "collector.pid"), "w") as f:
            f.write(str(self.proc.pid))
        self.starts += 1
        lines = []
        done = threading.Event()

        def read_stdout():
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                lines.append(line)
                if line.startswith("listening: "):
                    done.set()
            done.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        done.wait(30)
        listening = [l for l in lines if l.startswith("listening: ")]
        if not listening:
            self.kill()
            raise RuntimeError(f"collector did not start: stdout={lines!r} stderr={self.stderr_tail()}")
        self.port = int(listening[0].rsplit(":", 1)[1])
        # The first start prints the secret, or (newer collectors) the path of a 0600 file
        # holding the same lines.
        for l in lines:
            if l.startswith("enrollment secret: "):
                self.secret = l.split(": ", 1)[1].strip()
            elif l.startswith("first-start credentials: "):
                with open(l.split(": ", 1)[1].strip()) as f:
                    for cl in f:
                        if cl.startswith("enrollment secret: "):
                            self.secret = cl.split(": ", 1)[1].strip()
        if self.starts == 1 and not self.secret:
            self.kill()
            raise RuntimeError(f"no enrollment secret on first start: stdout={lines!r}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status_kib(self, key):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def sample_rss(self):
        hwm = self.status_kib("VmHWM") if self.alive() else None
        if hwm:
            self.peak_rss_kib = max(self.peak_rss_kib, hwm)
        return hwm

    def fd_count(self):
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        except OSError:
            return None

    def stderr_size(self):
        try:
            return os.path.getsize(self.err_path)
        except OSError:
            return 0

    def stderr_since(self, offset):
        try:
            with open(self.err_path, "rb") as f:
                f.seek(offset)
                return f.read(1 << 20).decode(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, n=3000):
        try:
            with open(self.err_path, "rb") as f:
                data = f.read()
            return data[-n:].decode(errors="replace")
        except OSError:
            return ""

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.sample_rss()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass


def _die_with_parent():
    """The collector gets SIGKILL if this script dies, whatever kills it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


C = None  # the Collector, set in main()

# ---------------------------------------------------------------------------------------
# A small HTTP/1.1 client over raw sockets: full control of what is sent, a timeout on
# every wait, and "the server closed the connection" as an outcome of its own.


class Closed(Exception):
    """The server closed (or reset) the connection without a complete response."""


class CaseFailure(Exception):
    pass


class Response:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value (last wins)
        self.body = body
        self.elapsed = elapsed

    def json(self):
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def code(self):
        j = self.json()
        if isinstance(j, dict) and isinstance(j.get("error"), dict):
            return j["error"].get("code")
        return None

    def short(self):
        body = self.body[:300].decode(errors="replace")
        return f"{self.status} {body!r}"


def connect(timeout=10.0):
    s = socket.create_connection(("127.0.0.1", C.port), timeout=timeout)
    s.settimeout(timeout)
    return s


def read_response(sock, timeout=15.0, started=None):
    """Reads one response. Raises Closed when the connection ends first, socket.timeout
    when nothing complete arrives in `timeout` seconds."""
    started = started or time.monotonic()
    deadline = time.monotonic() + timeout
    buf = b""

    def recv():
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no complete response in time")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(f"connection reset ({e})")
        return chunk

    while b"\r\n\r\n" not in buf:
        chunk = recv()
        if not chunk:
            raise Closed(f"closed after {len(buf)} bytes of response head" if buf else "closed without a response")
        buf += chunk
        if len(buf) > 1 << 20:
            raise CaseFailure("response head larger than 1 MiB")
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})(?: (.*))?$", lines[0])
    if not m:
        raise CaseFailure(f"bad status line {lines[0]!r}")
    status = int(m.group(1))
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if status in (100, 102, 103):
        return read_response_from(sock, rest, deadline, started)
    body = b""
    if "content-length" in headers:
        n = int(headers["content-length"])
        body = rest
        while len(body) < n:
            chunk = recv()
            if not chunk:
                raise Closed("closed in the middle of the response body")
            body += chunk
        body = body[:n]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        data = rest
        body = b""
        while True:
            while b"\r\n" not in data:
                chunk = recv()
                if not chunk:
                    raise Closed("closed in the middle of a chunked body")
                data += chunk
            size_line, data = data.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(data) < size + 2:
                chunk = recv()
                if not chunk:
                    raise Closed("closed in the middle of a chunk")
                data += chunk
            if size == 0:
                break
            body += data[:size]
            data = data[size + 2:]
    elif status not in (204, 304):
        body = rest
        while True:
            chunk = recv()
            if not chunk:
                break
            body += chunk
    return Response(status, m.group(2) or "", headers, body, time.monotonic() - started)


def read_response_from(sock, already, deadline, started):
    # Only used after an interim 1xx; re-enter with what was already read.
    class Prefixed:
        def __init__(self, s, data):
            self.s, self.data = s, data

        def settimeout(self, t):
            self.s.settimeout(t)

        def recv(self, n):
            if self.data:
                d, self.data = self.data, b""
                return d
            return self.s.recv(n)
    return read_response(Prefixed(sock, already), max(0.1, deadline - time.monotonic()), started)


def build_request(method, path, headers=None, body=None, chunked=False, keep_alive=False):
    hdrs = [("Host", f"127.0.0.1:{C.port}")]
    if not keep_alive:
        hdrs.append(("Connection", "close"))
    for k, v in (headers or {}).items():
        hdrs.append((k, v))
    names = {k.lower() for k, _ in hdrs}
    if body is not None and not chunked and "content-length" not in names:
        hdrs.append(("Content-Length", str(len(body))))
    if chunked:
        hdrs.append(("Transfer-Encoding", "chunked"))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
    data = head.encode("latin-1")
    if body is not None:
        if chunked:
            parts = []
            for i in range(0, len(body), 65536):
                piece = body[i:i + 65536]
                parts.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
            parts.append(b"0\r\n\r\n")
            data += b"".join(parts)
        else:
            data += body
    return data


def exchange(raw, timeout=15.0):
    """Sends raw bytes (in the background, so an early answer is read while sending) and
    reads one response."""
    started = time.monotonic()
    sock = connect(timeout)
    send_error = []

    def sender():
        try:
            sock.sendall(raw)
        except OSError as e:
            send_error.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        return read_response(sock, timeout, started)
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        t.join(2)


def request(method, path, body=None, token=None, content_type=None, headers=None, chunked=False, timeout=15.0):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if content_type:
        h["Content-Type"] = content_type
    if isinstance(body, str):
        body = body.encode()
    return exchange(build_request(method, path, h, body, chunked), timeout)


def get(path, token=None, timeout=15.0):
    return request("GET", path, token=token, timeout=timeout)


def post_json(path, obj_or_bytes, token=None, content_type="application/json", timeout=15.0):
    body = obj_or_bytes if isinstance(obj_or_bytes, (bytes, bytearray)) else json.dumps(obj_or_bytes).encode()
    return request("POST", path, body=bytes(body), token=token, content_type=content_type, timeout=timeout)


def upload(host, body, content_type="application/gzip", chunked=False, timeout=20.0, headers=None):
    return request("POST", "/api/v1/bundles", body=body, token=host.token, content_type=content_type,
                   chunked=chunked, timeout=timeout, headers=headers)


def closed_or_response(raw, timeout):
    """The outcome of sending `raw`: a Response, "closed", or "timeout"."""
    try:
        return exchange(raw, timeout)
    except Closed:
        return "closed"
    except socket.timeout:
        return "timeout"


def wait_closed(sock, within, allow_statuses=(408,)):
    """Waits up to `within` seconds for the server to close `sock` (optionally after an
    answer with one of `allow_statuses`). Returns (how, seconds)."""
    start = time.monotonic()
    deadline = start + within
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return ("still open", time.monotonic() - start)
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return ("still open", time.monotonic() - start)
        except (ConnectionResetError, BrokenPipeError):
            return ("reset", time.monotonic() - start)
        if not chunk:
            if buf:
                m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
                if not m or int(m.group(1)) not in allow_statuses:
                    return (f"answered {buf[:200]!r}", time.monotonic() - start)
                return (f"answered {int(m.group(1))} then closed", time.monotonic() - start)
            return ("closed", time.monotonic() - start)
        buf += chunk


# ---------------------------------------------------------------------------------------
# Assertions


def check(cond, message):
    if not cond:
        raise CaseFailure(message)


def expect_error(r, status, codes, what=""):
    """`r` answers `status` (int or set) with {"error":{"code","message"}} and a code in
    `codes` (str, set, or None for any non-empty code)."""
    prefix = f"{what}: " if what else ""
    if not isinstance(r, Response):
        raise CaseFailure(f"{prefix}expected {status} {codes}, got {r}")
    statuses = {status} if isinstance(status, int) else set(status)
    check(r.status in statuses, f"{prefix}expected status {sorted(statuses)} {codes}, got {r.short()}")
    j = r.json()
    check(isinstance(j, dict) and isinstance(j.get("error"), dict),
          f"{prefix}expected a JSON error body, got {r.short()}")
    code, message = j["error"].get("code"), j["error"].get("message")
    check(isinstance(code, str) and code, f"{prefix}error.code missing in {r.short()}")
    check(isinstance(message, str) and message, f"{prefix}error.message missing in {r.short()}")
    if codes is not None:
        allowed = {codes} if isinstance(codes, str) else set(codes)
        check(code in allowed, f"{prefix}expected code {sorted(allowed)}, got {code!r} ({r.status}: {message[:200]})")
    return r


def expect_status(r, status, what=""):
    prefix = f"{what}: " if what else ""
    if not isinstance(r, Response):
        raise CaseFailure(f"{prefix}expected {status}, got {r}")
    statuses = {status} if isinstance(status, int) else set(status)
    check(r.status in statuses, f"{prefix}expected status {sorted(statuses)}, got {r.short()}")
    return r


def expect_refused_at_http_level(outcome, what, allowed=(400, 413, 414, 431)):
    """A malformed request: answered with a 4xx in `allowed` (the HTTP parser's answer need
    not be JSON) or the connection closed; never a 5xx, a 2xx, or a hang."""
    print(f"    ({what}: {outcome if isinstance(outcome, str) else outcome.status})", flush=True)
    if outcome == "closed":
        return
    if outcome == "timeout":
        raise CaseFailure(f"{what}: no answer and connection still open after the timeout")
    check(outcome.status in allowed, f"{what}: expected {list(allowed)} or a closed connection, got {outcome.short()}")


# ---------------------------------------------------------------------------------------
# Bundles: hand-made tar (full control of names, types, sizes, checksums) and gzip.


def tar_header(name, size, typeflag=b"0", linkname=b"", size_field=None, good_checksum=True, prefix=b""):
    name = name if isinstance(name, bytes) else name.encode()
    h = bytearray(512)
    h[0:min(100, len(name))] = name[:100]
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = size_field if size_field is not None else b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[157:157 + len(linkname)] = linkname
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[345:345 + len(prefix)] = prefix
    total = sum(h)
    if not good_checksum:
        total += 1
    h[148:156] = b"%06o\0 " % total
    return bytes(h)


def member(name, data=b"", typeflag=b"0", **kw):
    data = data if isinstance(data, bytes) else data.encode()
    pad = (-len(data)) % 512
    return tar_header(name, len(data), typeflag, **kw) + data + b"\0" * pad


def tar(*members, end=True):
    return b"".join(members) + (b"\0" * 1024 if end else b"")


def gz(data, level=6):
    return gzip.compress(data, compresslevel=level, mtime=0)


class Host:
    def __init__(self, label, host_id, token, hostname, machine):
        self.label, self.id, self.token, self.hostname, self.machine = label, host_id, token, hostname, machine


def manifest(host, bundle_id=None, **over):
    m = {"schemaVersion": 1, "bundleID": bundle_id or str(uuid.uuid4()), "createdAt": "2026-11-29T08:00:00Z",
         "agentVersion": "hostile-suite",
         "host": {"hostID": host.id, "hostname": host.hostname, "machineID": host.machine},
         "reason": "user_request", "note": "hostile suite", "probes": [], "redactions": {}}
    m.update(over)
    return m


def mbytes(m):
    return json.dumps(m).encode()


JOURNAL_OK = b'{"ts":1790000000000000,"prio":3,"unit":"hostile.service","msg":"hello"}\n'


def bundle(host, *extra, m=None, journal=JOURNAL_OK, bundle_id=None):
    parts = [member("manifest.json", mbytes(m if m is not None else manifest(host, bundle_id)))]
    if journal is not None:
        parts.append(member("journal.jsonl", journal))
    parts.extend(extra)
    return gz(tar(*parts))


def sparse_random(n):
    """Bytes that compress about 25x: one random byte in 64."""
    out = bytearray(n)
    rnd = os.urandom(n // 64 + 1)
    out[::64] = rnd[:len(out[::64])]
    return bytes(out)


# ---------------------------------------------------------------------------------------
# State snapshots: rows in the database (read-only), files in tmp/ and blobs/.


def db_counts():
    path = os.path.join(C.data, "collector.sqlite")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        out = {}
        for table in ("bundles", "tickets", "hosts", "health_history"):
            out[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return out
    finally:
        con.close()


def db_query(sql, args=()):
    path = os.path.join(C.data, "collector.sqlite")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def tmp_files():
    try:
        return sorted(os.listdir(os.path.join(C.data, "tmp")))
    except OSError:
        return []


def blob_count():
    n = 0
    for _, _, files in os.walk(os.path.join(C.data, "blobs")):
        n += len(files)
    return n


def server_failures():
    """From /metrics: uploads the collector counted as its own failure (reason="internal")
    and 500 answers (the documented 503/507 overload answers are not failures), as
    {series: count}."""
    r = get("/metrics", timeout=5)
    out = {}
    for line in r.body.decode(errors="replace").splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, value = line.rsplit(" ", 1)
        if not (series.startswith("helpline_bundles_rejected_total") and 'reason="internal"' in series) and not (
                series.startswith("hb_requests") and 'status_code="500"' in series):
            continue
        try:
            v = float(value)
        except ValueError:
            continue
        if v:
            out[series] = v
    return out


def snapshot():
    s = db_counts()
    s["blobs"] = blob_count()
    s["failures"] = server_failures()
    return s


# ---------------------------------------------------------------------------------------
# Case registry


CASES = []


def case(name, proves, timeout_note=None):
    """Registers a case. The function may return a dict of expected deltas, e.g.
    {"bundles": 1} for a case that legitimately stores one bundle (blobs follow bundles;
    tickets may grow by at most the bundle delta), {"hosts": 1}, {"health_history": 3}."""
    def wrap(fn):
        CASES.append((name, proves, fn))
        return fn
    return wrap


class World:
    """Hosts and fixtures shared by the cases."""
    A = B = C3 = D = E = None   # host C is C3: `C` is the collector
    api = None
    stored_bundle = None        # a bundle of A's with a journal, for technician routes
    b_bundle_id = None          # a bundle id B already used
    a_bundle_body = None        # A's stored bundle, byte for byte (duplicate case)
    ticket_id = None
    million_bundle = None       # the million-line bundle, once stored


W = World()


def enroll(label):
    machine = f"hostile-{label.lower()}-{uuid.uuid4().hex[:12]}"
    hostname = f"hostile-{label.lower()}"
    r = post_json("/api/v1/enroll", {"secret": C.secret, "hostname": hostname, "machineID": machine})
    check(r.status == 201, f"enrolling host {label}: {r.short()}")
    j = r.json()
    return Host(label, j["hostID"], j["hostToken"], hostname, machine)


def setup():
    W.A, W.B, W.C3, W.D, W.E = enroll("A"), enroll("B"), enroll("C"), enroll("D"), enroll("E")
    out = subprocess.run([C.binary, "admin", "token", "create", "hostile-suite", "--role", "admin", "--data-dir", C.data],
                         capture_output=True, text=True, timeout=30, cwd=C.work)
    check(out.returncode == 0, f"admin token create failed: {out.stderr}")
    W.api = out.stdout.strip().splitlines()[-1].strip()
    journal = b"".join(b'{"ts":%d,"prio":%d,"unit":"hostile.service","msg":"line %d"}\n' % (1790000000000000 + i * 1000000, i % 8, i)
                       for i in range(50))
    bid = str(uuid.uuid4())
    W.a_bundle_body = bundle(W.A, member("note.txt", "fixture note"), journal=journal, bundle_id=bid)
    r = upload(W.A, W.a_bundle_body)
    check(r.status == 201, f"fixture upload (host A): {r.short()}")
    W.stored_bundle = bid
    W.ticket_id = r.json()["ticketID"]
    W.b_bundle_id = str(uuid.uuid4())
    r = upload(W.B, bundle(W.B, bundle_id=W.b_bundle_id))
    check(r.status == 201, f"fixture upload (host B): {r.short()}")


# =======================================================================================
# Cases: bundle format through POST /api/v1/bundles

@case("gzip_truncated", "a bundle cut at 60% answers 422 truncated_gzip and leaves nothing")
def _():
    body = bundle(W.A, member("attachments/r.bin", os.urandom(64 * 1024)))
    expect_error(upload(W.A, body[: len(body) * 6 // 10]), 422, "truncated_gzip")


@case("gzip_header_only", "a bare 10-byte gzip header answers 422 truncated_gzip")
def _():
    expect_error(upload(W.A, b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"), 422, "truncated_gzip")


@case("gzip_corrupt_deflate", "deflate data with a reserved block type answers 422 corrupt_gzip")
def _():
    body = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\x07" + os.urandom(200)
    expect_error(upload(W.A, body), 422, "corrupt_gzip")


@case("gzip_bad_crc", "a complete bundle whose gzip CRC-32 is wrong answers 422 corrupt_gzip")
def _():
    body = bytearray(bundle(W.A))
    body[-8] ^= 0xFF
    expect_error(upload(W.A, bytes(body)), 422, "corrupt_gzip")


@case("gzip_bad_isize", "a complete bundle whose gzip ISIZE trailer is wrong answers 422 corrupt_gzip")
def _():
    body = bytearray(bundle(W.A))
    body[-1] ^= 0x40
    expect_error(upload(W.A, bytes(body)), 422, "corrupt_gzip")


@case("not_gzip", "a plain (uncompressed) tar answers 422 corrupt_gzip")
def _():
    expect_error(upload(W.A, tar(member("manifest.json", mbytes(manifest(W.A))))), 422, "corrupt_gzip")


@case("gzip_trailing_garbage", "garbage after a complete gzip member answers 422 corrupt_gzip")
def _():
    expect_error(upload(W.A, bundle(W.A) + b"this is not another gzip member" * 4), 422, "corrupt_gzip")


@case("empty_body", "an empty upload (Content-Length: 0) answers 422 truncated_gzip")
def _():
    expect_error(upload(W.A, b""), 422, "truncated_gzip")


@case("bomb_ratio", "15 MiB of zeros in 15 KiB is stopped by max_compression_ratio: 422 compression_ratio_exceeded")
def _():
    body = bundle(W.A, member("attachments/zeros.bin", b"\0" * (15 * MiB)), journal=None)
    check(len(body) < 100 * 1024, f"bomb fixture is {len(body)} bytes")
    expect_error(upload(W.A, body), 422, "compression_ratio_exceeded")


@case("bomb_uncompressed_total", "three 12.8 MB members (~25x each) pass the ratio but stop at max_uncompressed_bytes: 422 uncompressed_too_large")
def _():
    parts = [member(f"attachments/p{i}.bin", sparse_random(12_800_000)) for i in range(3)]
    body = bundle(W.A, *parts, journal=None)
    check(len(body) < LIMITS["max_bundle_bytes"], f"fixture is {len(body)} bytes")
    expect_error(upload(W.A, body, timeout=30), 422, "uncompressed_too_large")


@case("bomb_member_count", "10000 empty members stop at max_members: 422 too_many_members")
def _():
    parts = [member("manifest.json", mbytes(manifest(W.A)))] + [member(f"attachments/f{i}") for i in range(10000)]
    expect_error(upload(W.A, gz(tar(*parts))), 422, "too_many_members")


@case("bomb_one_huge_member", "a member declaring 8 GiB is refused from its header: 422 member_too_large")
def _():
    data = tar_header("attachments/huge.bin", 0, size_field=b"77777777777\0") + b"\0" * MiB
    body = gz(member("manifest.json", mbytes(manifest(W.A))) + data)
    expect_error(upload(W.A, body), 422, "member_too_large")


@case("bomb_base256_size", "GNU base-256 size fields of 2^62 and all-0xFF (negative/overflow) answer 422, no overflow")
def _():
    for field in (bytes([0x80]) + (1 << 62).to_bytes(11, "big"), b"\xff" * 12):
        data = tar_header("attachments/huge.bin", 0, size_field=field) + b"\0" * 4096
        body = gz(member("manifest.json", mbytes(manifest(W.A))) + data)
        expect_error(upload(W.A, body), 422, {"member_too_large", "corrupt_tar"}, field[:2].hex())


@case("path_traversal", "a member named ../x answers 422 unsafe_path")
def _():
    expect_error(upload(W.A, bundle(W.A, member("../x", "boom"))), 422, "unsafe_path")


@case("path_traversal_nested", "attachments/../../x answers 422 unsafe_path")
def _():
    expect_error(upload(W.A, bundle(W.A, member("attachments/../../x", "boom"))), 422, "unsafe_path")


@case("path_absolute", "a member named /etc/cron.d/x answers 422 unsafe_path")
def _():
    expect_error(upload(W.A, bundle(W.A, member("/etc/cron.d/x", "boom"))), 422, "unsafe_path")


@case("path_traversal_pax", "a PAX path record of ../../etc/x answers 422 unsafe_path")
def _():
    record = b"path=../../etc/x\n"
    length = len(record) + 3
    length = len(b"%d " % length) + len(record)
    pax = b"%d " % length + record
    body = bundle(W.A, member("PaxHeader", pax, typeflag=b"x") + member("innocent.txt", "boom"))
    expect_error(upload(W.A, body), 422, "unsafe_path")


@case("path_traversal_gnu_longname", "a GNU long name (type L) of ../x answers 422 unsafe_path")
def _():
    body = bundle(W.A, member("././@LongLink", b"../" * 60 + b"x\0", typeflag=b"L") + member("innocent.txt", "boom"))
    expect_error(upload(W.A, body), 422, "unsafe_path")


@case("path_nul_in_name", "a PAX path with a NUL byte answers 422 unsafe_path")
def _():
    record = b"path=attachments/a\0b\n"
    length = len(b"%d " % (len(record) + 3)) + len(record)
    body = bundle(W.A, member("PaxHeader", b"%d " % length + record, typeflag=b"x") + member("x", "boom"))
    expect_error(upload(W.A, body), 422, "unsafe_path")


for _flag, _what in ((b"2", "symlink"), (b"1", "hardlink"), (b"3", "char_device"), (b"4", "block_device"), (b"6", "fifo")):
    def _make(flag=_flag, what=_what):
        @case(f"member_{what}", f"a {what} member (type {flag.decode()}) answers 422 unsupported_member_type")
        def _():
            link = b"/etc/shadow" if flag in (b"1", b"2") else b""
            body = bundle(W.A, member("attachments/evil", b"", typeflag=flag, linkname=link))
            expect_error(upload(W.A, body), 422, "unsupported_member_type")
    _make()


@case("duplicate_member", "journal.jsonl twice answers 422 duplicate_member")
def _():
    expect_error(upload(W.A, bundle(W.A, member("journal.jsonl", JOURNAL_OK))), 422, "duplicate_member")


@case("duplicate_manifest", "a second manifest.json (another host's) answers 422 duplicate_member")
def _():
    body = bundle(W.A, member("manifest.json", mbytes(manifest(W.B))))
    expect_error(upload(W.A, body), 422, "duplicate_member")


@case("manifest_missing", "a bundle without manifest.json answers 422 missing_manifest")
def _():
    expect_error(upload(W.A, gz(tar(member("journal.jsonl", JOURNAL_OK)))), 422, "missing_manifest")


@case("manifest_empty_archive", "an empty tar (only the end marker) answers 422 missing_manifest")
def _():
    expect_error(upload(W.A, gz(tar())), 422, "missing_manifest")


@case("manifest_not_first", "manifest.json after journal.jsonl answers 422 missing_manifest")
def _():
    body = gz(tar(member("journal.jsonl", JOURNAL_OK), member("manifest.json", mbytes(manifest(W.A)))))
    expect_error(upload(W.A, body), 422, "missing_manifest")


@case("manifest_schema_version", "schemaVersion 999 answers 422 unsupported_schema")
def _():
    expect_error(upload(W.A, bundle(W.A, m=manifest(W.A, schemaVersion=999))), 422, "unsupported_schema")


@case("manifest_schema_version_huge", "schemaVersion 1e400 / 2^64 answers 422 (invalid_json or unsupported_schema)")
def _():
    raw = mbytes(manifest(W.A)).replace(b'"schemaVersion": 1', b'"schemaVersion": 18446744073709551616')
    expect_error(upload(W.A, gz(tar(member("manifest.json", raw)))), 422, {"invalid_json", "unsupported_schema"})
    raw = mbytes(manifest(W.A)).replace(b'"schemaVersion": 1', b'"schemaVersion": 1e400')
    expect_error(upload(W.A, gz(tar(member("manifest.json", raw)))), 422, {"invalid_json", "unsupported_schema"})


@case("manifest_wrong_types", "probes as a string, createdAt as a number: 422 invalid_json")
def _():
    expect_error(upload(W.A, bundle(W.A, m=manifest(W.A, probes="all of them"))), 422, "invalid_json")
    expect_error(upload(W.A, bundle(W.A, m=manifest(W.A, createdAt=12))), 422, "invalid_json")
    expect_error(upload(W.A, bundle(W.A, m=manifest(W.A, reason="because"))), 422, "invalid_json")


@case("manifest_bad_bundle_id", "a bundleID that is not a UUID (../../x) answers 422 invalid_manifest")
def _():
    expect_error(upload(W.A, bundle(W.A, m=manifest(W.A, bundle_id="../../x"))), 422, "invalid_manifest")


@case("manifest_not_json", "a manifest that is not JSON answers 422 invalid_json")
def _():
    expect_error(upload(W.A, gz(tar(member("manifest.json", b"\x00\x01not json{{{")))), 422, "invalid_json")


@case("manifest_huge_note", "a 10 MB note inside manifest.json stops at the manifest cap: 422 member_too_large")
def _():
    body = bundle(W.A, m=manifest(W.A, note="wifi keeps dropping " * 500_000))
    expect_error(upload(W.A, body), 422, "member_too_large")


@case("note_txt_huge", "a 10 MB note.txt stops at maxNoteBytes: 422 member_too_large")
def _():
    body = bundle(W.A, member("note.txt", "wifi keeps dropping " * 500_000))
    expect_error(upload(W.A, body), 422, "member_too_large")


@case("manifest_deep_nesting", "a manifest of 100k '[' answers 422 invalid_json (no stack overflow)")
def _():
    expect_error(upload(W.A, gz(tar(member("manifest.json", b"[" * 100_000)))), 422, "invalid_json")
    nested = b'{"schemaVersion":1,"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    expect_error(upload(W.A, gz(tar(member("manifest.json", nested)))), 422, "invalid_json")


@case("system_json_deep_nesting", "system.json of 100k '{\"a\":' answers 422 invalid_json")
def _():
    nested = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    expect_error(upload(W.A, bundle(W.A, member("system.json", nested))), 422, "invalid_json")


@case("system_json_wrong_types", "system.json that is an array answers 422 invalid_json")
def _():
    expect_error(upload(W.A, bundle(W.A, member("system.json", b"[1,2,3]"))), 422, "invalid_json")


@case("host_mismatch_host_id", "host B's id in a bundle sent with A's token answers 403 host_mismatch")
def _():
    expect_error(upload(W.A, bundle(W.B)), 403, "host_mismatch")


@case("host_mismatch_machine_id", "no hostID and B's machine id, sent with A's token: 403 host_mismatch")
def _():
    m = manifest(W.A)
    m["host"] = {"hostname": "x", "machineID": W.B.machine}
    expect_error(upload(W.A, bundle(W.A, m=m)), 403, "host_mismatch")


@case("host_missing_identity", "a manifest naming neither host id nor machine id answers 403 host_mismatch")
def _():
    m = manifest(W.A)
    m["host"] = {"hostname": "x"}
    expect_error(upload(W.A, bundle(W.A, m=m)), 403, "host_mismatch")


@case("invalid_utf8_note", "invalid UTF-8 in the manifest's note answers 422 invalid_json")
def _():
    raw = mbytes(manifest(W.A, note="XXBADXX")).replace(b"XXBADXX", b"ok \xff\xfe \xc3\x28")
    expect_error(upload(W.A, gz(tar(member("manifest.json", raw)))), 422, "invalid_json")


@case("invalid_utf8_note_txt", "invalid UTF-8 in note.txt answers 422 invalid_json")
def _():
    expect_error(upload(W.A, bundle(W.A, member("note.txt", b"help \xff\xfe\xc0\xaf"))), 422, "invalid_json")


@case("invalid_utf8_hostname", "invalid UTF-8 in host.hostname answers 422 invalid_json")
def _():
    m = manifest(W.A)
    m["host"]["hostname"] = "XXBADXX"
    raw = mbytes(m).replace(b"XXBADXX", b"laptop\xed\xa0\x80")  # an encoded surrogate
    expect_error(upload(W.A, gz(tar(member("manifest.json", raw)))), 422, "invalid_json")


@case("raw_nul_in_note", "a raw NUL byte inside the note string (not JSON) answers 422 invalid_json")
def _():
    raw = mbytes(manifest(W.A, note="XXNULXX")).replace(b"XXNULXX", b"a\x00b")
    expect_error(upload(W.A, gz(tar(member("manifest.json", raw)))), 422, "invalid_json")


@case("raw_nul_in_hostname", "a raw NUL byte inside host.hostname answers 422 invalid_json")
def _():
    m = manifest(W.A)
    m["host"]["hostname"] = "XXNULXX"
    raw = mbytes(m).replace(b"XXNULXX", b"lap\x00top")
    expect_error(upload(W.A, gz(tar(member("manifest.json", raw)))), 422, "invalid_json")


@case("escaped_nul_in_hostname", "hostname \"lap\\u0000top\" is not a hostname: 422 invalid_manifest")
def _():
    m = manifest(W.A)
    m["host"]["hostname"] = "lap\u0000top"
    expect_error(upload(W.A, bundle(W.A, m=m)), 422, "invalid_manifest")


@case("escaped_nul_roundtrips", "a note and a journal message with \\u0000 and U+FFFF are stored (201) and read back intact, never truncated")
def _():
    note = "before\u0000after \uffff end"
    msg = "kernel: a\u0000b \uffff c"
    line = json.dumps({"ts": 1790000000000000, "prio": 3, "msg": msg}, separators=(",", ":")).encode() + b"\n"
    bid = str(uuid.uuid4())
    r = upload(W.A, bundle(W.A, m=manifest(W.A, bundle_id=bid, note=note), journal=line))
    expect_status(r, 201, "upload")
    r = get(f"/api/v1/bundles/{bid}", token=W.api)
    expect_status(r, 200, "read back")
    got = r.json()["manifest"].get("note")
    check(got == note, f"note read back as {got!r}, sent {note!r}")
    r = get(f"/api/v1/bundles/{bid}/journal", token=W.api)
    expect_status(r, 200, "journal")
    entries = r.json().get("entries") or [{}]
    check(entries[0].get("msg") == msg, f"journal message read back as {entries[0].get('msg')!r}, sent {msg!r}")
    return {"bundles": 1}


@case("extreme_times_bundle", "createdAt year 300000 / 0001, journal ts of Int64 max and min: 201 or 422, and every technician read of it answers 200 afterwards")
def _():
    stored = 0
    journal = (b'{"ts":9223372036854775807,"prio":3,"msg":"end of time"}\n'
               b'{"ts":-9223372036854775808,"prio":3,"msg":"start of time"}\n'
               b'{"ts":0,"prio":3,"msg":"epoch"}\n')
    for created in ("300000-01-01T00:00:00Z", "0001-01-01T00:00:00Z"):
        bid = str(uuid.uuid4())
        window = {"allSince": created, "importantSince": created, "importantPriority": 4, "until": created,
                  "maxEntries": 9223372036854775807, "maxBytes": 9223372036854775807}
        r = upload(W.C3, bundle(W.C3, m=manifest(W.C3, bundle_id=bid, createdAt=created, journalWindow=window), journal=journal))
        if r.status == 422:
            expect_error(r, 422, {"invalid_manifest", "invalid_json"}, f"createdAt {created}")
            continue
        expect_status(r, 201, f"createdAt {created}")
        stored += 1
        for path in (f"/api/v1/bundles/{bid}", f"/api/v1/bundles/{bid}/journal",
                     f"/api/v1/bundles/{bid}/journal?since=2026-01-01T00:00:00Z&until=2027-01-01T00:00:00Z",
                     f"/api/v1/hosts/{W.C3.id}/bundles", f"/api/v1/tickets?hostID={W.C3.id}", f"/api/v1/tickets/{r.json()['ticketID']}"):
            expect_status(get(path, token=W.api), 200, f"GET {path} after createdAt {created}")
        expect_status(get("/api/v1/hosts/self/tickets", token=W.C3.token), 200, "own tickets")
    return {"bundles": stored}


@case("journal_times_outside_1970_9999", "journal ts past 9999-12-31T23:59:59Z or before 1970 (a windowed rule's span overflowing, "
      "a finding last seen in year 33658): 422 naming ts; the last second of 9999 is stored and its ticket reads 200")
def _():
    busy = b'"ident":"pipewire","prio":3,"msg":"spa.alsa: \'front:0\': playback open failed: Device or resource busy"}\n'
    unknown = b'"ident":"acme","prio":3,"msg":"acme failed"}\n'
    refused = {
        # audio.device_busy counts 2 within 1 h: newest - oldest overflowed Int64.
        "span overflow": b'{"ts":-1,' + busy + b'{"ts":9223372036854775807,' + busy,
        # An unmatched error cluster whose last sighting is year 33658 (SQLite's dates stop at 9999).
        "year 33658": b''.join(b'{"ts":%d,' % t + unknown for t in
                               (1790000000000000,) * 4 + (1000000000000000000, 1790000000000001)),
        "one past the edge": b'{"ts":253402300799000001,' + unknown,
    }
    for what, journal in refused.items():
        r = upload(W.C3, bundle(W.C3, journal=journal))
        expect_error(r, 422, "invalid_json", what)
        check('"ts"' in r.json()["error"]["message"], f"{what}: the error names ts: {r.short()}")
    # The edge itself: stored, and every read of its ticket answers (a date SQLite can give back).
    bid = str(uuid.uuid4())
    edge = b''.join(b'{"ts":%d,' % t + unknown for t in (1790000000000000,) * 4 + (253402300799000000, 1790000000000001))
    r = upload(W.C3, bundle(W.C3, journal=edge, bundle_id=bid))
    expect_status(r, 201, "ts 253402300799000000 (9999-12-31T23:59:59Z)")
    ticket = r.json()["ticketID"]
    for path in (f"/api/v1/tickets/{ticket}", f"/api/v1/bundles/{bid}", f"/api/v1/bundles/{bid}/journal"):
        expect_status(get(path, token=W.api), 200, f"GET {path}")
    return {"bundles": 1}


@case("gzip_many_empty_members", "a valid bundle followed by 150k empty gzip members (3 MB of nothing) is read quickly (< 10 s): 201")
def _():
    empty = gz(b"")
    body = bundle(W.C3) + empty * 150_000
    check(len(body) < LIMITS["max_bundle_bytes"], f"fixture is {len(body)} bytes")
    started = time.monotonic()
    r = upload(W.C3, body, timeout=30)
    took = time.monotonic() - started
    expect_status(r, 201, "upload")
    check(took < 10, f"took {took:.1f} s")
    return {"bundles": 1}


@case("journal_invalid_utf8", "a journal message with invalid UTF-8 answers 422 invalid_json")
def _():
    line = b'{"ts":1790000000000000,"msg":"bad \xff\xfe\xc3\x28"}\n'
    expect_error(upload(W.A, bundle(W.A, journal=JOURNAL_OK + line)), 422, "invalid_json")


@case("journal_raw_nul", "a raw NUL byte in a journal message answers 422 invalid_json")
def _():
    line = b'{"ts":1790000000000000,"msg":"a\x00b"}\n'
    expect_error(upload(W.A, bundle(W.A, journal=JOURNAL_OK + line)), 422, "invalid_json")


@case("journal_ts_overflow", "ts 99999999999999999999 (past Int64) answers 422 invalid_json")
def _():
    line = b'{"ts":99999999999999999999,"msg":"x"}\n'
    expect_error(upload(W.A, bundle(W.A, journal=line)), 422, "invalid_json")


@case("journal_line_10mb", "one 10 MB journal line stops at max_journal_line_bytes: 422 member_too_large")
def _():
    msg = b"".join(os.urandom(3).hex().encode() + b" disk error at sector " for _ in range(10_000_000 // 28))
    line = b'{"ts":1790000000000000,"msg":"' + msg + b'"}\n'
    body = bundle(W.A, journal=line)
    check(len(body) < LIMITS["max_bundle_bytes"], f"fixture is {len(body)} bytes")
    check(len(body) * 90 > len(line), f"fixture ratio too high ({len(line) // len(body)}x)")
    expect_error(upload(W.A, body, timeout=30), 422, "member_too_large")


@case("journal_million_lines", "a million tiny journal lines (15 MB, within every limit) are accepted quickly (201 < 20 s)")
def _():
    lines = b"".join(b'{"ts":%d}\n' % (1_000_000 + i) for i in range(1_000_000))
    body = bundle(W.A, journal=lines)
    check(len(body) < LIMITS["max_bundle_bytes"], f"fixture is {len(body)} bytes")
    started = time.monotonic()
    r = upload(W.A, body, timeout=40)
    took = time.monotonic() - started
    expect_status(r, 201, "upload")
    W.million_bundle = r.json()["bundleID"]
    check(took < 20, f"took {took:.1f} s")
    print(f"    (million-line bundle: {len(body)} bytes compressed, accepted in {took:.2f} s)", flush=True)
    return {"bundles": 1}


@case("journal_over_member_limit", "1.2 million lines (18 MB journal > max_member_bytes) are refused quickly: 422 member_too_large")
def _():
    lines = b"".join(b'{"ts":%d}\n' % (1_000_000 + i) for i in range(1_200_000))  # 18 MB
    body = bundle(W.A, journal=lines)
    check(len(body) < LIMITS["max_bundle_bytes"], f"fixture is {len(body)} bytes")
    started = time.monotonic()
    expect_error(upload(W.A, body, timeout=40), 422, "member_too_large")
    check(time.monotonic() - started < 20, "took too long")


@case("unknown_member_large", "a 2 MiB member the format does not name answers 422 unknown_member")
def _():
    expect_error(upload(W.A, bundle(W.A, member("evil.bin", os.urandom(2 * MiB)))), 422, "unknown_member")


@case("tar_bad_checksum", "a tar header with a wrong checksum answers 422 corrupt_tar")
def _():
    body = gz(member("manifest.json", mbytes(manifest(W.A))) + member("journal.jsonl", JOURNAL_OK, good_checksum=False) + b"\0" * 1024)
    expect_error(upload(W.A, body), 422, "corrupt_tar")


@case("tar_truncated_member", "gzip complete but the tar ends mid-member: 422 corrupt_tar")
def _():
    t = member("manifest.json", mbytes(manifest(W.A))) + tar_header("journal.jsonl", 4096) + b"x" * 100
    expect_error(upload(W.A, gz(t)), 422, "corrupt_tar")


@case("tar_garbage_after_end", "data after the end-of-archive marker answers 422 corrupt_tar")
def _():
    t = tar(member("manifest.json", mbytes(manifest(W.A)))) + b"GARBAGE" * 100
    expect_error(upload(W.A, gz(t)), 422, "corrupt_tar")


@case("bundle_id_other_host", "a bundle id host B already used, sent by A, answers 409 bundle_id_conflict")
def _():
    expect_error(upload(W.A, bundle(W.A, bundle_id=W.b_bundle_id)), 409, "bundle_id_conflict")


@case("bundle_duplicate_same_host", "A sending its stored bundle again answers 200 duplicate=true and stores nothing")
def _():
    r = expect_status(upload(W.A, W.a_bundle_body), 200, "duplicate")
    check(r.json().get("duplicate") is True, f"duplicate flag: {r.short()}")


# =======================================================================================
# HTTP level

@case("content_type_bundle", "a bundle sent as text/plain (and with none) answers 415 unsupported_media_type")
def _():
    expect_error(upload(W.A, bundle(W.A), content_type="text/plain"), 415, "unsupported_media_type")
    expect_error(upload(W.A, bundle(W.A), content_type=None), 415, "unsupported_media_type", "no Content-Type")


@case("content_type_enroll", "enroll sent as text/plain answers 415 unsupported_media_type")
def _():
    body = {"secret": C.secret, "hostname": "x", "machineID": "hostile-ct"}
    expect_error(post_json("/api/v1/enroll", body, content_type="text/plain"), 415, "unsupported_media_type")


@case("content_type_heartbeat", "a heartbeat sent as form data answers 415 unsupported_media_type")
def _():
    expect_error(post_json("/api/v1/heartbeats", heartbeat(W.A), token=W.A.token,
                           content_type="application/x-www-form-urlencoded"), 415, "unsupported_media_type")


@case("content_length_over_limit", "Content-Length 5 MiB (> max_bundle_bytes) answers 413 compressed_too_large before any body")
def _():
    raw = build_request("POST", "/api/v1/bundles", {"Authorization": f"Bearer {W.A.token}", "Content-Type": "application/gzip",
                                                   "Content-Length": str(5 * MiB)})
    r = exchange(raw + b"\x1f\x8b", timeout=5)
    expect_error(r, 413, "compressed_too_large")


@case("content_length_huge", "Content-Length 2^63 answers 413 (or 400), never 5xx")
def _():
    raw = build_request("POST", "/api/v1/bundles", {"Authorization": f"Bearer {W.A.token}", "Content-Type": "application/gzip",
                                                   "Content-Length": "9223372036854775808"})
    outcome = closed_or_response(raw, 5)
    if isinstance(outcome, Response) and outcome.status == 413:
        expect_error(outcome, 413, {"compressed_too_large", "body_too_large"})
    else:
        expect_refused_at_http_level(outcome, "CL 2^63", allowed=(400,))


@case("chunked_over_limit", "a chunked upload streaming past max_bundle_bytes answers 413 compressed_too_large")
def _():
    body = bundle(W.A, member("attachments/r.bin", os.urandom(5 * MiB)), journal=None)
    expect_error(upload(W.A, body, chunked=True, timeout=30), 413, "compressed_too_large")


@case("chunked_malformed", "a chunk size of 'zz' on an upload answers 400 or closes; nothing kept")
def _():
    raw = build_request("POST", "/api/v1/bundles", {"Authorization": f"Bearer {W.A.token}", "Content-Type": "application/gzip",
                                                   "Transfer-Encoding": "chunked"})
    outcome = closed_or_response(raw + b"zz\r\n\x1f\x8b\r\n0\r\n\r\n", 8)
    if isinstance(outcome, Response) and outcome.status == 422:
        expect_error(outcome, 422, {"truncated_gzip", "corrupt_gzip"})
    else:
        expect_refused_at_http_level(outcome, "bad chunk", allowed=(400,))


@case("content_length_invalid", "Content-Length: abc answers 400 or closes")
def _():
    raw = build_request("POST", "/api/v1/bundles", {"Authorization": f"Bearer {W.A.token}", "Content-Type": "application/gzip",
                                                   "Content-Length": "abc"})
    expect_refused_at_http_level(closed_or_response(raw, 5), "CL abc", allowed=(400,))


@case("content_length_conflict", "two different Content-Length headers (smuggling) answer 400 or close")
def _():
    body = bundle(W.A)
    raw = (f"POST /api/v1/bundles HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {W.A.token}\r\n"
           f"Content-Type: application/gzip\r\nContent-Length: {len(body)}\r\nContent-Length: 5\r\n"
           f"Connection: close\r\n\r\n").encode() + body
    expect_refused_at_http_level(closed_or_response(raw, 5), "double CL", allowed=(400,))


@case("cl_and_te", "Content-Length with Transfer-Encoding: chunked (smuggling) answers 400 or closes, nothing stored")
def _():
    raw = (f"POST /api/v1/bundles HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {W.A.token}\r\n"
           f"Content-Type: application/gzip\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n"
           f"Connection: close\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").encode()
    outcome = closed_or_response(raw, 5)
    if isinstance(outcome, Response) and outcome.status == 422:
        # Parsed as chunked (RFC 9112 §6.3: Transfer-Encoding wins): an empty bundle.
        expect_error(outcome, 422, "truncated_gzip")
    else:
        expect_refused_at_http_level(outcome, "CL+TE", allowed=(400,))


@case("header_200k", "one 200 KiB header answers 431/400 or closes, never 5xx")
def _():
    raw = build_request("GET", "/healthz", {"X-Junk": "a" * (200 * 1024)})
    expect_refused_at_http_level(closed_or_response(raw, 8), "200 KiB header", allowed=(400, 431))


@case("header_count_5000", "5000 small headers answer 431/400 or close, never 5xx")
def _():
    raw = build_request("GET", "/healthz", {f"X-H{i}": "v" for i in range(5000)})
    expect_refused_at_http_level(closed_or_response(raw, 8), "5000 headers", allowed=(400, 431))


@case("request_line_100k", "a 100 KB request line answers 414/431/400 or closes, never 5xx")
def _():
    raw = build_request("GET", "/healthz?" + "a" * 100_000)
    expect_refused_at_http_level(closed_or_response(raw, 8), "100 KB request line", allowed=(400, 414, 431))


@case("not_http", "a TLS ClientHello on the plain port answers 400 or closes quickly")
def _():
    hello = bytes.fromhex("160301007a0100007603035a5a5a5a") + os.urandom(100)
    expect_refused_at_http_level(closed_or_response(hello, 6), "TLS hello", allowed=(400,))


@case("slowloris_headers", "a request head sent a byte per 0.5 s is closed within header_timeout+3 s")
def _():
    limit = LIMITS["header_timeout_seconds"] + 3
    sock = connect(5)
    try:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        start = time.monotonic()
        closed = None
        for b in head:
            if time.monotonic() - start > limit:
                break
            try:
                sock.sendall(bytes([b]))
            except OSError:
                closed = "send failed (closed)"
                break
            how, _ = wait_closed(sock, 0.5)
            if how != "still open":
                closed = how
                break
        took = time.monotonic() - start
        check(closed is not None, f"still open after {took:.1f} s (limit {limit} s)")
        check(_slow_outcome_ok(closed), f"after {took:.1f} s: {closed}")
        check(took <= limit + 0.5, f"closed only after {took:.1f} s (limit {limit} s)")
    finally:
        sock.close()


@case("silent_connection", "a connection that sends nothing is closed within header_timeout+3 s")
def _():
    limit = LIMITS["header_timeout_seconds"] + 3
    sock = connect(5)
    try:
        how, took = wait_closed(sock, limit)
        check(how != "still open", f"still open after {took:.1f} s (limit {limit} s)")
    finally:
        sock.close()


@case("idle_keepalive", "a keep-alive connection left idle after one answer is closed within idle_timeout+3 s")
def _():
    limit = LIMITS["idle_timeout_seconds"] + 3
    sock = connect(5)
    try:
        sock.sendall(build_request("GET", "/healthz", keep_alive=True))
        r = read_response(sock, 5)
        expect_status(r, 200, "first request")
        how, took = wait_closed(sock, limit)
        check(how != "still open", f"still open after {took:.1f} s idle (limit {limit} s)")
    finally:
        sock.close()


def _slow_body(body, first, per_tick, tick, limit):
    """Sends a bundle upload head declaring len(body) bytes, then the first `first` bytes,
    then the next `per_tick` bytes every `tick` s (real bundle bytes, so the reader never
    has a reason to refuse them); returns (how, seconds) once the server answers/closes or
    `limit` passes."""
    h = {"Authorization": f"Bearer {W.A.token}", "Content-Type": "application/gzip", "Content-Length": str(len(body))}
    sock = connect(5)
    try:
        sock.sendall(build_request("POST", "/api/v1/bundles", h) + body[:first])
        start = time.monotonic()
        pos = first
        while time.monotonic() - start < limit:
            how, _ = wait_closed(sock, tick, allow_statuses=(408,))
            if how != "still open":
                return how, time.monotonic() - start
            if per_tick:
                try:
                    sock.sendall(body[pos:pos + per_tick])
                except OSError:
                    return "closed (send failed)", time.monotonic() - start
                pos += per_tick
        return "still open", time.monotonic() - start
    finally:
        sock.close()


def _slow_outcome_ok(how):
    return how in ("closed", "reset", "closed (send failed)") or how.startswith("answered 408")


@case("slowloris_body", "1 MB declared, 8 bytes/s sent: 408 request_timeout or closed within the body timeouts+3 s; tmp/ empty")
def _():
    limit = max(LIMITS["body_idle_timeout_seconds"], LIMITS["body_rate_grace_seconds"]) + 3
    body = bundle(W.A, member("attachments/r.bin", os.urandom(1_000_000)))
    how, took = _slow_body(body, 64, 8, 1.0, limit + 1)
    print(f"    (slow body: {how} after {took:.1f} s)", flush=True)
    check(_slow_outcome_ok(how), f"{how} after {took:.1f} s (limit {limit} s)")
    check(took <= limit + 0.5, f"{how} only after {took:.1f} s (limit {limit} s)")


@case("stalled_body", "1 MB declared, 64 bytes sent then nothing: 408 or closed within body_idle_timeout+3 s; tmp/ empty")
def _():
    limit = LIMITS["body_idle_timeout_seconds"] + 3
    body = bundle(W.A, member("attachments/r.bin", os.urandom(1_000_000)))
    how, took = _slow_body(body, 64, 0, 0.5, limit + 1)
    print(f"    (stalled body: {how} after {took:.1f} s)", flush=True)
    check(_slow_outcome_ok(how), f"{how} after {took:.1f} s (limit {limit} s)")
    check(took <= limit + 0.5, f"{how} only after {took:.1f} s (limit {limit} s)")


@case("max_connections", "past max_connections extra connections get 503 or are closed; the server serves again afterwards")
def _():
    n = LIMITS["max_connections"]
    held = []
    try:
        for _ in range(n):
            held.append(connect(5))
        time.sleep(0.3)
        results = [None] * 6

        def probe(i):
            try:
                s = connect(3)
            except OSError as e:
                results[i] = f"refused ({e.__class__.__name__})"
                return
            try:
                s.sendall(build_request("GET", "/healthz"))
                r = read_response(s, 1.5)
                results[i] = r
            except Closed:
                results[i] = "closed"
            except socket.timeout:
                results[i] = "no answer"
            except OSError as e:
                results[i] = f"closed ({e.__class__.__name__})"
            finally:
                s.close()

        threads = [threading.Thread(target=probe, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(6)
        print(f"    (extra connections: {[r.status if isinstance(r, Response) else r for r in results]})", flush=True)
        for i, res in enumerate(results):
            if isinstance(res, Response):
                expect_error(res, 503, None, f"extra connection {i}")
            else:
                check(res is not None and res != "no answer",
                      f"extra connection {i}: {res} (neither 503 nor closed within 1.5 s)")
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)
    expect_status(get("/healthz"), 200, "after releasing the connections")


def _partial_upload(host, body, first_bytes):
    """Opens an upload and sends its head and the first bytes; returns the socket."""
    s = connect(5)
    s.sendall(build_request("POST", "/api/v1/bundles", {"Authorization": f"Bearer {host.token}",
                                                        "Content-Type": "application/gzip",
                                                        "Content-Length": str(len(body))}) + body[:first_bytes])
    return s


@case("upload_fairness", "A holds 2 slow uploads (max_uploads_per_host=2): A's third gets 429 + Retry-After, B's upload gets 201")
def _():
    big = bundle(W.A, member("attachments/r.bin", os.urandom(1 * MiB)))
    socks = []
    stop = threading.Event()

    def trickle(s, start):
        pos = start
        while not stop.is_set() and pos < len(big) - 1:
            try:
                s.sendall(big[pos:pos + 8192])
            except OSError:
                return
            pos += 8192
            stop.wait(0.25)

    threads = []
    try:
        for _ in range(2):
            s = _partial_upload(W.A, big, 4096)
            socks.append(s)
            t = threading.Thread(target=trickle, args=(s, 4096), daemon=True)
            t.start()
            threads.append(t)
        time.sleep(0.7)
        for s in socks:
            how, _ = wait_closed(s, 0.01)
            check(how == "still open", f"a slow upload of A ended early: {how}")
        r = upload(W.A, bundle(W.A), timeout=10)
        expect_error(r, 429, "too_many_uploads_from_host", "A's third upload")
        check(r.headers.get("retry-after", "").isdigit(), f"no Retry-After on 429: {r.headers}")
        r = upload(W.B, bundle(W.B), timeout=10)
        expect_status(r, 201, "B's upload while A holds its slots")
    finally:
        stop.set()
        for t in threads:
            t.join(2)
        for s in socks:
            s.close()
    return {"bundles": 1}


@case("global_upload_slots", "A, B, C and D hold 2 slow uploads each (8 = max_concurrent_uploads): E's upload answers 429 too_many_uploads + Retry-After")
def _():
    stop = threading.Event()
    socks, threads = [], []
    bodies = {}

    def trickle(s, body, start):
        pos = start
        while not stop.is_set() and pos < len(body) - 1:
            try:
                s.sendall(body[pos:pos + 8192])
            except OSError:
                return
            pos += 8192
            stop.wait(0.25)

    try:
        for host in (W.A, W.B, W.C3, W.D):
            for _ in range(2):
                body = bundle(host, member("attachments/r.bin", os.urandom(1 * MiB)))
                s = _partial_upload(host, body, 4096)
                socks.append(s)
                t = threading.Thread(target=trickle, args=(s, body, 4096), daemon=True)
                t.start()
                threads.append(t)
        time.sleep(0.7)
        for s in socks:
            how, _ = wait_closed(s, 0.01)
            check(how == "still open", f"a slow upload ended early: {how}")
        r = upload(W.E, bundle(W.E), timeout=10)
        expect_error(r, 429, "too_many_uploads", "E's upload with every slot taken")
        check(r.headers.get("retry-after", "").isdigit(), f"no Retry-After on 429: {r.headers}")
    finally:
        stop.set()
        for t in threads:
            t.join(2)
        for s in socks:
            s.close()
    time.sleep(0.3)
    expect_status(upload(W.E, bundle(W.E), timeout=10), 201, "E's upload once the slots are free")
    return {"bundles": 1}


@case("host_bundles_per_hour", "host D's 7th stored bundle within the hour (host_bundles_per_hour=6) answers 429 host_rate_limited + Retry-After")
def _():
    allowed = LIMITS["host_bundles_per_hour"]
    for i in range(allowed):
        expect_status(upload(W.D, bundle(W.D)), 201, f"bundle {i + 1} of {allowed}")
    r = upload(W.D, bundle(W.D))
    expect_error(r, 429, "host_rate_limited", f"bundle {allowed + 1}")
    check(r.headers.get("retry-after", "").isdigit(), f"no numeric Retry-After: {r.headers}")
    return {"bundles": allowed}


@case("host_max_stored_mb", "host E past host_max_stored_mb=8 (two 3.5 MB bundles stored, a third declared) answers 507 host_quota_exceeded")
def _():
    # E stored one small bundle in global_upload_slots.
    for i in range(2):
        expect_status(upload(W.E, bundle(W.E, member("attachments/r.bin", os.urandom(3_500_000)))), 201, f"bundle {i + 1}")
    r = upload(W.E, bundle(W.E, member("attachments/r.bin", os.urandom(3_500_000))))
    expect_error(r, 507, "host_quota_exceeded", "third bundle")
    check(r.headers.get("retry-after", "").isdigit(), f"no numeric Retry-After: {r.headers}")
    return {"bundles": 2}


@case("host_max_stored_mb_chunked", "E, within 3.5 MB of host_max_stored_mb=8, sends 3.5 MB chunked (no Content-Length): the quota still holds, 507 host_quota_exceeded")
def _():
    quota = LIMITS["host_max_stored_mb"] * MiB
    stored = db_query("SELECT coalesce(sum(compressed_bytes), 0) FROM bundles WHERE host_id = ?", (W.E.id,))[0][0]
    filled = 0
    while stored + 3_600_000 <= quota:  # bring E near its quota first (when run alone)
        body = bundle(W.E, member("attachments/r.bin", os.urandom(3_500_000)))
        expect_status(upload(W.E, body), 201, "filling E's quota")
        stored += len(body)
        filled += 1
    r = upload(W.E, bundle(W.E, member("attachments/r.bin", os.urandom(3_500_000))), chunked=True)
    expect_error(r, 507, "host_quota_exceeded", "chunked upload past the quota")
    return {"bundles": filled}


@case("pipelined_after_early_error", "bytes of a refused upload's body are never parsed as requests: a pipelined GET /healthz gets 200 (or the connection closes)")
def _():
    fake = b"GET /api/v1/hosts HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x07" + fake * (200_000 // len(fake))
    raw = build_request("POST", "/api/v1/bundles", {"Authorization": f"Bearer {W.A.token}", "Content-Type": "application/gzip"},
                        body, keep_alive=True) + build_request("GET", "/healthz")
    sock = connect(5)
    data = b""
    try:
        sock.sendall(raw)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, BrokenPipeError):
                break
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    check(statuses, f"no answer at all: {data[:200]!r}")
    print(f"    (pipelined answers: {statuses})", flush=True)
    check(statuses[0] == 422 and b"corrupt_gzip" in data, f"first answer: {data[:300]!r}")
    check(all(st in (200, 422) for st in statuses) and len(statuses) <= 2,
          f"answers {statuses}: body bytes were parsed as requests")


@case("upload_aborted_midway", "an upload whose client disconnects mid-body leaves nothing in tmp/ and no row")
def _():
    big = bundle(W.A, member("attachments/r.bin", os.urandom(1 * MiB)))
    s = _partial_upload(W.A, big, 300 * 1024)
    time.sleep(0.5)
    s.close()


# =======================================================================================
# JSON bodies: enroll

def enroll_body(**over):
    b = {"secret": C.secret, "hostname": "hostile-enroll", "machineID": f"hostile-e-{uuid.uuid4().hex[:8]}"}
    b.update(over)
    return b


@case("enroll_missing_fields", "enroll without machineID / hostname / secret answers 400 invalid_json")
def _():
    for drop in ("machineID", "hostname", "secret"):
        b = enroll_body()
        del b[drop]
        expect_error(post_json("/api/v1/enroll", b), 400, "invalid_json", f"without {drop}")
    expect_error(post_json("/api/v1/enroll", {}), 400, "invalid_json", "empty object")


@case("enroll_wrong_types", "enroll with a numeric hostname or array machineID answers 400 invalid_json")
def _():
    expect_error(post_json("/api/v1/enroll", enroll_body(hostname=12)), 400, "invalid_json")
    expect_error(post_json("/api/v1/enroll", enroll_body(machineID=["a"])), 400, "invalid_json")
    expect_error(post_json("/api/v1/enroll", b"[]"), 400, "invalid_json")


@case("enroll_huge_hostname", "a 300-byte and a 900 KiB hostname answer 400 invalid_hostname")
def _():
    expect_error(post_json("/api/v1/enroll", enroll_body(hostname="h" * 300)), 400, "invalid_hostname")
    expect_error(post_json("/api/v1/enroll", enroll_body(hostname="h" * (900 * 1024))), 400, "invalid_hostname")
    expect_error(post_json("/api/v1/enroll", enroll_body(hostname=" \t\n ")), 400, "invalid_hostname", "blank")


@case("enroll_machine_id_slash", "machineID ../../etc answers 400 invalid_machine_id")
def _():
    expect_error(post_json("/api/v1/enroll", enroll_body(machineID="../../etc/passwd")), 400, "invalid_machine_id")
    expect_error(post_json("/api/v1/enroll", enroll_body(machineID="a/b")), 400, "invalid_machine_id")


@case("enroll_machine_id_nul", "machineID with \\u0000 answers 400 invalid_machine_id; with a raw NUL 400 invalid_json")
def _():
    expect_error(post_json("/api/v1/enroll", enroll_body(machineID="abc\u0000def")), 400, "invalid_machine_id")
    raw = json.dumps(enroll_body(machineID="XXNULXX")).encode().replace(b"XXNULXX", b"abc\x00def")
    expect_error(post_json("/api/v1/enroll", raw), 400, "invalid_json", "raw NUL")


@case("enroll_machine_id_non_ascii", "machineID \"été\" / Arabic digits (outside ^[A-Za-z0-9_-]{1,128}$) answers 400 invalid_machine_id")
def _():
    expect_error(post_json("/api/v1/enroll", enroll_body(machineID="\u00e9t\u00e9")), 400, "invalid_machine_id", "été")
    expect_error(post_json("/api/v1/enroll", enroll_body(machineID="\u0661\u0662\u0663")), 400, "invalid_machine_id", "Arabic-Indic digits")


@case("enroll_body_2mb", "a 2 MB enroll body answers 413 body_too_large")
def _():
    expect_error(post_json("/api/v1/enroll", enroll_body(hostname="h" * (2 * MiB))), 413, "body_too_large")


@case("enroll_invalid_json", "enroll bodies that are not JSON answer 400 invalid_json")
def _():
    for raw in (b"{", b"not json", b'{"secret":', b"\xff\xfe{}", b"", b"null"):
        expect_error(post_json("/api/v1/enroll", raw), 400, "invalid_json", repr(raw))


@case("enroll_deep_nesting", "an enroll body of 100k '[' answers 400 invalid_json")
def _():
    expect_error(post_json("/api/v1/enroll", b"[" * 100_000), 400, "invalid_json")


@case("enroll_bad_secret", "a wrong enrollment secret answers 401 invalid_secret, no host row")
def _():
    expect_error(post_json("/api/v1/enroll", enroll_body(secret="hle_" + "0" * 43)), 401, "invalid_secret")
    expect_error(post_json("/api/v1/enroll", enroll_body(secret="x" * (512 * 1024))), 401, "invalid_secret", "huge secret")


# =======================================================================================
# JSON bodies: heartbeats

def heartbeat(host, **over):
    hb = {"schemaVersion": 1, "host": {"hostID": host.id, "hostname": host.hostname, "machineID": host.machine},
          "sentAt": "2026-11-29T08:00:00Z", "agentVersion": "hostile-suite", "filesystems": [], "topProcesses": [],
          "failedUnits": [], "spooledBundles": 0}
    hb.update(over)
    return hb


@case("heartbeat_unknown_keys", "a heartbeat with unknown keys is accepted (202) but the unknown keys are not stored")
def _():
    marker = "HOSTILEMARKER" + uuid.uuid4().hex[:8]
    hb = heartbeat(W.A)
    hb[marker + "_top"] = {"payload": "x" * 1000}
    hb["host"][marker + "_host"] = "y"
    expect_status(post_json("/api/v1/heartbeats", hb, token=W.A.token), 202, "heartbeat")
    rows = db_query("SELECT count(*) FROM heartbeats_latest WHERE body LIKE ?", (f"%{marker}%",))[0][0]
    check(rows == 0, f"unknown keys were stored verbatim in {rows} heartbeat row(s)")
    r = get(f"/api/v1/hosts/{W.A.id}", token=W.api)
    check(marker.encode() not in r.body, "unknown keys come back from GET /api/v1/hosts/{id}")
    return {"health_history": 1}


@case("heartbeat_1mib_string", "a heartbeat with a 1 MiB agentVersion answers 413 body_too_large, nothing stored")
def _():
    expect_error(post_json("/api/v1/heartbeats", heartbeat(W.A, agentVersion="v" * MiB), token=W.A.token), 413, "body_too_large")


@case("heartbeat_900k_strings", "a heartbeat under the body limit but with 900 KiB strings (hostname, agentVersion) is refused with 422, nothing stored")
def _():
    hb = heartbeat(W.A, agentVersion="v" * (900 * 1024))
    expect_error(post_json("/api/v1/heartbeats", hb, token=W.A.token), 422, "heartbeat_too_large", "900 KiB agentVersion")
    hb = heartbeat(W.A)
    hb["host"]["hostname"] = "h" * (900 * 1024)
    expect_error(post_json("/api/v1/heartbeats", hb, token=W.A.token), 422, "heartbeat_too_large", "900 KiB hostname")


@case("heartbeat_other_host", "a heartbeat naming host B sent with A's token answers 403 host_mismatch")
def _():
    expect_error(post_json("/api/v1/heartbeats", heartbeat(W.B), token=W.A.token), 403, "host_mismatch")


@case("heartbeat_schema", "heartbeat schemaVersion 999 answers 422 unsupported_schema")
def _():
    expect_error(post_json("/api/v1/heartbeats", heartbeat(W.A, schemaVersion=999), token=W.A.token), 422, "unsupported_schema")


@case("heartbeat_invalid", "heartbeats that are not JSON / wrong types / 100k '[' answer 400 invalid_json")
def _():
    expect_error(post_json("/api/v1/heartbeats", b"{nope", token=W.A.token), 400, "invalid_json")
    expect_error(post_json("/api/v1/heartbeats", heartbeat(W.A, spooledBundles="many"), token=W.A.token), 400, "invalid_json")
    expect_error(post_json("/api/v1/heartbeats", b"[" * 100_000, token=W.A.token), 400, "invalid_json", "nesting")
    expect_error(post_json("/api/v1/heartbeats", heartbeat(W.A, spooledBundles=1e400), token=W.A.token), 400, "invalid_json", "1e400")
    raw = json.dumps(heartbeat(W.A, spooledBundles=7)).encode().replace(b'"spooledBundles": 7', b'"spooledBundles": 9223372036854775808')
    expect_error(post_json("/api/v1/heartbeats", raw, token=W.A.token), 400, "invalid_json", "2^63")


@case("heartbeat_extreme_times", "heartbeats sentAt year 300000 / 0001 answer 202 or 400/422, and GET /api/v1/hosts/{id} and /hosts answer 200 afterwards")
def _():
    accepted = 0
    for sent in ("300000-01-01T00:00:00Z", "0001-01-01T00:00:00Z"):
        r = post_json("/api/v1/heartbeats", heartbeat(W.D, sentAt=sent), token=W.D.token)
        if r.status == 202:
            accepted += 1
        else:
            expect_error(r, {400, 422}, None, f"sentAt {sent}")
        expect_status(get(f"/api/v1/hosts/{W.D.id}", token=W.api), 200, f"host detail after sentAt {sent}")
        expect_status(get("/api/v1/hosts", token=W.api), 200, f"host list after sentAt {sent}")
    return {"health_history": accepted}


@case("heartbeat_other_machine_id", "a heartbeat without hostID but with host B's machine id, sent with A's token, answers 403 host_mismatch (as bundles do)")
def _():
    hb = heartbeat(W.A)
    hb["host"] = {"hostname": "impostor", "machineID": W.B.machine}
    expect_error(post_json("/api/v1/heartbeats", hb, token=W.A.token), 403, "host_mismatch")


@case("heartbeat_key_flood", "a heartbeat carrying ~60k unknown keys (just under 1 MiB) is decoded quickly (202 < 3 s) and stored small (<= max_heartbeat_bytes)")
def _():
    hb = heartbeat(W.B)
    for i in range(60_000):
        hb[f"k{i}"] = i
    body = json.dumps(hb, separators=(",", ":")).encode()
    check(len(body) < MiB, f"fixture is {len(body)} bytes")
    started = time.monotonic()
    expect_status(post_json("/api/v1/heartbeats", body, token=W.B.token), 202, "key flood")
    took = time.monotonic() - started
    check(took < 3, f"took {took:.1f} s")
    size = db_query("SELECT length(body) FROM heartbeats_latest WHERE host_id = ?", (W.B.id,))[0][0]
    check(size <= 64 * 1024, f"stored heartbeat is {size} bytes")
    return {"health_history": 1}


@case("heartbeat_burst", "heartbeats beyond heartbeats_per_hour from one host answer 429 with Retry-After")
def _():
    allowed = LIMITS["heartbeats_per_hour"]
    statuses = []
    limited = None
    for _ in range(allowed + 5):
        r = post_json("/api/v1/heartbeats", heartbeat(W.C3), token=W.C3.token, timeout=5)
        statuses.append(r.status)
        if r.status == 429:
            limited = r
            break
    check(limited is not None, f"{len(statuses)} heartbeats, none refused (statuses {sorted(set(statuses))})")
    expect_error(limited, 429, "heartbeat_rate_limited", "burst")
    check(limited.headers.get("retry-after", "").isdigit(), f"no numeric Retry-After: {limited.headers}")
    accepted = statuses.count(202)
    check(accepted <= allowed, f"{accepted} accepted, over the limit of {allowed}")
    check(all(s in (202, 429) for s in statuses), f"statuses {statuses}")
    return {"health_history": accepted}


@case("auth_missing_and_wrong", "uploads without a token, or with an API token, answer 401; technician routes refuse host tokens")
def _():
    r = request("POST", "/api/v1/bundles", body=bundle(W.A), content_type="application/gzip")
    expect_error(r, 401, "missing_token")
    r = request("POST", "/api/v1/bundles", body=bundle(W.A), token=W.api, content_type="application/gzip")
    expect_error(r, 401, "invalid_token", "API token on host route")
    expect_error(get("/api/v1/tickets", token=W.A.token), 401, "invalid_token", "host token on technician route")
    expect_error(get("/api/v1/tickets", token="hlt_" + "A" * 5000), 401, "invalid_token", "5000-char token")


# =======================================================================================
# Query parameters and path segments on the technician routes

HOSTILE_TIMES = ["300000-01-01T00:00:00Z", "-999999-01-01", "0000-00-00", "1e400", "NaN", ""]


def _each(paths, expected):
    """GETs every path with the API token; each answers one of `expected` ({status: codes})."""
    for p in paths:
        r = get(p, token=W.api, timeout=10)
        if r.status in expected and expected[r.status] == "ok":
            continue
        if r.status not in expected:
            raise CaseFailure(f"GET {p[:160]}: expected {sorted(expected)}, got {r.short()}")
        expect_error(r, r.status, expected[r.status], f"GET {p[:160]}")


def _q(s):
    from urllib.parse import quote
    return quote(s, safe="")


@case("journal_since_hostile", "journal ?since= with year 300000, -999999, 0000-00-00, 1e400, NaN, empty: 400 invalid_query")
def _():
    _each([f"/api/v1/bundles/{W.stored_bundle}/journal?since={_q(t)}" for t in HOSTILE_TIMES], {400: "invalid_query"})


@case("journal_until_hostile", "journal ?until= with the same hostile times: 400 invalid_query")
def _():
    _each([f"/api/v1/bundles/{W.stored_bundle}/journal?until={_q(t)}" for t in HOSTILE_TIMES], {400: "invalid_query"})


@case("journal_priority_hostile", "journal ?priority= -1, 8, 1e9, abc, 9223372036854775808: 400 invalid_query")
def _():
    _each([f"/api/v1/bundles/{W.stored_bundle}/journal?priority={_q(v)}" for v in ("-1", "8", "1e9", "abc", "9223372036854775808")],
          {400: "invalid_query"})


BAD_NUMBERS = ["-1", "0", "9223372036854775808", "1e9", "abc"]


@case("limit_hostile", "limit -1, 0, 2^63, 1e9, abc on tickets, journal, host bundles, incidents, own tickets: 400 invalid_query")
def _():
    paths = []
    for v in BAD_NUMBERS:
        paths += [f"/api/v1/tickets?limit={_q(v)}", f"/api/v1/bundles/{W.stored_bundle}/journal?limit={_q(v)}",
                  f"/api/v1/hosts/{W.A.id}/bundles?limit={_q(v)}", f"/api/v1/incidents?limit={_q(v)}"]
    _each(paths, {400: "invalid_query"})
    for v in BAD_NUMBERS:
        expect_error(get(f"/api/v1/hosts/self/tickets?limit={_q(v)}", token=W.A.token), 400, "invalid_query", f"own tickets limit={v}")


@case("offset_hostile", "offset -1, 2^63, 1e9, abc answer 400 invalid_query; offset 0 is valid (200)")
def _():
    paths = []
    for v in ("-1", "9223372036854775808", "1e9", "abc", "99999999999"):
        paths += [f"/api/v1/tickets?offset={_q(v)}", f"/api/v1/bundles/{W.stored_bundle}/journal?offset={_q(v)}",
                  f"/api/v1/hosts/{W.A.id}/bundles?offset={_q(v)}"]
    _each(paths, {400: "invalid_query"})
    for p in (f"/api/v1/tickets?offset=0", f"/api/v1/bundles/{W.stored_bundle}/journal?offset=0"):
        expect_status(get(p, token=W.api), 200, p)


@case("ticket_ids_hostile", "ticket ids 0, -1, 99999999999999999999, .., ../, %00, 1e3: 400 invalid_ticket_id (404 for path tricks)")
def _():
    ids = ["0", "-1", "99999999999999999999", "1e3", "%00", "abc"]
    for sub in ("", "/bundles"):
        _each([f"/api/v1/tickets/{i}{sub}" for i in ids], {400: "invalid_ticket_id"})
    _each(["/api/v1/tickets/../", "/api/v1/tickets/..", "/api/v1/tickets/%2e%2e%2f", "/api/v1/tickets/..%2F..%2Fhealthz"],
          {400: "invalid_ticket_id", 404: "not_found"})
    _each(["/api/v1/tickets/9223372036854775807"], {404: "not_found"})


@case("ticket_ids_hostile_writes", "PATCH/comment/split on ticket ids 0 and 2^64 answer 400 invalid_ticket_id")
def _():
    for i in ("0", "18446744073709551616"):
        expect_error(request("PATCH", f"/api/v1/tickets/{i}", body=b'{"status":"closed"}', token=W.api,
                             content_type="application/json"), 400, "invalid_ticket_id", f"PATCH {i}")
        expect_error(request("POST", f"/api/v1/tickets/{i}/comments", body=b'{"body":"x"}', token=W.api,
                             content_type="application/json"), 400, "invalid_ticket_id", f"comment {i}")
    r = request("POST", f"/api/v1/tickets/{W.ticket_id}/split", body=json.dumps({"bundleID": "../../x"}).encode(),
                token=W.api, content_type="application/json")
    expect_error(r, 400, "invalid_bundle_id", "split with a bad bundle id")


@case("bundle_ids_hostile", "bundle ids that are not UUIDs (../, %00, 5000 chars, SQL) answer 400 invalid_bundle_id")
def _():
    ids = [_q(i) for i in ("not-a-uuid", "\0", "x" * 5000, "1' OR '1'='1", "00000000-0000-0000-0000-00000000000g",
                           W.stored_bundle + "\0", "../" + W.stored_bundle, "..")]
    for sub in ("", "/raw", "/journal", "/members/manifest.json"):
        _each([f"/api/v1/bundles/{i}{sub}" for i in ids], {400: "invalid_bundle_id", 404: "not_found"})
    _each([f"/api/v1/bundles/{uuid.uuid4()}/journal"], {404: "not_found"})


@case("member_names_hostile", "member names with .., %00, ../../collector.sqlite answer 404 not_found, never file contents")
def _():
    base = f"/api/v1/bundles/{W.stored_bundle}/members/"
    names = ["..", "../..", "../../collector.sqlite", "%2e%2e/%2e%2e/collector.sqlite", "..%2F..%2Fcollector.sqlite",
             "manifest.json%00", "%00", "manifest.json%00.txt", "attachments/../manifest.json", "/etc/passwd",
             "%2Fetc%2Fpasswd", "x" * 5000]
    for n in names:
        r = get(base + n, token=W.api)
        check(b"SQLite format" not in r.body and b"root:" not in r.body, f"{n}: served file contents")
        if r.status not in (400, 404):
            raise CaseFailure(f"member {n[:80]}: expected 400/404, got {r.short()}")
        expect_error(r, r.status, {"not_found", "invalid_member", "bad_request"}, f"member {n[:80]}")
    expect_status(get(base + "manifest.json", token=W.api), 200, "sanity: manifest.json")


@case("incident_and_host_ids_hostile", "incident ids abc, 2^64, -1 and host ids of 5000 chars / ../ / %00 answer 400 or 404")
def _():
    _each(["/api/v1/incidents/abc", "/api/v1/incidents/18446744073709551616", "/api/v1/incidents/1e3"],
          {400: "invalid_id"})
    _each(["/api/v1/incidents/-1", "/api/v1/incidents/0"], {400: "invalid_id", 404: "not_found"})
    _each(["/api/v1/hosts/" + "h" * 5000, "/api/v1/hosts/%00", "/api/v1/hosts/..%2F..", "/api/v1/hosts/x/bundles?limit=1",
           "/api/v1/hosts/%27%20OR%201%3D1--"], {400: None, 404: "not_found"})
    _each(["/api/v1/tickets?status=" + _q("open' OR 1=1"), "/api/v1/tickets?status=%00"], {400: "invalid_query"})


@case("comment_hostile", "comments that are blank, 64 KiB + 1, not JSON, 2 MB, or on ticket 0 are refused (400/413) and store nothing")
def _():
    before = db_query("SELECT count(*) FROM ticket_comments")[0][0]
    path = f"/api/v1/tickets/{W.ticket_id}/comments"

    def post(body):
        return request("POST", path, body=body if isinstance(body, bytes) else json.dumps(body).encode(),
                       token=W.api, content_type="application/json")
    expect_error(post({"body": " \n\t "}), 400, "invalid_comment", "blank")
    expect_error(post({"body": "x" * (64 * 1024 + 1)}), 400, "invalid_comment", "64 KiB + 1")
    expect_error(post({"body": 12}), 400, "invalid_json", "number body")
    expect_error(post(b"{"), 400, "invalid_json", "not JSON")
    expect_error(post(b"[" * 100_000), 400, "invalid_json", "nesting")
    expect_error(post({"body": "x" * (2 * MiB)}), 413, "body_too_large", "2 MB")
    after = db_query("SELECT count(*) FROM ticket_comments")[0][0]
    check(after == before, f"ticket_comments grew from {before} to {after}")


@case("ticket_update_hostile", "PATCH with an unknown status/priority or wrong types answers 400 invalid_json and leaves the ticket as it was")
def _():
    row = lambda: db_query("SELECT status, priority, assignee, updated_at FROM tickets WHERE id = ?", (W.ticket_id,))
    before = row()
    path = f"/api/v1/tickets/{W.ticket_id}"
    for body in ({"status": "hacked"}, {"priority": 5}, {"assignee": {"name": "x"}}, {"status": None, "priority": "urgent!"}):
        r = request("PATCH", path, body=json.dumps(body).encode(), token=W.api, content_type="application/json")
        expect_error(r, 400, "invalid_json", json.dumps(body))
    r = request("PATCH", path, body=b"{}", token=W.api, content_type="text/plain")
    expect_error(r, 415, "unsupported_media_type", "text/plain")
    check(row() == before, f"ticket changed: {before} -> {row()}")


@case("ticket_assignee_not_a_user", "PATCH with an assignee nobody is (or of 65 code points) answers 400 invalid_assignee and changes nothing, the category in it included")
def _():
    row = lambda: db_query("SELECT status, priority, assignee, category, updated_at FROM tickets WHERE id = ?", (W.ticket_id,))
    before = row()
    path = f"/api/v1/tickets/{W.ticket_id}"
    for name in ("mallory", "a\u0301" * 40, "x" * 10_000):
        body = {"assignee": name, "category": "network", "status": "resolved"}
        r = request("PATCH", path, body=json.dumps(body).encode(), token=W.api, content_type="application/json")
        expect_error(r, 400, "invalid_assignee", f"assignee of {len(name)} code points")
    check(row() == before, f"ticket changed: {before} -> {row()}")


@case("admin_cli_names_and_lifetimes", "admin token create/user add refuse names over 64 code points (combining marks too) and lifetimes outside 1-3650 days, with a message and no row")
def _():
    def run(*args):
        return subprocess.run([C.binary, "admin", *args, "--data-dir", C.data], input="correct horse battery staple\n",
                              capture_output=True, text=True, timeout=30, cwd=C.work)
    tokens = db_query("SELECT count(*) FROM api_tokens")[0][0]
    users = db_query("SELECT count(*) FROM users")[0][0]
    for args, words in ((("token", "create", "e\u0301" * 33), "1 to 64"), (("token", "create", "tab\tname"), "control"),
                        (("token", "create", "ok-name", "--expires-in-days", "0"), "1 to 3650"),
                        (("token", "create", "ok-name", "--expires-in-days", "3651"), "1 to 3650"),
                        (("token", "create", "ok-name", "--expires-in-days", "-5"), ""),
                        (("token", "create", "ok-name", "--expires-in-days", "99999999999999999999"), ""),
                        (("user", "add", "e\u0301" * 33, "--password-stdin"), "1 to 64")):
        out = run(*args)
        check(out.returncode != 0 and words in out.stderr, f"admin {' '.join(args[:2])} {args[2][:20]!r}…: exit {out.returncode}, {out.stderr.strip()[:200]}")
    check(db_query("SELECT count(*) FROM api_tokens")[0][0] == tokens, "a refused token was stored")
    check(db_query("SELECT count(*) FROM users")[0][0] == users, "a refused user was stored")
    out = run("token", "create", "e\u0301" * 32, "--expires-in-days", "3650")
    check(out.returncode == 0, f"a name of 64 code points and 3650 days: exit {out.returncode}, {out.stderr.strip()[:200]}")
    check(db_query("SELECT count(*) FROM api_tokens WHERE name = ?", ("e\u0301" * 32,))[0][0] == 1, "the 64-code-point token is not stored")


@case("odd_methods_and_targets", "unknown methods, absolute-form and '*' targets, 5000 query parameters: 4xx (JSON when routed), never 5xx")
def _():
    for method, path in (("DELETE", "/api/v1/bundles"), ("PUT", "/api/v1/tickets/1"), ("PATCH", "/healthz"),
                         ("BREW", "/api/v1/tickets"), ("TRACE", "/"), ("GET", "/api/v1/../../etc/passwd"),
                         ("GET", "/%2e%2e/%2e%2e/etc/passwd"), ("GET", "//api/v1//tickets")):
        outcome = closed_or_response(build_request(method, path, {"Authorization": f"Bearer {W.api}"}), 5)
        if isinstance(outcome, Response) and outcome.status == 200 and path.startswith("//"):
            continue  # empty path segments are collapsed: the ticket list, legitimately
        if isinstance(outcome, Response) and outcome.status in (401, 404, 405):
            expect_error(outcome, outcome.status, {"not_found", "method_not_allowed", "missing_token", "invalid_token"}, f"{method} {path}")
        else:
            expect_refused_at_http_level(outcome, f"{method} {path}", allowed=(400, 501))
        if isinstance(outcome, Response):
            check(b"root:" not in outcome.body, f"{method} {path} served /etc/passwd")
    for target in ("http://evil.example/healthz", "*"):
        outcome = closed_or_response(build_request("GET", target), 5)
        if isinstance(outcome, Response) and outcome.status in (200, 404):
            continue  # absolute-form is legal HTTP/1.1; only a 5xx or a hang is wrong
        expect_refused_at_http_level(outcome, f"GET {target}", allowed=(400,))
    r = get("/api/v1/tickets?" + "&".join(f"limit={i % 7 + 1}" for i in range(5000)), token=W.api)
    check(r.status in (200, 400), f"5000 query parameters: {r.short()}")


@case("journal_read_pool", "6 concurrent full scans of the million-line journal: each 200 or 503 too_many_reads/read_too_slow + Retry-After; /healthz stays under 1 s meanwhile")
def _():
    stored = 0
    if W.million_bundle is None:  # when run alone
        lines = b"".join(b'{"ts":%d}\n' % (1_000_000 + i) for i in range(1_000_000))
        r = expect_status(upload(W.A, bundle(W.A, journal=lines), timeout=40), 201, "million-line fixture")
        W.million_bundle = r.json()["bundleID"]
        stored = 1
    path = f"/api/v1/bundles/{W.million_bundle}/journal?q=no-such-text&limit=1&offset=999000"
    results = [None] * 6

    def read(i):
        try:
            results[i] = get(path, token=W.api, timeout=30)
        except (Closed, OSError) as e:
            results[i] = f"{e.__class__.__name__}: {e}"

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(results))]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(0.2)
    h0 = time.monotonic()
    expect_status(get("/healthz", timeout=5), 200, "healthz during the scans")
    health_took = time.monotonic() - h0
    for t in threads:
        t.join(35)
    took = time.monotonic() - started
    print(f"    (scans: {[(r.status, r.code()) if isinstance(r, Response) else r for r in results]} in {took:.1f} s; healthz {health_took * 1000:.0f} ms)", flush=True)
    for i, r in enumerate(results):
        if isinstance(r, Response) and r.status == 503:
            expect_error(r, 503, {"too_many_reads", "read_too_slow"}, f"scan {i}")
            check(r.headers.get("retry-after", "").isdigit(), f"scan {i}: no Retry-After")
        else:
            expect_status(r, 200, f"scan {i}")
    check(health_took < 1.0, f"/healthz took {health_took:.2f} s during the scans")
    # The read slots must be free again once the scans answered (a scan cut by its budget
    # must not keep its slot).
    freed = time.monotonic()
    deadline = freed + 5
    refusals = []
    while True:
        r = get(f"/api/v1/bundles/{W.stored_bundle}/journal?limit=1", token=W.api)
        if r.status == 200 or time.monotonic() > deadline:
            break
        refusals.append(r.code())
        time.sleep(0.1)
    print(f"    (a small read succeeded {time.monotonic() - freed:.1f} s after the scans answered; refused before: {refusals[:3]}…x{len(refusals)})", flush=True)
    expect_status(r, 200, "a small read after the scans")
    return {"bundles": stored}


@case("journal_text_filters_hostile", "journal ?q= and ?unit= with 64 KiB, %00, regex and %-patterns answer 200 (or 400/414/431), never 5xx")
def _():
    base = f"/api/v1/bundles/{W.stored_bundle}/journal"
    for v in ("%", "_", ".*", "(((((", "\0", "\u202e", "a" * 30_000):
        for key in ("q", "unit"):
            r = get(f"{base}?{key}={_q(v)}", token=W.api)
            check(r.status in (200, 400, 414, 431), f"{key}={v[:20]!r}: {r.short()}")
            if r.status == 200:
                check(isinstance(r.json(), dict) and "entries" in r.json(), f"{key}={v[:20]!r}: {r.short()}")


# =======================================================================================
# Runner


class Results:
    def __init__(self):
        self.passed = []
        self.failed = []
        self.lock = threading.Lock()
        self.printed_summary = False

    def summary_line(self):
        return f"{len(self.passed)} passed, {len(self.failed)} failed"


RESULTS = Results()


def wait_tmp_empty(seconds=3.0):
    deadline = time.monotonic() + seconds
    while True:
        files = tmp_files()
        if not files or time.monotonic() > deadline:
            return files
        time.sleep(0.1)


def post_checks(before, expected, err_offset):
    problems = []
    # Hostile input is the client's fault: the collector must not treat it as its own
    # failure (logged "unexpected failure", answered or counted as 500 `internal`).
    logged = {}
    for line in C.stderr_since(err_offset).splitlines():
        if "unexpected failure" in line or "fatal error" in line.lower():
            m = re.search(r"error=(.*?) hb\.request\.id", line)
            key = m.group(1) if m else line.strip()[:200]
            logged[key] = logged.get(key, 0) + 1
    for key, n in logged.items():
        problems.append(f"collector logged {n}x 'unexpected failure': {key[:200]}")
    if not C.alive():
        return [f"collector died (exit {C.proc.returncode}); stderr: {C.stderr_tail(1500)}"]
    try:
        r = get("/healthz", timeout=5)
        if r.status != 200:
            problems.append(f"/healthz answered {r.short()}")
    except (Closed, OSError) as e:
        problems.append(f"/healthz failed: {e}")
    left = wait_tmp_empty()
    if left:
        problems.append(f"tmp/ not empty: {left[:5]}")
    after = snapshot()
    want_bundles = expected.get("bundles", 0)
    for key in ("bundles", "hosts", "health_history"):
        delta = after[key] - before[key]
        want = expected.get(key, 0)
        if delta != want:
            problems.append(f"{key} rows changed by {delta} (expected {want})")
    for series, v in after["failures"].items():
        d = v - before["failures"].get(series, 0)
        if d:
            problems.append(f"/metrics: {series} +{d:g}")
    tdelta = after["tickets"] - before["tickets"]
    if tdelta < 0 or tdelta > want_bundles:
        problems.append(f"tickets changed by {tdelta} (expected 0..{want_bundles})")
    bdelta = after["blobs"] - before["blobs"]
    if bdelta != want_bundles:
        problems.append(f"blob files changed by {bdelta} (expected {want_bundles})")
    C.sample_rss()
    return problems


def run_case(name, proves, fn):
    started = time.monotonic()
    err_offset = C.stderr_size()
    try:
        before = snapshot()
    except Exception as e:  # the database must be readable
        before = None
        err = f"could not read the state before the case: {e}"
    problems = []
    expected = {}
    if before is not None:
        try:
            expected = fn() or {}
        except CaseFailure as e:
            problems.append(str(e))
        except (Closed, socket.timeout, OSError) as e:
            problems.append(f"{e.__class__.__name__}: {e}")
        except Exception as e:  # a bug in the case itself still counts as a failure
            problems.append(f"{e.__class__.__name__}: {e}")
        try:
            problems += post_checks(before, expected, err_offset)
        except Exception as e:
            problems.append(f"post-checks failed: {e.__class__.__name__}: {e}")
    else:
        problems.append(err)
    took = time.monotonic() - started
    if problems:
        RESULTS.failed.append(name)
        print(f"FAIL {name} ({took:.2f}s) — {proves}", flush=True)
        for p in problems:
            print(f"     {p}", flush=True)
    else:
        RESULTS.passed.append(name)
        print(f"ok   {name} ({took:.2f}s)", flush=True)
    if not C.alive():
        print(f"     collector died during {name}; restarting it on the same data directory", flush=True)
        C.sample_rss()
        C.start()


def watchdog(deadline):
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if RESULTS.printed_summary:
            return
    print(f"WATCHDOG: the run passed {RUN_DEADLINE_SECONDS} s; killing the collector", flush=True)
    try:
        C.proc.kill()
    except Exception:
        pass
    RESULTS.failed.append("watchdog")
    print(RESULTS.summary_line(), flush=True)
    os._exit(1)


def main():
    global C, RUN_DEADLINE_SECONDS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("HELPLINE_COLLECTOR_BIN"))
    ap.add_argument("--work", default=None, help="scratch folder (default: a new temp dir, removed at the end)")
    ap.add_argument("--only", default=os.environ.get("HOSTILE_ONLY"), help="regex: run only matching cases")
    ap.add_argument("--rss-mib", type=int, default=RSS_BOUND_MIB)
    ap.add_argument("--deadline", type=int, default=RUN_DEADLINE_SECONDS)
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()
    if args.list:
        for name, proves, _ in CASES:
            print(f"{name:45} {proves}")
        print(f"{len(CASES)} cases")
        return 0
    if not args.bin or not os.access(args.bin, os.X_OK):
        print("set HELPLINE_COLLECTOR_BIN (or --bin) to the built helpline-collector", file=sys.stderr)
        return 2
    RUN_DEADLINE_SECONDS = args.deadline
    run_started = time.monotonic()
    threading.Thread(target=watchdog, args=(run_started + RUN_DEADLINE_SECONDS,), daemon=True).start()
    own_work = args.work is None
    work = args.work or tempfile.mkdtemp(prefix="helpline-hostile-")
    os.makedirs(work, exist_ok=True)
    C = Collector(os.path.abspath(args.bin), work)
    def on_signal(signum, _frame):
        if C.proc is not None and C.proc.poll() is None:
            C.proc.kill()
        RESULTS.failed.append(f"interrupted by signal {signum}")
        print(RESULTS.summary_line(), flush=True)
        os._exit(1)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    rc = 1
    try:
        C.start()
        print(f"collector pid {C.proc.pid} on 127.0.0.1:{C.port}, data {C.data}", flush=True)
        if C.unsupported:
            print(f"NOTE: this binary does not know the limits {', '.join(C.unsupported)}; cases that need them will fail", flush=True)
        setup()
        fds_start = C.fd_count()
        selected = [(n, p, f) for n, p, f in CASES if not args.only or re.search(args.only, n)]
        for i, (name, proves, fn) in enumerate(selected):
            try:
                run_case(name, proves, fn)
            except Exception as e:  # the collector could not be restarted
                print(f"FAIL {name}: {e}; the remaining cases are not run", flush=True)
                RESULTS.failed.extend(n for n, _, _ in selected[i:])
                break

        def final_checks():
            fds_end = C.fd_count()
            problems = []
            if C.starts == 1 and fds_start is not None and fds_end is not None and fds_end > fds_start + 8:
                problems.append(f"open file descriptors grew from {fds_start} to {fds_end}")
            return problems

        time.sleep(0.5)
        probs = final_checks()
        try:
            internal = server_failures()
            if internal:
                RESULTS.failed.append("metrics_no_internal_errors")
                print("FAIL metrics_no_internal_errors — over the whole run /metrics counted internal failures or 5xx answers:", flush=True)
                for series, v in internal.items():
                    print(f"     {series} {v:g}", flush=True)
            else:
                RESULTS.passed.append("metrics_no_internal_errors")
                print("ok   metrics_no_internal_errors", flush=True)
        except Exception as e:
            RESULTS.failed.append("metrics_no_internal_errors")
            print(f"FAIL metrics_no_internal_errors — could not read /metrics: {e}", flush=True)
        if probs:
            RESULTS.failed.append("no_fd_leak")
            print(f"FAIL no_fd_leak — {'; '.join(probs)}", flush=True)
        else:
            RESULTS.passed.append("no_fd_leak")
            print(f"ok   no_fd_leak (fds {fds_start} -> {C.fd_count()})", flush=True)
        C.sample_rss()
        peak_mib = C.peak_rss_kib / 1024
        note = " (across restarts)" if C.starts > 1 else ""
        if C.peak_rss_kib and peak_mib < args.rss_mib:
            RESULTS.passed.append("peak_rss")
            print(f"ok   peak_rss: VmHWM {peak_mib:.1f} MiB < {args.rss_mib} MiB{note}", flush=True)
        else:
            RESULTS.failed.append("peak_rss")
            print(f"FAIL peak_rss: VmHWM {peak_mib:.1f} MiB (bound {args.rss_mib} MiB){note}", flush=True)
        print(f"run time {time.monotonic() - run_started:.1f} s; collector starts: {C.starts}", flush=True)
        rc = 0 if not RESULTS.failed else 1
    except Exception as e:
        print(f"FAIL setup: {e.__class__.__name__}: {e}", flush=True)
        if C.proc is not None:
            print(C.stderr_tail(), flush=True)
        RESULTS.failed.append("setup")
        rc = 1
    finally:
        C.kill()
        if own_work and not os.environ.get("HOSTILE_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        RESULTS.printed_summary = True
        print(RESULTS.summary_line(), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
