"""``make run``: every service as its own process, the way production runs them.

Starts appeals first (its event queues must exist before inspections seeds the
directory and announces the enterprises), then inspections, then the gateway;
waits until each answers on /healthz; prints how to reach the platform; on
Ctrl-C (or SIGTERM) stops them all cleanly. A service that dies stops the rest.
"""
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

SERVICES = [
    # name, nameko target, config, health URL
    ("appeals", "services.appeals.service:AppealsService", "config/appeals.yaml",
     "http://{APPEALS_WEB_SERVER_ADDRESS}/healthz"),
    # notify's providers point at a local recording endpoint in development
    ("sandbox", None, None, "http://127.0.0.1:{NOTIFY_SANDBOX_PORT}/_sandbox"),
    ("notify", "services.notify.service:NotifyService", "config/notify.yaml",
     "http://{NOTIFY_WEB_SERVER_ADDRESS}/healthz"),
    ("inspections", "services.inspections.service:InspectionsService",
     "config/inspections/inspections.yaml", "http://{INS_WEB_SERVER_ADDRESS}/healthz"),
    ("scoring", "services.scoring.service:ScoringService", "config/scoring.yaml",
     "http://{SCORING_WEB_SERVER_ADDRESS}/healthz"),
    ("gateway", "gateway.service:GatewayService", "config/gateway.yaml",
     "http://127.0.0.1:{GATEWAY_PORT}/healthz"),
]


def wait_healthy(url, proc, seconds=60):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def main():
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(ROOT))
    # Development defaults, announced below; production sets real secrets.
    env.setdefault("GATEWAY_DEV", "1")
    env.setdefault("INS_CODE_KEY", "dev-only-entry-code-key")
    port = env.setdefault("GATEWAY_PORT", "8000")
    # entry codes point at the gateway's public verification page
    env.setdefault("INS_PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    env.setdefault("SCO_PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")  # subjects' QR codes
    # the services' own ports (/healthz, /metrics); another run (the e2e tests) picks spare ones
    for key, default in (("APPEALS_WEB_SERVER_ADDRESS", "127.0.0.1:8001"),
                         ("INS_WEB_SERVER_ADDRESS", "127.0.0.1:8002"),
                         ("SCORING_WEB_SERVER_ADDRESS", "127.0.0.1:8003"),
                         ("NOTIFY_WEB_SERVER_ADDRESS", "127.0.0.1:8004"),
                         ("NOTIFY_SANDBOX_PORT", "8090")):
        env.setdefault(key, default)
    sandbox = f"127.0.0.1:{env['NOTIFY_SANDBOX_PORT']}"  # notify's SMS/WeChat endpoints in development
    env.setdefault("SMS_ENDPOINT", sandbox)
    env.setdefault("WECHAT_API_BASE", f"http://{sandbox}/cgi-bin/")
    var = Path(env.get("QQ_VAR_DIR") or ROOT / "var")  # the services' logs
    var.mkdir(parents=True, exist_ok=True)
    procs = []
    stopping = []

    def stop_all(*_):
        if stopping:  # a second Ctrl-C while stopping: let the first finish
            return
        stopping.append(True)
        for name, p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, p in reversed(procs):
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        print("\nQinqing stopped.", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)

    for name, target, config, health in SERVICES:
        log = open(var / f"{name}.log", "ab")
        cmd = [PY, "-c", "import eventlet; eventlet.monkey_patch(); "
               "from nameko.cli.main import main; main()",
               "run", "--config", config, target]
        if target is None:
            cmd = [PY, "-m", "services.notify.sandbox", "--port", env["NOTIFY_SANDBOX_PORT"]]
        # own session: a Ctrl-C in the terminal reaches only this launcher,
        # which then stops each service once, in reverse order
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        procs.append((name, p))
        print(f"starting {name:12s} (pid {p.pid}, log var/{name}.log) …", flush=True)
        if not wait_healthy(health.format(**env), p):
            print(f"{name} did not come up; see {var}/{name}.log", file=sys.stderr)
            stop_all()

    base = f"http://127.0.0.1:{port}"
    print(f"""
Qinqing (亲清) is running — demo county: config/county/demo.json

  Pages (优化专班)    {base}/ui/ledger   (development sign-in: {base}/ui/dev-signin)
  API (gateway)      {base}/api/v1/…      docs {base}/docs   spec {base}/openapi.json
  Open311            {base}/open311/v2/services.json
  Health             {base}/healthz  {base}/readyz
  Metrics            on each process's admin port (ADMIN_PORT: /healthz /readyz /metrics),
                     never on the public port; `make run` lets each pick a free one
  Entry-code check   {base}/verify/<token>   (public; the QR code points here)
  Sent messages      http://{sandbox}/_sandbox (SMS/WeChat/webhooks received in development)

  A development token (GATEWAY_DEV=1 uses the documented development secret):
    .venv/bin/python -m gateway.token --role enterprise --org 91433126MA4L00010B
    .venv/bin/python -m gateway.token --role taskforce --org taskforce
  Walk an appeal from created to closed: README.md, "An appeal, end to end".
  A month's ranking of the service windows: README.md (SCO_MIN_RATINGS=3 for a small demo).

Logs in var/*.log. Ctrl-C stops everything.
""", flush=True)

    while True:
        for name, p in procs:
            if p.poll() is not None:
                print(f"{name} exited with {p.returncode}; stopping the others", file=sys.stderr)
                stop_all()
        time.sleep(1)


if __name__ == "__main__":
    main()
