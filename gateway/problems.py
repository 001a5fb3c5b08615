"""Errors as ``application/problem+json`` (RFC 9457), the one error shape of contract v1.

Every refusal has ``type``, ``title``, ``status`` and ``detail``; bad input
adds ``errors`` (field → messages). The kernel's errors cross RPC as real
instances, so a refusal by a service reaches the client with the service's
own field names. What a client cannot have caused (a service bug, a timeout)
is a 5xx with a generic detail: internals never leak into a response.
"""
import json
import logging
import math

from kombu.exceptions import OperationalError as BrokerUnreachable
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from kernel.errors import BadInput, Conflict, QinqingError, Unauthorized

_log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5  # what a client is told to wait when a service is away


# -- errors only the gateway raises (they never cross RPC) ----------------------

class MalformedRequest(QinqingError):
    """The request could not be read at all: broken JSON, not UTF-8, not an object."""
    status = 400
    title = "Malformed request"

    def __init__(self, detail, errors=None):
        super().__init__(detail, {"errors": errors} if errors else {})

    @property
    def errors(self):
        return self.extra.get("errors", {})


class TooManyRequests(QinqingError):
    status = 429
    title = "Too many requests"

    def __init__(self, retry_after):
        super().__init__(f"rate limit exceeded; retry after {math.ceil(retry_after)} s",
                         {"retry_after": retry_after})

    @property
    def retry_after(self):
        return max(1, math.ceil(self.extra["retry_after"]))


class PayloadTooLarge(QinqingError):
    status = 413
    title = "Payload too large"


class ServiceUnavailable(QinqingError):
    status = 503
    title = "Service unavailable"

    def __init__(self, detail="", retry_after=RETRY_AFTER_SECONDS):
        super().__init__(detail, {"retry_after": retry_after})

    @property
    def retry_after(self):
        return max(1, math.ceil(self.extra.get("retry_after") or RETRY_AFTER_SECONDS))


# A service's database or connection failing (its remote error's type): the
# request may succeed later, so 503 with Retry-After, not a 502.
TRANSIENT_REMOTE = frozenset({"OperationalError", "InterfaceError", "DisconnectionError",
                              "TimeoutError", "ConnectionError", "ConnectionRefusedError"})


# -- rendering --------------------------------------------------------------------

# type URIs point at the explanation on the gateway's own /docs page.
SLUGS = {400: "malformed-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
          405: "method-not-allowed", 409: "conflict", 413: "payload-too-large",
          422: "invalid-input", 429: "too-many-requests", 500: "internal-error",
          502: "upstream-error", 503: "service-unavailable", 504: "upstream-timeout"}
_TITLES = {404: "Not found", 405: "Method not allowed", 413: "Payload too large",
           500: "Internal error", 502: "Bad gateway",
           503: "Service unavailable", 504: "Gateway timeout"}


def problem_type(status):
    return f"/docs#problem-{SLUGS.get(status, 'error')}"


def describe(exc):
    """``(status, title, detail, members, headers)`` for any exception."""
    if isinstance(exc, QinqingError):
        members, headers = {}, {}
        if isinstance(exc, (BadInput, MalformedRequest)) and exc.errors:
            members["errors"] = exc.errors
        if isinstance(exc, Conflict) and exc.extra:
            members["conflict"] = exc.extra  # e.g. the appeal's status and the allowed ones
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="qinqing"'
        if isinstance(exc, (TooManyRequests, ServiceUnavailable)):
            headers["Retry-After"] = str(exc.retry_after)
        if type(exc).status >= 500:
            return exc.status, exc.title, exc.detail, members, headers
        return exc.status, exc.title, exc.detail or exc.title, members, headers
    if isinstance(exc, HTTPException):
        headers = {}
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        detail = {404: "no such route", 405: "method not allowed on this route",
                  413: "request body too large"}.get(exc.code, exc.description or exc.name)
        return exc.code, _TITLES.get(exc.code, exc.name), detail, {}, headers
    if isinstance(exc, RpcTimeout):
        return 504, _TITLES[504], "a service did not answer in time; try again", {}, {}
    if isinstance(exc, (UnknownService, ConnectionError, OSError, BrokerUnreachable)) or (
            isinstance(exc, RemoteError) and exc.exc_type in TRANSIENT_REMOTE):
        return 503, _TITLES[503], "a service is not available; try again later", {}, \
            {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(exc, RemoteError):
        return 502, _TITLES[502], "a service failed to handle the request", {}, {}
    return 500, _TITLES[500], "the gateway failed to handle the request", {}, {}


def problem_response(exc, request_id=None, request=None):
    status, title, detail, members, headers = describe(exc)
    if status >= 500:
        _log.error("request %s answered %s: %s", request_id, status, type(exc).__name__)
    body = {"type": problem_type(status), "title": title, "status": status, "detail": detail}
    if request_id:
        body["instance"] = f"urn:request:{request_id}"
    body.update(members)
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                    content_type=f"{PROBLEM_JSON}; charset=utf-8")
