"""A RabbitMQ node and a PostgreSQL cluster of the chaos tests' own.

Each starts on spare loopback ports in a temporary directory, as its usual
system user (rabbitmq, postgres), with its own node name, data and logs; the
tests stop and start them at will and disturb nothing else on the machine.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def spare_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chown(path, user):
    shutil.chown(path, user, user)
    for p in Path(path).rglob("*"):
        shutil.chown(p, user, user)


def _as(user, args, env=None, **kw):
    cmd = ["runuser", "-u", user, "--"]
    if env:
        cmd += ["env"] + [f"{k}={v}" for k, v in env.items()]
    return cmd + list(args)


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up in {timeout}s")


class RabbitNode:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="qq-chaos-rabbit-"))
        self.port = spare_port()
        self.dist_port = spare_port()
        self.node = f"qqchaos{uuid.uuid4().hex[:6]}@localhost"
        # loopback only; no plugins at all, so no management listener either
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users.guest = true\n")
        (self.base / "enabled_plugins").write_text("[].\n")
        for d in ("mnesia", "log"):
            (self.base / d).mkdir()
        _chown(self.base, "rabbitmq")
        self.env = {
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.base / "rabbit.pid"),
            "HOME": "/var/lib/rabbitmq",
        }
        self.proc = None
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def ctl(self, *args, timeout=60):
        return subprocess.run(_as("rabbitmq", ["rabbitmqctl", "-n", self.node, *args], self.env),
                              capture_output=True, timeout=timeout, cwd=self.base)

    def start(self):
        self.proc = subprocess.Popen(_as("rabbitmq", ["rabbitmq-server"], self.env),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=self.base, start_new_session=True)
        _wait(lambda: _port_open(self.port) or self.proc.poll() is not None, 90, "rabbitmq")
        if self.proc.poll() is not None:
            raise RuntimeError(f"rabbitmq-server exited; see {self.base / 'log'}")
        self.ctl("await_startup")

    def running(self):
        return _port_open(self.port)

    def stop_app(self):
        """The broker goes away (every connection dropped, the port closed); the Erlang VM stays."""
        self.ctl("stop_app")
        _wait(lambda: not _port_open(self.port), 30, "rabbitmq stop")

    def start_app(self):
        self.ctl("start_app")
        _wait(lambda: _port_open(self.port), 60, "rabbitmq start_app")

    def close(self):
        try:
            self.ctl("shutdown", timeout=60)
        except Exception:
            pass
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                pass
            self.proc.wait(timeout=10)
        shutil.rmtree(self.base, ignore_errors=True)


class PostgresCluster:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="qq-chaos-pg-"))
        self.data = self.base / "data"
        self.port = spare_port()
        _chown(self.base, "postgres")
        subprocess.run(_as("postgres", ["initdb", "-D", str(self.data), "-A", "trust",
                                        "-U", "postgres", "--no-sync"]),
                       check=True, capture_output=True, cwd=self.base)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args):
        return subprocess.run(_as("postgres", ["pg_ctl", "-D", str(self.data), *args]),
                              capture_output=True, timeout=120, cwd=self.base)

    def start(self):
        opts = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c max_connections=300")
        r = self.pg_ctl("-o", opts, "-l", str(self.base / "log"), "-w", "start")
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {r.stderr.decode()[-500:]}")

    def running(self):
        return _port_open(self.port)

    def stop(self, mode="fast"):
        self.pg_ctl("-m", mode, "-w", "stop")

    def close(self):
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
