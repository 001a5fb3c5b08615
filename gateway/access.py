"""Which roles may call which route at all (GW-2), and the scopes a token grants.

Authentication-level only. Who may see or act on which object is decided
once, by the service that owns it, from the caller the gateway passes in the
call context (its state machine's roles and relations, its ``can_see``); the
gateway keeps no copy of those rules. A 403 here depends only on the role,
never on the id in the path, so it reveals nothing; "not yours" is the
service's 404, exactly like "does not exist".
"""
from kernel.errors import Forbidden

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


def check_role(caller, roles, what="call this route"):
    if caller.role not in roles:
        raise Forbidden(f"a {caller.role} may not {what}")


def check_action(caller, action):
    check_role(caller, ACTION_ROLES[action], f"{action.replace('_', ' ')} an appeal")


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
