"""HTTP load: ``wrk`` when it is installed (C, epoll — it spends a small
fraction of a core where the servers measured here spend whole ones), else a
Python load generator of our own (one process, non-blocking sockets,
keep-alive connections, each waiting for its answer before sending again).

Both report the same shape: requests/s, p50, p99 in ms, errors (connect,
read, write, timeout and non-2xx answers) and the load generator's own CPU
use in cores, which the table prints so one can see it was not the limit.

``python -m bench.loadgen --url ... --connections 16 --seconds 5 [--method POST
--body-file f --header 'K: V']`` runs the Python one and prints one JSON line.
"""
import argparse
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

from bench.common import PYTHON, latency_summary, run_json

WRK_SCRIPT = r"""
wrk.method = "%(method)s"
wrk.body = %(body)s
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\n{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk_path():
    return shutil.which("wrk")


def _lua_string(text):
    return "[==[" + text + "]==]"


def run(url, connections, seconds, method="GET", body=None, headers=None, tool="auto",
        workdir=None, name="load"):
    """One load run; returns {rate, p50_ms, p99_ms, errors, count, loadgen, loadgen_cpu_cores}."""
    headers = dict(headers or {})
    if tool == "auto":
        tool = "wrk" if wrk_path() else "python"
    if tool == "wrk":
        return _run_wrk(url, connections, seconds, method, body, headers)
    return _run_python(url, connections, seconds, method, body, headers, workdir, name)


def _run_wrk(url, connections, seconds, method, body, headers):
    lines = [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    script = WRK_SCRIPT % {"method": method, "body": _lua_string(body) if body else "nil",
                           "headers": "\n".join(lines)}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        path = f.name
    threads = max(1, min(connections, os.cpu_count() or 1))
    argv = [wrk_path(), "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
            "--timeout", "10s", "-s", path, url]
    try:
        before = os.times()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        after = os.times()
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {proc.stderr or proc.stdout}")
    data = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    wall = data["duration_us"] / 1e6
    errors = data["connect"] + data["read"] + data["write"] + data["status"] + data["timeout"]
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"count": data["requests"], "rate": data["requests"] / wall,
            "p50_ms": data["p50_us"] / 1000.0, "p99_ms": data["p99_us"] / 1000.0,
            "errors": errors, "error_kinds": {k: data[k] for k in
                                              ("connect", "read", "write", "status", "timeout")},
            "seconds": wall, "loadgen": "wrk", "loadgen_cpu_cores": cpu / wall}


def _run_python(url, connections, seconds, method, body, headers, workdir, name):
    argv = [PYTHON, "-m", "bench.loadgen", "--url", url, "--connections", str(connections),
            "--seconds", str(seconds), "--method", method]
    body_path = None
    if body:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(body)
            body_path = f.name
        argv += ["--body-file", body_path]
    for k, v in headers.items():
        argv += ["--header", f"{k}: {v}"]
    try:
        out = run_json(argv, timeout=seconds + 60, name=name, workdir=workdir)
    finally:
        if body_path:
            os.unlink(body_path)
    out["loadgen"] = "python"
    out["loadgen_cpu_cores"] = out["client_cpu_cores"]
    return out


# -- the Python load generator ------------------------------------------------------

class _Conn:
    def __init__(self, host, port, request):
        self.addr = (host, port)
        self.request = request
        self.sock = None
        self.buf = b""
        self.sent_at = 0.0

    def open(self):
        self.sock = socket.create_connection(self.addr, timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def response_complete(self):
        """(status, keep_alive) once one whole answer is in the buffer, else None."""
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = self.buf[:head_end].decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        fields = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
        length = int(fields.get("content-length", "0"))
        if len(self.buf) < head_end + 4 + length:
            return None
        self.buf = self.buf[head_end + 4 + length:]
        return status, fields.get("connection", "").lower() != "close"


def _python_main(args):
    parts = urlsplit(args.url)
    host, port = parts.hostname, parts.port or 80
    path = parts.path or "/"
    body = open(args.body_file, "rb").read() if args.body_file else b""
    lines = [f"{args.method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines += args.header
    if body:
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    sel = selectors.DefaultSelector()
    conns = [_Conn(host, port, request) for _ in range(args.connections)]
    latencies, errors = [], 0

    def send(c):
        if c.sock is None:
            c.open()
            sel.register(c.sock, selectors.EVENT_READ, c)
        c.sent_at = time.perf_counter()
        c.sock.sendall(c.request)

    for c in conns:
        send(c)
    cpu0 = time.process_time()
    started = time.perf_counter()
    end = started + args.seconds
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        for key, _ in sel.select(timeout=min(1.0, end - now)):
            c = key.data
            try:
                chunk = c.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                errors += 1
                sel.unregister(c.sock)
                c.close()
                c.buf = b""
                send(c)
                continue
            c.buf += chunk
            done = c.response_complete()
            if done is None:
                continue
            status, keep_alive = done
            latencies.append(time.perf_counter() - c.sent_at)
            if not 200 <= status < 400:
                errors += 1
            if not keep_alive:
                sel.unregister(c.sock)
                c.close()
            if time.perf_counter() < end:
                send(c)
    wall = time.perf_counter() - started
    out = latency_summary(latencies, wall, errors)
    out["client_cpu_cores"] = (time.process_time() - cpu0) / wall
    for c in conns:
        c.close()
    print(json.dumps(out), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body-file")
    parser.add_argument("--header", action="append", default=[])
    _python_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
