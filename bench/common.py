"""What every part of the benchmark shares: the run's resources (a database of
its own, a RabbitMQ vhost of its own, free ports), child processes, RSS,
percentiles and the machine's description.

No eventlet here: the orchestrator (``bench.run``) is a plain process that
starts the green ones (services, clients) as children.
"""
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PYTHON = sys.executable

AMQP_HOST = os.environ.get("QQ_BENCH_AMQP_HOST", "127.0.0.1:5672")
PG_ADMIN_URL = os.environ.get("QQ_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# -- numbers ------------------------------------------------------------------

def percentile(values, p):
    """Nearest-rank percentile of a list of numbers (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def latency_summary(latencies_s, wall_s, errors=0):
    """calls/s, p50 and p99 in milliseconds from a list of latencies in seconds."""
    n = len(latencies_s)
    return {
        "count": n,
        "rate": n / wall_s if wall_s > 0 else 0.0,
        "p50_ms": percentile(latencies_s, 50) * 1000 if n else None,
        "p99_ms": percentile(latencies_s, 99) * 1000 if n else None,
        "errors": errors,
        "seconds": wall_s,
    }


# -- the run's own broker vhost and databases ----------------------------------

def _rabbitmqctl(*args):
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        return False
    return subprocess.run([ctl, *args], capture_output=True, timeout=60).returncode == 0


class Resources:
    """A vhost and databases of this run's own, removed at the end, so a
    benchmark never meets another run's queues or rows (tests may be running
    on the same broker and server)."""

    def __init__(self):
        self.tag = uuid.uuid4().hex[:8]
        self.vhost = None
        self.databases = []

    def amqp_uri(self):
        if self.vhost is None:
            vhost = f"qq-bench-{self.tag}"
            if _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
                    "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"):
                self.vhost = vhost
            else:  # no rabbitmqctl here: the default vhost
                self.vhost = "/"
        return f"amqp://guest:guest@{AMQP_HOST}/{quote(self.vhost, safe='')}"

    def database(self, name):
        """A fresh PostgreSQL database ``qq_bench_<tag>_<name>``; its URL."""
        import sqlalchemy as sa
        from kernel.db import normalise_url
        dbname = f"qq_bench_{self.tag}_{name}"
        admin = sa.create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
        admin.dispose()
        self.databases.append(dbname)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname

    def close(self):
        if self.databases:
            import sqlalchemy as sa
            from kernel.db import normalise_url
            admin = sa.create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                for dbname in self.databases:
                    c.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            admin.dispose()
            self.databases = []
        if self.vhost not in (None, "/"):
            _rabbitmqctl("delete_vhost", self.vhost)
            self.vhost = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- child processes ------------------------------------------------------------

class Child:
    """A process of the run: started with the project root on the path, its
    output in a log file under the run's work folder, ended by its own id."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.log_path = Path(workdir) / f"{name}.log"
        child_env = dict(os.environ)
        child_env["PYTHONPATH"] = str(ROOT) + os.pathsep + child_env.get("PYTHONPATH", "")
        child_env.update(env or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=child_env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def rss_mb(self):
        return rss_mb(self.pid)

    def log_tail(self, n=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout=2):
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        self.stop_seconds = time.monotonic() - started


def rss_mb(pid):
    """Resident set size of one process, in MB (from /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return None


def cpu_seconds(pid):
    """User + system CPU seconds a process has used so far (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_named(*names):
    """Processes whose command name is one of ``names`` (the broker, the database)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() in names:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def machine_busy_seconds():
    """CPU seconds the whole machine has been busy (all cores, from /proc/stat)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used over a window by named processes (ours by pid), RabbitMQ
    (beam.smp), PostgreSQL (every postgres process) and the whole machine, so
    a run can say where the CPU of one request goes — and how much went to
    anything else running on the machine meanwhile (``machine`` minus the rest
    and the load generator's own). A process that ends inside the window (a
    database backend closed by a pool) counts for nothing: figures err low."""

    def __init__(self, processes):
        self.groups = {name: [pid] for name, pid in processes.items()}
        self.groups["rabbitmq"] = pids_named("beam.smp")
        self.groups["postgresql"] = pids_named("postgres")
        self.before = {pid: cpu_seconds(pid) for pids in self.groups.values() for pid in pids}
        self.machine_before = machine_busy_seconds()

    def used(self):
        machine = machine_busy_seconds() - self.machine_before
        self.groups["postgresql"] = sorted(set(self.groups["postgresql"]) | set(pids_named("postgres")))
        out = {}
        for name, pids in self.groups.items():
            total = 0.0
            for pid in pids:
                now = cpu_seconds(pid)
                if now:  # still there
                    total += max(0.0, now - self.before.get(pid, 0.0))
            out[name] = total
        out["machine"] = machine
        return out


def run_json(argv, timeout, env=None, name="client", workdir=None):
    """Run a client process that prints one JSON object as its last line of
    stdout; returns it with the process's own CPU seconds (user + system)."""
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = str(ROOT) + os.pathsep + child_env.get("PYTHONPATH", "")
    child_env.update(env or {})
    before = os.times()
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=child_env, capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - started
    after = os.times()
    if workdir is not None:
        Path(workdir, f"{name}.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.strip().startswith("{")]
    if not lines:
        raise RuntimeError(f"{name} printed no result: {proc.stdout[-1000:]} {proc.stderr[-1000:]}")
    result = json.loads(lines[-1])
    result["process_cpu_s"] = ((after.children_user - before.children_user)
                               + (after.children_system - before.children_system))
    result["process_wall_s"] = wall
    return result


def wait_http(url, timeout=60.0, child=None):
    """Wait until ``url`` answers (any HTTP status counts as up)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout}s"
                       + (f":\n{child.log_tail()}" if child else ""))


def wait_port(port, timeout=60.0, child=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"port {port} did not open in {timeout}s"
                       + (f":\n{child.log_tail()}" if child else ""))


# -- the machine ------------------------------------------------------------------

def machine():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_mb = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {"hostname": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count(),
            "memory_mb": mem_mb, "os": platform.platform(), "python": platform.python_version()}


def versions(amqp_uri, pg_url):
    from importlib.metadata import version
    out = {name: version(name) for name in (
        "nameko", "eventlet", "kombu", "amqp", "Werkzeug", "SQLAlchemy", "psycopg2-binary",
        "marshmallow", "PyJWT")}
    try:
        import sqlalchemy as sa
        from kernel.db import normalise_url
        engine = sa.create_engine(normalise_url(pg_url))
        with engine.connect() as c:
            out["postgresql"] = c.execute(sa.text("SHOW server_version")).scalar_one()
        engine.dispose()
    except Exception as exc:  # reported, not fatal
        out["postgresql"] = f"unknown ({exc.__class__.__name__})"
    try:
        from kombu import Connection
        with Connection(amqp_uri, connect_timeout=5) as conn:
            conn.connect()
            props = conn.connection.server_properties
            out["rabbitmq"] = props.get("version", "unknown")
    except Exception as exc:
        out["rabbitmq"] = f"unknown ({exc.__class__.__name__})"
    return out
