"""Who may call which route and see which appeal (GW-2), as the gateway sees it.

Two independent locks on one door: the gateway refuses a role that may never
call a route (403) and drops anything a service returns that the caller may
not see (404, and an error in the log: it means a service let it through);
each service checks again from the caller passed in the call context. A 403
depends only on the role, never on the id in the path, so it reveals nothing;
"not yours" is always a 404, exactly like "does not exist".
"""
import logging

from kernel.errors import Forbidden, NotFound

_log = logging.getLogger(__name__)

ENTERPRISE, DEPARTMENT, CHANNEL, TASKFORCE, ADMIN = (
    "enterprise", "department", "channel", "taskforce", "admin")
# Roles a JWT may carry; "channel" comes only from a channel-bound API key,
# "system" never from outside.
TOKEN_ROLES = (ENTERPRISE, DEPARTMENT, TASKFORCE, ADMIN)
ANY_CALLER = (ENTERPRISE, DEPARTMENT, CHANNEL, TASKFORCE, ADMIN)
STAFF = (TASKFORCE, ADMIN)
REPORTERS = (DEPARTMENT, TASKFORCE, ADMIN)  # the ledger's exports and statistics
ADMINS = (ADMIN,)

# The closed loop (APP-6): who may take each action at all. Whether this
# department leads this appeal, or this enterprise owns it, the service
# decides (it has the appeal); the gateway refuses roles that never may.
ACTION_ROLES = {
    "assign": STAFF,
    "accept": (DEPARTMENT,),
    "reply": (DEPARTMENT,),
    "transfer": (DEPARTMENT,) + STAFF,
    "return": (DEPARTMENT,),
    "extend": (DEPARTMENT,) + STAFF,
    "approve_extension": STAFF,
    "reject_extension": STAFF,
    "instruct": STAFF,
    "feedback": (ENTERPRISE,),
    "reopen": STAFF,
}
ACTIONS = tuple(ACTION_ROLES)
# A department that transfers (转办) or returns (退回) an appeal hands it away:
# the answer to that action is the last view of it it gets.
HANDS_OFF = frozenset({"transfer", "return"})


def check_role(caller, roles, what="call this route"):
    if caller.role not in roles:
        raise Forbidden(f"a {caller.role} may not {what}")


def check_action(caller, action):
    check_role(caller, ACTION_ROLES[action], f"{action.replace('_', ' ')} an appeal")


def can_see(appeal, caller) -> bool:
    """An enterprise its own appeals, a department those it leads or co-handles,
    a channel key those that came through its channel, the task force all."""
    if caller.role in STAFF:
        return True
    if caller.role == ENTERPRISE:
        return appeal.get("enterprise_code") == caller.org
    if caller.role == DEPARTMENT:
        return (appeal.get("lead_department") == caller.org
                or caller.org in (appeal.get("co_departments") or ()))
    if caller.role == CHANNEL:
        return appeal.get("channel") == caller.org
    return False


def check_visible(appeal, caller):
    if appeal is None or not can_see(appeal, caller):
        if appeal is not None:
            _log.error("a service returned appeal %s to a %s who may not see it; withheld",
                       appeal.get("id"), caller.role)
        raise NotFound("no such appeal")
    return appeal


def only_visible(items, caller):
    kept = [a for a in items if can_see(a, caller)]
    if len(kept) != len(items):
        _log.error("a service listed %d appeals a %s may not see; withheld",
                   len(items) - len(kept), caller.role)
    return kept


# -- inspections (入企检查) ----------------------------------------------------------
# Who may call each inspections route at all; the service decides the rest
# from the visit (which departments take part, whose enterprise it is) and
# from its configuration (who heads the task force, which departments import
# the directory).
INSPECTION_READERS = (ENTERPRISE, DEPARTMENT, TASKFORCE, ADMIN)  # a channel key never
INSPECTION_FILERS = (DEPARTMENT, TASKFORCE, ADMIN)
INSPECTION_ACTION_ROLES = {
    # INS-4: only the task force's head decides; which task-force member that
    # is, the service knows (scope or INS_TASKFORCE_HEADS). Admins never do.
    "approve": (TASKFORCE,),
    "reject": (TASKFORCE,),
    "cancel": INSPECTION_FILERS,  # the filing department, or the task force
    "after-filing": INSPECTION_FILERS,  # INS-5: the visiting departments
    "results": INSPECTION_FILERS,  # INS-8: the visiting departments, each its own items
    "review": (TASKFORCE,),  # INS-5: the head reviews an emergency's record
}
# The task force's head (专班主要领导) as a bearer token's scope: the identity
# provider grants it; the inspections service checks it (INS-4).
APPROVE_SCOPE = "inspections:approve"
KNOWN_SCOPES = frozenset({APPROVE_SCOPE})
# A scope only means something for the role it was made for: a department or
# an enterprise holding "inspections:approve" is still not the head.
SCOPED_ROLES = {APPROVE_SCOPE: TASKFORCE}


def scopes_from_claims(role, claims) -> tuple:
    """The scopes a verified token grants: its ``scope`` claim (space-separated,
    as OAuth 2 access tokens carry it, RFC 9068; a list is accepted too),
    kept to those this platform knows and meant for the token's role."""
    raw = claims.get("scope") if isinstance(claims, dict) else None
    if isinstance(raw, str):
        given = raw.split()
    elif isinstance(raw, list):
        given = [s for s in raw if isinstance(s, str)]
    else:
        return ()
    return tuple(sorted({s for s in given if s in KNOWN_SCOPES and SCOPED_ROLES[s] == role}))


def can_see_inspection(visit, caller) -> bool:
    """A department the visits it takes part in, an enterprise the visits to
    it, the task force all; nobody else any."""
    if caller.role in STAFF:
        return True
    if caller.role == DEPARTMENT:
        return caller.org in (visit.get("departments") or ())
    if caller.role == ENTERPRISE:
        return visit.get("enterprise_code") == caller.org
    return False


def check_inspection_visible(visit, caller):
    if visit is None or not can_see_inspection(visit, caller):
        if visit is not None:
            _log.error("a service returned inspection %s to a %s who may not see it; withheld",
                       visit.get("id"), caller.role)
        raise NotFound("no such inspection")
    return visit


def only_visible_inspections(items, caller):
    kept = [v for v in items if can_see_inspection(v, caller)]
    if len(kept) != len(items):
        _log.error("a service listed %d inspections a %s may not see; withheld",
                   len(items) - len(kept), caller.role)
    return kept


def check_own_enterprise(credit_code, caller):
    """INS-9: an enterprise sees its own plan only; another's is 'no such enterprise'."""
    if caller.role == ENTERPRISE and credit_code != caller.org:
        raise NotFound("no such enterprise")
