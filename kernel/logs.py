"""Structured (JSON) logs that carry nameko's call id, with personal data masked.

The call id stack nameko propagates through RPC and event headers is put on
every log line by ``CallIdLogging`` (a dependency every service declares), so
one request can be followed across services. Phone numbers are masked by a
pattern as a safety net; names must go through ``mask_name`` before logging.
"""
import json
import logging
import re
import threading
import time

from nameko.extensions import DependencyProvider

_local = threading.local()  # green-thread local once eventlet has patched threading

_PHONE = re.compile(r"(?<!\d)(\+?86)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_SECRET = re.compile(r"(?i)(bearer\s+|api[_-]?key[=:\s]+|password[=:\s]+|secret[=:\s]+)[^\s,'\"]+")


def mask_phone_text(text: str) -> str:
    return _PHONE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)


def mask_secrets(text: str) -> str:
    return _SECRET.sub(lambda m: m.group(1) + "***", text)


def mask_name(name: str) -> str:
    """张三丰 → 张**; a name is shown by its first character only."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


def current_call_id():
    return getattr(_local, "call_id", None)


def current_request_id():
    return getattr(_local, "request_id", None)


class JsonFormatter(logging.Formatter):
    # Timestamps in UTC whatever the host's zone: the "Z" below must be true.
    converter = time.gmtime

    def format(self, record):
        message = mask_secrets(mask_phone_text(record.getMessage()))
        out = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": message,
        }
        for key in ("service", "call_id", "request_id", "entrypoint"):
            value = getattr(record, key, None)
            if value:
                out[key] = value
        if record.exc_info:
            out["exc"] = mask_phone_text(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


class ContextFilter(logging.Filter):
    def filter(self, record):
        ctx = getattr(_local, "ctx", None) or {}
        for key, value in ctx.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class CallIdLogging(DependencyProvider):
    """Puts the worker's call id (and the gateway's request id) on its log lines."""

    def worker_setup(self, worker_ctx):
        stack = worker_ctx.call_id_stack or []
        _local.ctx = {
            "service": worker_ctx.service_name,
            "entrypoint": worker_ctx.entrypoint.method_name,
            "call_id": ">".join(stack),
            "request_id": worker_ctx.data.get("request_id"),
        }
        _local.call_id = stack[-1] if stack else None
        _local.request_id = worker_ctx.data.get("request_id")

    def worker_teardown(self, worker_ctx):
        _local.ctx = None
        _local.call_id = None
        _local.request_id = None
