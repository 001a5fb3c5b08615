"""Log timestamps and process metrics, without a broker (issue 17: operability)."""
import json
import logging
import os
import time

import pytest
from prometheus_client import generate_latest

from kernel.logs import JsonFormatter
from kernel.metrics import Metrics


@pytest.fixture
def shanghai_time():
    """The host's zone set to UTC+8, as on a county's server."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_log_timestamps_are_utc_whatever_the_host_zone(shanghai_time):
    # rule: ops (issue 17) — a line labelled Z carries UTC, not local time
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello", None, None)
    record.created = 1767225600.25  # 2026-01-01T00:00:00.250Z = 08:00 in Shanghai
    record.msecs = 250
    assert time.localtime(record.created).tm_hour == 8  # the zone is really UTC+8 here
    line = json.loads(JsonFormatter().format(record))
    assert line["ts"] == "2026-01-01T00:00:00.250Z"


def _metrics():
    provider = Metrics()
    provider.setup()
    return provider


def test_each_registry_carries_process_metrics_and_two_do_not_collide():
    # rule: ops (issue 17) — CPU, memory and open files of the process on /metrics
    first, second = _metrics(), _metrics()  # two containers in one process, as in tests
    for provider in (first, second):
        text = generate_latest(provider.registry).decode()
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "python_info"):
            assert name in text, name
    assert first.registry is not second.registry
