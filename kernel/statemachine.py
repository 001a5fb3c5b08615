"""The shape every service's aggregate follows: an explicit state machine
(state × action → next state, who may act, guards) and the value a domain
function returns (``Effect``: history entries, events to publish, timers).

A service writes its table once, as data::

    MACHINE = StateMachine("appeal", initial={RECEIVED, ASSIGNED}, final={CLOSED},
                           transitions={"accept": Transition({ASSIGNED}, {"lead"}, ACCEPTED), ...})

Roles are either a caller's role ("taskforce") or a relation of the caller
to the object ("lead", "owner", "head"), which the service resolves with a
callback ``relation(name, obj, caller) -> bool`` (the kernel knows no domain).
``problems()`` lists what makes a table wrong: a state no action reaches, a
state that is not final and that no action leaves, a flag set and never
cleared. Every service's table is checked by ``tests/unit/test_state_machines.py``.
"""
from dataclasses import dataclass, field
from typing import Callable

from .errors import BadInput, Conflict, Forbidden


@dataclass(frozen=True)
class Transition:
    """One action: from which states, by whom, to which state.

    ``target`` None: the status is unchanged, or the action decides among
    ``outcomes`` (e.g. a rating closes or re-opens). ``guard(obj, params)``
    returns why the action is refused here (a Conflict message) or None."""
    sources: frozenset
    roles: frozenset
    target: str | None = None
    outcomes: frozenset = frozenset()
    guard: Callable | None = None

    def __post_init__(self):
        # accept any iterable in a table; store frozensets
        object.__setattr__(self, "sources", frozenset(self.sources))
        object.__setattr__(self, "roles", frozenset(self.roles))
        object.__setattr__(self, "outcomes", frozenset(self.outcomes))

    def reaches(self, source):
        """The states this action may lead to from ``source``."""
        if self.target is not None:
            return {self.target}
        return set(self.outcomes) or {source}


@dataclass(frozen=True)
class Flag:
    """A mark on the aggregate beside its status (e.g. an appeal under review):
    which actions set it and which clear it. ``permanent``: a record that is
    meant to stay (a visit flagged for a late filing), so never clearing it is
    no error."""
    name: str
    set_by: frozenset
    cleared_by: frozenset = frozenset()
    permanent: bool = False


@dataclass
class Effect:
    """What one change produced, in order: history rows, events to publish
    (through the outbox) and timers (when the aggregate must be looked at)."""
    history: list = field(default_factory=list)
    events: list = field(default_factory=list)  # (event_type, extra data)
    timers: list = field(default_factory=list)  # (name, at)

    def record(self, action, actor, from_status, to_status, note=""):
        self.history.append({"action": action, "actor": actor, "from_status": from_status,
                             "to_status": to_status, "note": note or ""})

    def emit(self, event_type, **extra):
        self.events.append((event_type, extra))

    def schedule(self, name, at):
        self.timers.append((name, at))


def actor_of(caller) -> str:
    """How history names who acted: role and subject (or organisation)."""
    return f"{caller.role}:{caller.sub or caller.org}"


class StateMachine:
    def __init__(self, name, *, initial, final, transitions, flags=(), status=lambda o: o.status):
        self.name = name
        self.initial = frozenset(initial)
        self.final = frozenset(final)
        self.transitions = dict(transitions)
        self.flags = tuple(flags)
        self._status = status

    @property
    def actions(self):
        return tuple(self.transitions)

    @property
    def states(self):
        found = set(self.initial) | set(self.final)
        for t in self.transitions.values():
            found |= t.sources | t.outcomes | ({t.target} if t.target else set())
        return found

    def transition(self, action) -> Transition:
        t = self.transitions.get(action)
        if t is None:
            raise BadInput({"action": [f"unknown action; one of {', '.join(self.actions)}"]})
        return t

    def may(self, action, obj, caller, relation: Callable = lambda name, obj, caller: False) -> bool:
        """Whether the caller may take the action on the object: its role is
        listed, or it stands in a listed relation to the object."""
        roles = self.transition(action).roles
        return caller.role in roles or any(relation(r, obj, caller) for r in roles)

    def check(self, action, obj, caller, params=None, relation=lambda name, obj, caller: False):
        """Refuse the action (403 for the caller, 409 for the state or a guard)
        or return its transition. The caller must already see the object."""
        t = self.transition(action)
        if not self.may(action, obj, caller, relation):
            raise Forbidden(f"a {caller.role} may not {action} this {self.name}")
        status = self._status(obj)
        if status not in t.sources:
            raise Conflict(f"cannot {action} a {self.name} that is {status}; only one that is "
                           f"{' or '.join(sorted(t.sources))}",
                           {"status": status, "action": action, "allowed_from": sorted(t.sources)})
        if t.guard is not None:
            why = t.guard(obj, params or {})
            if why:
                raise Conflict(why, {"status": status, "action": action})
        return t

    # -- checking the table itself -------------------------------------------------------
    def reachable(self):
        seen, todo = set(self.initial), list(self.initial)
        while todo:
            state = todo.pop()
            for t in self.transitions.values():
                if state in t.sources:
                    for nxt in t.reaches(state) - seen:
                        seen.add(nxt)
                        todo.append(nxt)
        return seen

    def problems(self) -> list[str]:
        """What is wrong with the table: unreachable states, non-final states
        with no way out, flags never cleared. Empty when it is sound."""
        found = []
        reached = self.reachable()
        for state in sorted(self.states - reached):
            found.append(f"{self.name}: state {state!r} cannot be reached")
        for state in sorted(self.states - self.final):
            leaves = any(state in t.sources and t.reaches(state) - {state}
                         for t in self.transitions.values())
            if not leaves:
                found.append(f"{self.name}: state {state!r} is not final and has no way out")
        for flag in self.flags:
            unknown = (flag.set_by | flag.cleared_by) - set(self.transitions)
            if unknown:
                found.append(f"{self.name}: flag {flag.name!r} names unknown actions {sorted(unknown)}")
            if not flag.permanent and not flag.cleared_by:
                found.append(f"{self.name}: flag {flag.name!r} is set by {sorted(flag.set_by)} "
                             f"and never cleared")
        return found
