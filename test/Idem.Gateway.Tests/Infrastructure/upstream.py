#!/usr/bin/env python3
"""A small HTTP upstream for the gateway tests, in a language other than C#.

It counts every request it receives per Idempotency-Key, and, like a careful service, answers a caller's key it has
already answered with that same answer ("executed" counts the real work). Requests steer it with headers:

  X-Hold: NAME      wait before answering until POST /_release/NAME (the test holds the first request of a race)
  X-Drop: 1         read the request, then close the connection without an answer
  X-Truncate: 1     answer 201 with Content-Length 1000, send 10 bytes of the body, then close the connection
  X-Status: CODE    answer with this status
  X-Body-Size: N    answer with N bytes of body

GET /_stats?key=K answers {"received": n, "executed": n} for K; /_stats alone the totals.
It also takes OTLP/HTTP exports (POST /v1/traces, /v1/metrics): GET /_otlp?path=/v1/traces&contains=TEXT says how
many it received there and whether any held TEXT (protobuf keeps strings as UTF-8 bytes).
Prints "listening on PORT" once it listens (port 0 picks a free one).
"""
import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Lock()
received = {}
executed = {}
answers = {}
holds = {}
exports = {}
orders = [0]
HOLD_LIMIT = 120.0


def hold_event(name):
    with lock:
        return holds.setdefault(name, threading.Event())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def send(self, status, body, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/_otlp":
            query = parse_qs(url.query)
            path = query.get("path", [""])[0]
            text = query.get("contains", [""])[0].encode()
            with lock:
                bodies = list(exports.get(path, []))
            self.send(200, json.dumps({"count": len(bodies), "found": any(text in b for b in bodies)}).encode())
            return
        if url.path == "/_stats":
            key = parse_qs(url.query).get("key", [None])[0]
            with lock:
                if key is None:
                    stats = {"received": sum(received.values()), "executed": sum(executed.values())}
                else:
                    stats = {"received": received.get(key, 0), "executed": executed.get(key, 0)}
            self.send(200, json.dumps(stats).encode())
            return
        self.handle_work()

    def do_POST(self):
        url = urlparse(self.path)
        if url.path in ("/v1/traces", "/v1/metrics", "/v1/logs"):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                exports.setdefault(url.path, []).append(body)
            self.send(200, b"", "application/x-protobuf")
            return
        if url.path.startswith("/_release/"):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hold_event(url.path[len("/_release/"):]).set()
            self.send(204, b"")
            return
        self.handle_work()

    do_PATCH = do_POST
    do_PUT = do_POST
    do_DELETE = do_GET

    def handle_work(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.headers.get("Idempotency-Key") or ""
        with lock:
            received[key] = received.get(key, 0) + 1
        if self.headers.get("X-Drop"):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if self.headers.get("X-Truncate"):
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"order":1')
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        hold = self.headers.get("X-Hold")
        if hold:
            hold_event(hold).wait(HOLD_LIMIT)
        # One answer per caller and key, as a service that scopes keys by account would keep them.
        scoped = (self.headers.get("Authorization") or "") + "\n" + key
        with lock:
            answer = answers.get(scoped) if key else None
            if answer is None:
                executed[key] = executed.get(key, 0) + 1
                orders[0] += 1
                number = orders[0]
                status = int(self.headers.get("X-Status") or 201)
                size = self.headers.get("X-Body-Size")
                if size:
                    payload = bytes((i * 7) % 251 for i in range(int(size)))
                    content_type = "application/octet-stream"
                else:
                    payload = json.dumps({
                        "order": number,
                        "method": self.command,
                        "path": self.path,
                        "key": key,
                        "body_sha256": hashlib.sha256(body).hexdigest(),
                    }, separators=(",", ":")).encode()
                    content_type = "application/json; charset=utf-8"
                answer = (status, payload, content_type, [("Location", "/orders/%d" % number), ("X-Order", str(number))])
                if key:
                    answers[scoped] = answer
        status, payload, content_type, headers = answer
        self.send(status, payload, content_type, headers)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("listening on %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
