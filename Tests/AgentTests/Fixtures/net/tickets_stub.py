#!/usr/bin/env python3
"""A stand-in for the collector's GET /api/v1/hosts/self/tickets, on 127.0.0.1 only, for the
daemon's reply-notification test (the real endpoint, with requestedBy and visible replies, is
tested against the real collector in UserTicketsTests).

Usage: tickets_stub.py TICKETS_JSON LOG
Answers GET /api/v1/hosts/self/tickets with the file TICKETS_JSON as it is at that moment
(the test rewrites it between check-ins), POST /api/v1/heartbeats with an acknowledgement,
anything else 404. Appends "METHOD PATH AUTHORIZATION" per request to LOG. Prints "PORT <n>".
"""
import datetime, http.server, json, sys

TICKETS, LOG = sys.argv[1], sys.argv[2]

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def note(self):
        with open(LOG, "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, self.headers.get("Authorization", "-")))

    def do_GET(self):
        self.note()
        if self.path == "/api/v1/hosts/self/tickets":
            with open(TICKETS, "rb") as f:
                self.answer(200, f.read())
        else:
            self.answer(404, b'{"error":{"code":"not_found","message":"stub"}}')

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.note()
        if self.path == "/api/v1/heartbeats":
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.answer(200, json.dumps({"hostID": "h-1", "receivedAt": now}).encode())
        else:
            self.answer(404, b'{"error":{"code":"not_found","message":"stub"}}')

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("PORT %d" % server.server_address[1], flush=True)
server.serve_forever()
