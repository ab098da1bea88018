#!/usr/bin/env python3
"""A stand-in for the collector's POST /api/v1/enroll, on 127.0.0.1 only, for agent tests
that must run without the collector (the real collector is tested in DeliveryTests).

Usage: enroll_stub.py LOG PLAN
PLAN is a comma-separated list of answers, one per request, the last repeated:
  new        201, a new host and token
  again      200, the same host, a new token (reenrolled: true)
  pending    409 approval_pending
  required   409 approval_required
Every request body is appended to LOG as one JSON line. Prints "PORT <n>" first.
"""
import http.server, json, sys, threading

LOG, PLAN = sys.argv[1], [p for p in sys.argv[2].split(",") if p]
lock = threading.Lock()
count = [0]

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with lock:
            n = count[0]
            count[0] += 1
            with open(LOG, "ab") as f:
                f.write(body.replace(b"\n", b" ") + b"\n")
        if self.path != "/api/v1/enroll":
            return self.answer(404, {"error": {"code": "not_found", "message": "stub knows only /api/v1/enroll"}})
        action = PLAN[min(n, len(PLAN) - 1)]
        request = json.loads(body)
        if action in ("new", "again"):
            return self.answer(201 if action == "new" else 200, {
                "hostID": "0f0e0d0c-0b0a-4909-8807-060504030201", "hostToken": "hlh_stub_token_%d" % n,
                "hostname": request.get("hostname", ""), "enrolledAt": "2025-01-02T03:04:05Z",
                "reenrolled": action == "again"})
        code = "approval_pending" if action == "pending" else "approval_required"
        return self.answer(409, {"error": {"code": code, "message": "machine already enrolled; an administrator must approve"}})

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("PORT", server.server_address[1], flush=True)
server.serve_forever()
