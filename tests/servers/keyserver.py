#!/usr/bin/env python3
"""A loopback key server for skgate's tests (DESIGN.md section 9).

Serves, from a JSON state file re-read on every request:
  PUT /v1/token      the Linode/Akamai Metadata v1 token (needs the
                     X-Metadata-Token-Expiry-Seconds header)
  GET /v1/ssh-keys   {"users": {...}}; needs X-Metadata-Token with a token
                     this server issued, and Accept: application/json
  GET /keys/USER     the generic document {"keys": [...]}; with "bearer" set
                     in the state, needs Authorization: Bearer <bearer>

State file keys: "users" {name: [key lines]}, "http" {name: [{"key":..,
"expires":..}]}, "bearer", "mode" (normal | slow | error | bad-token |
expire-first-token | oversized | raw), "delay" (seconds, for slow), "raw"
(the body for raw), "epoch" (any string). expire-first-token: the first
token used in an epoch is refused once, as if it had expired early.
Every request is appended to LOG as "METHOD PATH STATUS", and the client's
port to LOG.peers.

Usage: keyserver.py STATE LOG PORTFILE [CERT KEY]   (CERT KEY: serve HTTPS)
"""
import json
import secrets
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE, LOG, PORTFILE = sys.argv[1:4]
TLS = sys.argv[4:6]
tokens = set()
expired_epochs = set()  # expire-first-token: the epochs that had their refusal
lock = threading.Lock()


def state():
    with open(STATE) as f:
        return json.load(f)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle on, the body waits
    # for the client's delayed ACK (40 ms), which no real service costs.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with lock, open(LOG, "a") as f:
            f.write(f"{self.command} {self.path} {status}\n")
        # The client's port per request: requests on one connection share it.
        with lock, open(LOG + ".peers", "a") as f:
            f.write(f"{self.client_address[1]}\n")

    def body_for(self, st, document):
        mode = st.get("mode", "normal")
        if mode == "slow":
            time.sleep(float(st.get("delay", 10)))
        if mode == "error":
            return 500, '{"error": "internal"}'
        if mode == "oversized":
            return 200, '{"users": {"pad": ["' + "A" * (300 * 1024) + '"]}}'
        if mode == "raw":
            return 200, st.get("raw", "")
        return 200, json.dumps(document)

    def do_PUT(self):
        st = state()
        if self.path != "/v1/token":
            return self.reply(404, "{}")
        if "X-Metadata-Token-Expiry-Seconds" not in self.headers:
            return self.reply(400, '{"error": "expiry header missing"}')
        token = secrets.token_hex(16)
        with lock:
            tokens.add(token)
        self.reply(200, token, "text/plain")

    def do_GET(self):
        st = state()
        if self.path == "/v1/ssh-keys":
            token = self.headers.get("X-Metadata-Token", "")
            if st.get("mode") == "bad-token" or token not in tokens:
                return self.reply(401, '{"error": "invalid token"}')
            if st.get("mode") == "expire-first-token":
                with lock:
                    first = st.get("epoch", "") not in expired_epochs
                    expired_epochs.add(st.get("epoch", ""))
                    if first:
                        tokens.discard(token)
                if first:
                    return self.reply(401, '{"error": "token expired"}')
            if self.headers.get("Accept") != "application/json":
                return self.reply(406, '{"error": "Accept: application/json"}')
            status, body = self.body_for(st, {"users": st.get("users", {})})
            return self.reply(status, body)
        if self.path.startswith("/keys/"):
            bearer = st.get("bearer")
            if bearer and self.headers.get("Authorization") != "Bearer " + bearer:
                return self.reply(401, '{"error": "bearer token required"}')
            user = self.path[len("/keys/"):]
            keys = st.get("http", {}).get(user)
            if keys is None and st.get("mode", "normal") == "normal":
                return self.reply(404, '{"error": "no such user"}')
            status, body = self.body_for(st, {"keys": keys or []})
            return self.reply(status, body)
        self.reply(404, "{}")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if TLS:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(TLS[0], TLS[1])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
