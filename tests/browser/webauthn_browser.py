#!/usr/bin/env python3
"""Runs tests/browser/webauthn_page.html in Debian's Chromium, headless,
with a DevTools WebAuthn virtual authenticator, and prints what the page's
navigator.credentials.create and .get answered, one NAME=VALUE per line
(binary values base64url). The DevTools protocol runs over a pipe
(--remote-debugging-pipe: NUL-terminated JSON on fds 3 and 4), so no port
is open but the page's own HTTP server on loopback.

Usage: webauthn_browser.py --serve DIR [--transport T] ... (see serve())
       webauthn_browser.py --challenge B64U --data B64U [--transport T]
       [--uv-capable yes|no] [--uv yes|no] [--create-uv R] [--get-uv R]
       [--host localhost|127.0.0.1] [--rp RPID]
Exit 0 when the page finished (its errors are printed as create.error or
get.error), 1 when the browser or the protocol failed, with the reason.
"""
import argparse
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

DEADLINE_S = int(os.environ.get("SKGATE_BROWSER_DEADLINE", "120"))  # a loaded machine starts Chromium slowly; never a test verdict


class Devtools:
    def __init__(self, profile):
        cmd_r, self.cmd_w = os.pipe()
        self.out_r, out_w = os.pipe()
        browser = shutil.which("chromium") or "/usr/bin/chromium"
        args = [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--remote-debugging-pipe",
                "--user-data-dir=" + profile, "about:blank"]
        # bash, not sh: dash redirects only single-digit descriptors.
        script = 'exec "$@" 3<&%d 4>&%d' % (cmd_r, out_w)
        self.proc = subprocess.Popen(["bash", "-c", script, "bash"] + args, pass_fds=(cmd_r, out_w),
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(profile, "chromium.log"), "w"))
        os.close(cmd_r)
        os.close(out_w)
        self.buf = b""
        self.next_id = 0
        self.deadline = time.monotonic() + DEADLINE_S

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                m = json.loads(raw)
                if m.get("id") == self.next_id:
                    if "error" in m:
                        raise RuntimeError(method + ": " + json.dumps(m["error"]))
                    return m["result"]
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("Chromium did not answer " + method + " in time")
            ready, _, _ = select.select([self.out_r], [], [], left)
            if ready:
                data = os.read(self.out_r, 1 << 16)
                if not data:
                    raise RuntimeError("Chromium closed the DevTools pipe during " + method)
                self.buf += data

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def open_tab(tools, a):
    """The browser's one tab, with a virtual authenticator as the options
    say: (its DevTools session, the authenticator's id)."""
    targets = tools.call("Target.getTargets")["targetInfos"]
    page = next(t for t in targets if t["type"] == "page")
    s = tools.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})[
        "sessionId"]
    tools.call("WebAuthn.enable", {"enableUI": False}, s)
    auth = tools.call("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": a.transport, "hasResidentKey": True,
        "hasUserVerification": a.uv_capable == "yes", "isUserVerified": a.uv == "yes",
        "automaticPresenceSimulation": True}}, s)["authenticatorId"]
    return s, auth


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_page():
    here = os.path.dirname(os.path.abspath(__file__))
    handler = functools.partial(QuietHandler, directory=here)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve(a):
    """Browser mode for skgate-agent's own page: one tab with one virtual
    authenticator (so the credential generate made is there to sign with).
    DIR/open is the $BROWSER to give the agent: it queues its URL in
    DIR/commands, as do the test's own lines: "uv yes|no" sets whether the
    authenticator verifies the person, "quit" ends. Each URL is opened in
    the tab, and the next line is read once the page says it is done; DIR/log
    gets "open URL" when a page is asked for, then "done URL" or "timeout URL"."""
    d = a.serve
    fifo = os.path.join(d, "commands")
    os.mkfifo(fifo, 0o600)
    opener = os.path.join(d, "open")
    with open(opener, "w") as f:
        f.write('#!/bin/sh\nprintf "%%s\\n" "$1" > %s\n' % fifo)
    os.chmod(opener, 0o755)
    profile = tempfile.mkdtemp(prefix="skgate-chromium-")
    tools = Devtools(profile)
    tools.deadline = time.monotonic() + 24 * 3600  # the test ends it
    log = open(os.path.join(d, "log"), "a", buffering=1)
    try:
        s, auth = open_tab(tools, a)
        log.write("ready\n")
        commands = open(fifo, "r")
        keep_open = open(fifo, "w")  # writers come and go: never EOF
        for line in commands:
            line = line.strip()
            if line == "quit":
                break
            if line.startswith("uv "):
                tools.call("WebAuthn.setUserVerified",
                           {"authenticatorId": auth, "isUserVerified": line == "uv yes"}, s)
                log.write(line + "\n")
                continue
            if not line:
                continue
            log.write("open " + line + "\n")
            tools.call("Page.navigate", {"url": line}, s)
            end = time.monotonic() + DEADLINE_S
            done = False
            while time.monotonic() < end and not done:
                time.sleep(0.1)
                r = tools.call("Runtime.evaluate", {"expression": "window.skgateDone === true"}, s)
                done = r["result"].get("value") is True
            status = tools.call("Runtime.evaluate", {"expression":
                "(document.getElementById('status') || {}).textContent || ''"}, s)
            log.write(("done " if done else "timeout ") + line + " " +
                      json.dumps(status["result"].get("value", "")) + "\n")
        keep_open.close()
    except Exception as e:
        log.write("error " + str(e) + "\n")
        return 1
    finally:
        tools.close()
        shutil.rmtree(profile, ignore_errors=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", help="browser mode for skgate-agent's page, in this directory")
    ap.add_argument("--challenge")
    ap.add_argument("--data")
    ap.add_argument("--transport", default="internal")
    ap.add_argument("--uv-capable", default="yes")
    ap.add_argument("--uv", default="yes")
    ap.add_argument("--create-uv", default="preferred")
    ap.add_argument("--get-uv", default="preferred")
    ap.add_argument("--host", default="localhost")
    ap.add_argument("--rp", default="localhost")
    a = ap.parse_args()
    if a.serve:
        return serve(a)
    if not a.challenge or not a.data:
        ap.error("--challenge and --data are needed (or --serve DIR)")
    server = serve_page()
    profile = tempfile.mkdtemp(prefix="skgate-chromium-")
    tools = Devtools(profile)
    try:
        s, _ = open_tab(tools, a)
        query = urllib.parse.urlencode({"challenge": a.challenge, "data": a.data, "rp": a.rp,
                                        "cuv": a.create_uv, "guv": a.get_uv})
        url = "http://%s:%d/webauthn_page.html?%s" % (a.host, server.server_address[1], query)
        tools.call("Page.navigate", {"url": url}, s)
        while True:
            r = tools.call("Runtime.evaluate",
                           {"expression": "JSON.stringify(window.skgateResult || null)"}, s)
            value = json.loads(r["result"].get("value", "null"))
            if value:
                break
            if time.monotonic() > tools.deadline:
                raise RuntimeError("the page did not finish")
            time.sleep(0.1)
        version = tools.call("Browser.getVersion")["product"]
    except Exception as e:  # the reason, for the test's failure message
        print("webauthn_browser: " + str(e), file=sys.stderr)
        try:
            with open(os.path.join(profile, "chromium.log")) as log:
                print("Chromium's log, its end:\n" + log.read()[-3000:], file=sys.stderr)
        except OSError:
            pass
        return 1
    finally:
        tools.close()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    print("browser=" + version)
    for k, v in value.items():
        print(k + "=" + v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
