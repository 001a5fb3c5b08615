"""Prometheus metrics per service: calls, errors and latency per entrypoint.

Each container gets its own ``CollectorRegistry`` (no collisions when several
containers share a process, as in tests), with the process's CPU, memory and
open files (``process_*``) and the Python runtime (``python_info``) on it. Services add business gauges with
``gauge()`` and expose everything from an ``@http('GET', '/metrics')`` route
via ``expose()``.
"""
import time

from nameko.extensions import DependencyProvider
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge,
                               Histogram, PlatformCollector, ProcessCollector,
                               generate_latest)
from werkzeug.wrappers import Response

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class MetricsHandle:
    def __init__(self, provider):
        self._p = provider

    @property
    def registry(self):
        return self._p.registry

    def gauge(self, name, documentation, labels=()):
        return self._p.gauge(name, documentation, labels)

    def counter(self, name, documentation, labels=()):
        return self._p.counter(name, documentation, labels)

    def expose(self):
        return Response(generate_latest(self._p.registry), mimetype=CONTENT_TYPE_LATEST)


class Metrics(DependencyProvider):
    def setup(self):
        self.registry = CollectorRegistry()
        # Registered on this container's registry, not the global default one:
        # two containers in one process each report the (same) process.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        prefix = "qinqing"
        labels = ["service", "entrypoint"]
        self.calls = Counter(f"{prefix}_entrypoint_calls", "Entrypoint calls", labels,
                             registry=self.registry)
        self.errors = Counter(f"{prefix}_entrypoint_errors", "Entrypoint calls that raised",
                              labels + ["error"], registry=self.registry)
        self.latency = Histogram(f"{prefix}_entrypoint_latency_seconds", "Entrypoint latency",
                                 labels, buckets=_BUCKETS, registry=self.registry)
        self._extra = {}
        self._started = {}

    def gauge(self, name, documentation, labels=()):
        if name not in self._extra:
            self._extra[name] = Gauge(name, documentation, list(labels), registry=self.registry)
        return self._extra[name]

    def counter(self, name, documentation, labels=()):
        if name not in self._extra:
            self._extra[name] = Counter(name, documentation, list(labels), registry=self.registry)
        return self._extra[name]

    def get_dependency(self, worker_ctx):
        return MetricsHandle(self)

    def worker_setup(self, worker_ctx):
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self._started.pop(worker_ctx, None)
        labels = (worker_ctx.service_name, worker_ctx.entrypoint.method_name)
        self.calls.labels(*labels).inc()
        if started is not None:
            self.latency.labels(*labels).observe(time.perf_counter() - started)
        if exc_info is not None:
            self.errors.labels(*labels, exc_info[0].__name__).inc()
