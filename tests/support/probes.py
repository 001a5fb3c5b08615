"""Reaching a container's admin port (kernel.health) from a test."""
import time

import requests

from kernel.health import AdminServer


def admin_url(container):
    admin = next(d for d in container.dependencies if isinstance(d, AdminServer))
    return f"http://127.0.0.1:{admin.port}"


def admin_get(container, path, timeout=10):
    session = requests.Session()
    session.trust_env = False  # loopback, never through a proxy from the environment
    try:
        return session.get(admin_url(container) + path, timeout=timeout)
    finally:
        session.close()


def scrape_until(container, wanted, timeout=15.0):
    """The /metrics text once every line in ``wanted`` is in it (gauges refresh on a timer)."""
    end = time.monotonic() + timeout
    while True:
        text = admin_get(container, "/metrics").text
        if all(w in text for w in wanted) or time.monotonic() > end:
            return text
        time.sleep(0.1)
