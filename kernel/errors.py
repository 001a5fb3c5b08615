"""Errors that cross service boundaries.

Each is registered with nameko's ``deserialize_to_instance`` so an RPC caller
(the gateway) receives the same class, with its fields, not a bare RemoteError.
nameko serialises ``exc.args`` and rebuilds with ``cls(*args)``, so every error
keeps exactly two JSON-safe args: ``(detail, extra)``.
"""
from nameko.exceptions import deserialize_to_instance


class QinqingError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail="", extra=None):
        super().__init__(detail, dict(extra or {}))

    @property
    def detail(self):
        return self.args[0]

    @property
    def extra(self):
        return self.args[1]

    def __str__(self):
        return str(self.detail)


@deserialize_to_instance
class BadInput(QinqingError):
    """Input refused; ``errors`` maps each offending field to its messages."""
    status = 422
    title = "Invalid input"

    def __init__(self, errors, extra=None):
        if isinstance(errors, dict):
            detail = "Invalid input: " + ", ".join(sorted(errors))
            super().__init__(detail, {"errors": errors})
        else:  # rebuilt on the caller's side from (detail, extra)
            super().__init__(errors, extra)

    @property
    def errors(self):
        return self.extra.get("errors", {})


@deserialize_to_instance
class NotFound(QinqingError):
    """Not found — or not yours: the two look the same from outside (GW-2)."""
    status = 404
    title = "Not found"


@deserialize_to_instance
class Forbidden(QinqingError):
    status = 403
    title = "Forbidden"


@deserialize_to_instance
class Unauthorized(QinqingError):
    status = 401
    title = "Unauthorized"


@deserialize_to_instance
class Conflict(QinqingError):
    """A transition the state machine refuses, or a concurrent change lost."""
    status = 409
    title = "Conflict"
