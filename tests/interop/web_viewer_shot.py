#!/usr/bin/env python3
"""Open a Rerun recording in Rerun's web viewer inside headless Chromium and save a screenshot.

Serves RRD with the `rerun` CLI of PyPI `rerun-sdk` (`--serve-web`, loopback only), opens the
viewer in headless Chromium (software WebGL through SwiftShader), drives it over the DevTools
protocol on a pipe (no extra packages) and waits in real time until the page shows a rendered
viewer (a screenshot with many distinct colours), then lets the recording finish streaming in
(--settle seconds) before the final screenshot. Writes the PNG and prints one JSON line
(`png`, `seconds`, `distinct_colours`, `width`, `height`). Exits non-zero when the viewer does
not render within the time limit.

Run it inside a network namespace with only loopback up (the test does: `unshare -n`), so the
page's links to web fonts go nowhere.

Usage: web_viewer_shot.py RRD OUT.png [--rerun PATH] [--chromium PATH] [--timeout S]
"""
import argparse
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zlib
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png_stats(data):
    """(width, height, distinct RGB colours in a sample) of an 8-bit RGB/RGBA PNG, stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), f"unsupported PNG depth {depth} colour {colour}"
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:
            for x in range(0, w, 4):
                colours.add(bytes(line[x * bpp:x * bpp + 3]))
        prev = line
    return w, h, len(colours)


def stop_group(proc):
    """Ends a process started with start_new_session=True and everything it started."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


class DevTools:
    """Chrome DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, chromium, args):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="mnemo-chromium-")

        def fds():
            # Via fresh copies: a pipe end may already be fd 3 or 4, and dup2 onto itself would
            # keep its close-on-exec flag.
            r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        # Its own process group: the `chromium` launcher may be a script with children.
        self.proc = subprocess.Popen(
            [chromium, "--remote-debugging-pipe", f"--user-data-dir={self.profile}"] + args,
            preexec_fn=fds, close_fds=False, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.next_id, self.buf = 0, b""

    def call(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.buf:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(line)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        stop_group(self.proc)
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rrd")
    ap.add_argument("out")
    ap.add_argument("--rerun", default=str(Path(sys.executable).parent / "rerun"))
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--min-colours", type=int, default=40)
    ap.add_argument("--settle", type=float, default=15.0)
    args = ap.parse_args()

    web, grpc = free_port(), free_port()
    # Its own process group: pip's `rerun` is a Python launcher that starts the real binary.
    server = subprocess.Popen(
        [args.rerun, "--serve-web", "--bind", "127.0.0.1", "--web-viewer-port", str(web),
         "--port", str(grpc), args.rrd],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    browser = None
    try:
        page = f"http://127.0.0.1:{web}/"
        while True:
            try:
                urllib.request.urlopen(page, timeout=1).read(16)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() - t0 > 30:
                    sys.exit("the rerun web viewer server did not start")
                time.sleep(0.2)
        url = page + "?url=" + urllib.parse.quote(f"rerun+http://127.0.0.1:{grpc}/proxy", safe="")
        browser = DevTools(args.chromium, [
            "--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
            "--ignore-gpu-blocklist", "--window-size=1280,800", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "about:blank"])
        target = browser.call("Target.createTarget", url=url)["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        browser.call("Page.enable", session)
        best = None
        while time.monotonic() - t0 < args.timeout:
            time.sleep(3)
            shot = base64.b64decode(browser.call("Page.captureScreenshot", session, format="png")["data"])
            w, h, colours = png_stats(shot)
            if best is None or colours > best[3]:
                best = (shot, w, h, colours)
            if colours >= args.min_colours:
                time.sleep(args.settle)
                shot = base64.b64decode(
                    browser.call("Page.captureScreenshot", session, format="png")["data"])
                w, h, colours = png_stats(shot)
                best = (shot, w, h, colours)
                break
        shot, w, h, colours = best
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_bytes(shot)
        print(json.dumps({"png": args.out, "seconds": round(time.monotonic() - t0, 1),
                          "distinct_colours": colours, "width": w, "height": h}))
        if colours < args.min_colours:
            sys.exit(f"the web viewer did not render within {args.timeout} s "
                     f"({colours} distinct colours, want {args.min_colours})")
    finally:
        if browser:
            browser.close()
        stop_group(server)


if __name__ == "__main__":
    main()
