"""Who may see an object (GW-2), decided by the service that owns it, as a
table: staff (the task force, an admin, the system) see everything; any other
role sees what its rule says, and a role without a rule sees nothing. To a
caller who may not see it, an object does not exist (404, never 403), so no
one learns that another's is there."""
from typing import Callable

from .errors import NotFound


class Visibility:
    """``Visibility("appeal", enterprise=lambda appeal, caller: ...)``: one rule per role."""

    def __init__(self, what: str, **rules: Callable):
        self.what = what
        self.rules = rules

    def can_see(self, thing, caller) -> bool:
        if caller.is_staff:
            return True
        rule = self.rules.get(caller.role)
        return rule is not None and bool(rule(thing, caller))

    def check(self, thing, caller):
        """``thing`` (None when it is not there) or NotFound."""
        if thing is None or not self.can_see(thing, caller):
            raise NotFound(f"no such {self.what}")
        return thing
