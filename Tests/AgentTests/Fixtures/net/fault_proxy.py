#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for delivery tests, on 127.0.0.1 only.

Usage: fault_proxy.py UPSTREAM_PORT PLAN
PLAN is a comma-separated list of actions, one per incoming request, then "pass" forever:
  pass      forward the request and relay the answer
  503       answer 503 with Retry-After: 1 without forwarding
  429       answer 429 with Retry-After: 1 without forwarding
  503:S     the same with Retry-After: S (whole seconds); likewise 429:S
  drop      forward the request (the upstream handles it), then close the client's
            connection without relaying the answer: the response is lost
  hang      read the request, then say nothing until the client gives up (at most 120 s)
Prints "PORT <n>" on its first line, then one line per request:
"<n> <action> <method> <path> <t>", where <t> is CLOCK_MONOTONIC in seconds when the whole
request had been read; for "hang", a second line "<n> closed <method> <path> <t>" when the
client hung up (t = when it did), so a test can measure how long the client waited.
"""
import select, socket, sys, threading, time

def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head, body

def read_response(up):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = up.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while length is not None and len(body) < length:
        chunk = up.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body

LOG_LOCK = threading.Lock()

def log(*fields):
    """One whole line per call, never interleaved with another thread's."""
    with LOG_LOCK:
        sys.stdout.write(" ".join(str(f) for f in fields) + "\n")
        sys.stdout.flush()

def main():
    upstream = int(sys.argv[1])
    plan = [p for p in sys.argv[2].split(",") if p] if len(sys.argv) > 2 else []
    lock = threading.Lock()
    counter = [0]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    log("PORT", srv.getsockname()[1])

    def handle(conn):
        try:
            req = read_request(conn)
            if req is None:
                return
            head, body = req
            with lock:
                n = counter[0]
                counter[0] += 1
                action = plan[n] if n < len(plan) else "pass"
            first = head.split(b"\r\n")[0].decode(errors="replace").split(" ")
            method, path = first[0], first[1] if len(first) > 1 else ""
            log(n, action, method, path, "%.3f" % time.monotonic())
            status, _, retry_after = action.partition(":")
            if status in ("503", "429"):
                msg = b'{"error":{"code":"overloaded","message":"injected by the test proxy"}}'
                conn.sendall(b"HTTP/1.1 " + status.encode() + b" Busy\r\nRetry-After: " + (retry_after or "1").encode()
                             + b"\r\nContent-Type: application/json\r\n"
                             b"Content-Length: " + str(len(msg)).encode() + b"\r\nConnection: close\r\n\r\n" + msg)
                return
            if action == "hang":
                # Wait for the client to hang up (recv returns b"" or fails), then say when.
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    readable, _, _ = select.select([conn], [], [], 0.05)
                    if readable:
                        try:
                            if not conn.recv(65536):
                                break
                        except OSError:
                            break
                log(n, "closed", method, path, "%.3f" % time.monotonic())
                return
            # Forward with Connection: close so one upstream connection serves one request.
            lines = [l for l in head.split(b"\r\n") if not l.lower().startswith(b"connection:")]
            up = socket.create_connection(("127.0.0.1", upstream))
            up.sendall(b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + body)
            answer = read_response(up)
            up.close()
            if action == "drop":
                return
            conn.sendall(answer)
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()

if __name__ == "__main__":
    main()
