"""A service as its own process (``nameko run``, as in production), to be
sent SIGKILL or SIGTERM by a test."""
import os
import signal
import subprocess
import sys
import time

import requests
import yaml

from kernel.config import ROOT

from .clusters import spare_port

RUN = ("import eventlet; eventlet.monkey_patch(); "
       "from nameko.cli.main import main; main()")


class ServiceProcess:
    def __init__(self, target, config, tmp_path, env=None):
        self.target = target
        self.admin_port = spare_port()
        self.config = {**config, "ADMIN_HOST": "127.0.0.1", "ADMIN_PORT": self.admin_port}
        self.path = tmp_path / f"{target.rsplit(':', 1)[1]}-{self.admin_port}.yaml"
        self.path.write_text(yaml.safe_dump(self.config))
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.log = open(tmp_path / f"{self.path.stem}.log", "wb")
        self.proc = None

    def start(self, timeout=60):
        self.proc = subprocess.Popen([sys.executable, "-c", RUN, "run", "--config", str(self.path),
                                      self.target], cwd=ROOT, env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.target} exited with {self.proc.returncode}")
            try:
                if requests.get(f"http://127.0.0.1:{self.admin_port}/readyz", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.target} not ready in {timeout}s")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()
