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
