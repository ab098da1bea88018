#!/usr/bin/env python3
"""A small HTTP forward proxy for delivery tests, on 127.0.0.1 only, that logs what it relays.

Usage: forward_proxy.py
Speaks the two ways a client uses an HTTP proxy:
  absolute-form   "POST http://127.0.0.1:8470/api/v1/bundles HTTP/1.1": the request is sent on
                  to that origin (origin-form, Connection: close) and the answer relayed
  CONNECT         "CONNECT 127.0.0.1:8470 HTTP/1.1": answered 200, then bytes are spliced both
                  ways until either side closes (how a client reaches an https collector)
Only loopback targets are served (anything else answers 403), so a test cannot leak out.
A request in origin-form ("POST /api/v1/bundles") is not a proxy request: answered 400.
Prints "PORT <n>" on its first line, then one line per request: "<n> <kind> <method> <target>",
kind being "forward", "connect" or "refused".
"""
import select, socket, sys, threading
from urllib.parse import urlsplit

LOG_LOCK = threading.Lock()
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

def log(*fields):
    """One whole line per call, never interleaved with another thread's."""
    with LOG_LOCK:
        sys.stdout.write(" ".join(str(f) for f in fields) + "\n")
        sys.stdout.flush()

def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest

def content_length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None

def read_exactly(conn, have, length):
    while len(have) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        have += chunk
    return have

def answer(conn, status, text):
    body = text.encode()
    conn.sendall(b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: text/plain\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)

def splice(a, b):
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 120)
        if not readable:
            return
        for s in readable:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)

def main():
    lock = threading.Lock()
    counter = [0]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    log("PORT", srv.getsockname()[1])

    def handle(conn):
        try:
            head, rest = read_head(conn)
            if head is None:
                return
            with lock:
                n = counter[0]
                counter[0] += 1
            lines = head.split(b"\r\n")
            parts = lines[0].decode(errors="replace").split(" ")
            if len(parts) < 3:
                log(n, "refused", "-", "-")
                answer(conn, "400 Bad Request", "not an HTTP request line")
                return
            method, target = parts[0], parts[1]
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                if host not in LOOPBACK or not port.isdigit():
                    log(n, "refused", method, target)
                    answer(conn, "403 Forbidden", "this test proxy only reaches loopback")
                    return
                log(n, "connect", method, target)
                up = socket.create_connection((host.strip("[]"), int(port)))
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    up.sendall(rest)
                splice(conn, up)
                up.close()
                return
            url = urlsplit(target)
            if url.scheme != "http" or url.hostname not in LOOPBACK:
                log(n, "refused", method, target)
                answer(conn, "400 Bad Request" if not url.scheme else "403 Forbidden",
                       "a proxy request names an absolute http URL on loopback")
                return
            log(n, "forward", method, target)
            length = content_length(head) or 0
            body = read_exactly(conn, rest, length)
            path = (url.path or "/") + ("?" + url.query if url.query else "")
            kept = [l for l in lines[1:] if not l.lower().startswith((b"connection:", b"proxy-connection:", b"proxy-authorization:"))]
            up = socket.create_connection((url.hostname, url.port or 80))
            up.sendall((method + " " + path + " HTTP/1.1").encode() + b"\r\n" + b"\r\n".join(kept)
                       + b"\r\nConnection: close\r\n\r\n" + body)
            # Connection: close upstream, so its answer ends when it closes.
            while True:
                chunk = up.recv(65536)
                if not chunk:
                    break
                conn.sendall(chunk)
            up.close()
        except OSError:
            pass
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
