"""The rules of an appeal (诉求), with no I/O: routing, tiers and deadlines, the
closed-loop state machine, rating, and the escalation ladder.

Functions take the appeal as any object with the attributes of
``models.Appeal`` (tests use a plain dataclass), change it, and return what
happened (history entries and events) for the service to store and publish.
"""
import datetime as dt
from dataclasses import dataclass, field

from kernel.errors import BadInput, Conflict, Forbidden
from kernel.rpc import Caller
from kernel.statemachine import Effect, Flag, StateMachine, Transition
from kernel.visibility import Visibility

# -- vocabulary ---------------------------------------------------------------

RECEIVED, ASSIGNED, ACCEPTED, REPLIED, CLOSED = "received", "assigned", "accepted", "replied", "closed"
STATUSES = (RECEIVED, ASSIGNED, ACCEPTED, REPLIED, CLOSED)
HANDLING = frozenset({RECEIVED, ASSIGNED, ACCEPTED})  # the clock runs against the department

# APP-3 红黄蓝交办: blue = fix at once (立行立改); yellow and red within a set
# time, red the most urgent and the most supervised.
TIERS = ("red", "yellow", "blue")

# APP-1: every channel lands in one ledger (台账).
CHANNELS = {
    "leaders_wechat": "书记县长直通车",
    "hotline_12345": "12345热线",
    "complaint_mailbox": "投诉信箱",
    "complaint_hotline": "投诉热线",
    "cannot_do_window": "办不成事窗口",
    "mini_program": "小程序",
    "one_tap": "一键呼叫",
    "supervisor": "特约监督员",
    "unannounced_inspection": "明察暗访",
    "symposium": "企业座谈会",
    "media": "媒体问政",
    "referral": "互联网+督查",
}
ONE_TAP = "one_tap"
# Channels a person enters later by hand (a phone call, a letter, a meeting's
# notes, a report): the time it was received is theirs to record. The others
# are online and the platform's clock is the receipt time.
STAFF_ENTERED = ("leaders_wechat", "hotline_12345", "complaint_mailbox", "complaint_hotline",
                 "cannot_do_window", "supervisor", "unannounced_inspection", "symposium",
                 "media", "referral")
ALL_CHANNELS = "*"

# SCO-1 five levels; 1–2 are a bad rating (差评).
RATINGS = {5: "very_satisfied", 4: "satisfied", 3: "basically_satisfied",
           2: "dissatisfied", 1: "very_dissatisfied"}


def is_dissatisfied(rating: int) -> bool:
    return rating <= 2


# APP-5 the escalation ladder; level n means step n has been taken.
# reminder → 挂牌督办 → 约谈提醒 → 通报批评 → 追责问责
LADDER = ("reminder", "supervision", "talk", "notice", "accountability")
LADDER_ZH = {"reminder": "到期提醒", "supervision": "挂牌督办", "talk": "约谈提醒",
             "notice": "通报批评", "accountability": "追责问责"}


@dataclass(frozen=True)
class Policy:
    """Configuration of the rules (per county)."""
    tier_days: dict = field(default_factory=lambda: {"blue": 1, "red": 3, "yellow": 5})
    one_tap_days: int = 3  # 000: one-tap appointments answered within 3 days
    # Working days relative to the deadline at which each step is taken.
    ladder_offsets: dict = field(default_factory=lambda: {
        "reminder": -1, "supervision": 0, "talk": 3, "notice": 5, "accountability": 10})
    feedback_timeout_days: int = 5  # closes without the enterprise's word after this
    max_extension_days: int = 15
    default_tier: str = "yellow"
    channel_tiers: dict = field(default_factory=lambda: {"leaders_wechat": "red"})
    # Who may file through which channel; "*": every channel. A channel key
    # (role "channel") files through its own channel only.
    channels_by_role: dict = field(default_factory=lambda: {
        # referral: an enterprise's Open311 client (another platform) files as one
        "enterprise": ["mini_program", ONE_TAP, "referral"],
        "department": list(STAFF_ENTERED),
        "taskforce": ALL_CHANNELS, "admin": ALL_CHANNELS, "system": ALL_CHANNELS})
    # A caller-given receipt time: only through these channels, at most this far back.
    backdating_channels: tuple = STAFF_ENTERED
    received_at_max_days: int = 30
    # A sweep that failed for one appeal is retried after this, doubling each time.
    sweep_retry_seconds: int = 60
    sweep_retry_max_seconds: int = 6 * 3600

    def __post_init__(self):
        offsets = [self.ladder_offsets[s] for s in LADDER]
        if offsets != sorted(offsets):
            raise ValueError("ladder offsets must rise step by step")
        if set(self.tier_days) != set(TIERS):
            raise ValueError(f"tier_days must give days for each of {TIERS}")
        named = set(self.backdating_channels).union(*(
            c for c in self.channels_by_role.values() if c != ALL_CHANNELS))
        if named - set(CHANNELS):
            raise ValueError(f"unknown channels in the policy: {sorted(named - set(CHANNELS))}")


# -- routing (APP-2 精准交办) ----------------------------------------------------

@dataclass(frozen=True)
class Route:
    category: str
    town: str  # "*" matches every town
    lead_department: str
    co_departments: tuple = ()


def route(category: str, town: str, table) -> Route | None:
    """Category and town decide the lead and co-handling departments; a town's
    own row beats the category's catch-all. None: the task force's queue."""
    exact = wildcard = None
    for r in table:
        if r.category != category:
            continue
        if r.town == town:
            exact = r
        elif r.town == "*":
            wildcard = r
    return exact or wildcard


# -- deadlines (APP-4 限时办结) ---------------------------------------------------

def initial_tier(channel: str, category_tier: str | None, policy: Policy) -> str:
    return policy.channel_tiers.get(channel) or category_tier or policy.default_tier


def handling_days(appeal, policy: Policy) -> int:
    if appeal.channel == ONE_TAP:
        return min(policy.one_tap_days, policy.tier_days[appeal.tier])
    return policy.tier_days[appeal.tier]


def compute_due(appeal, start: dt.datetime, calendar, policy: Policy) -> dt.datetime:
    return calendar.deadline(start, handling_days(appeal, policy))


# -- the ladder (APP-5) ---------------------------------------------------------

def step_time(appeal, level: int, calendar, policy: Policy) -> dt.datetime:
    """When step ``level`` (1-based) falls due for this appeal."""
    return calendar.shift(appeal.due_at, policy.ladder_offsets[LADDER[level - 1]])


def next_check(appeal, calendar, policy: Policy) -> dt.datetime | None:
    """The next instant the sweep must look at this appeal (indexed column)."""
    if appeal.status in HANDLING:
        nxt = appeal.escalation_level + 1
        if nxt > len(LADDER) or appeal.due_at is None:
            return None
        return step_time(appeal, nxt, calendar, policy)
    if appeal.status == REPLIED:
        return calendar.deadline(appeal.replied_at, policy.feedback_timeout_days)
    return None


def overdue_working_days(appeal, now, calendar) -> int:
    if appeal.due_at is None or now <= appeal.due_at:
        return 0
    return max(0, calendar.working_days_between(calendar.local_date(appeal.due_at),
                                                calendar.local_date(now)))


def is_overdue(appeal, now) -> bool:
    return appeal.status in HANDLING and appeal.due_at is not None and now > appeal.due_at


def due_steps(appeal, now, calendar, policy: Policy) -> list[int]:
    """Ladder levels that have fallen due and are not yet taken."""
    if appeal.status not in HANDLING or appeal.due_at is None:
        return []
    levels = []
    for level in range(appeal.escalation_level + 1, len(LADDER) + 1):
        if step_time(appeal, level, calendar, policy) <= now:
            levels.append(level)
        else:
            break
    return levels


def climb(appeal, levels, now, calendar, policy: Policy) -> Effect:
    """Take the given ladder steps (the service has won the right to, see
    ``AppealsService.sweep``). Each step is recorded and announced once."""
    effect = Effect()
    overdue = overdue_working_days(appeal, now, calendar)
    for level in levels:
        step = LADDER[level - 1]
        effect.record(f"escalate:{step}", "system", appeal.status, appeal.status,
                      LADDER_ZH[step])
        if step == "reminder":
            effect.emit("appeal.due_soon")
        else:
            effect.emit("appeal.escalated", level=level, step=step, overdue_working_days=overdue)
    appeal.escalation_level = levels[-1]
    appeal.next_check_at = next_check(appeal, calendar, policy)
    return effect


def escalation_round(appeal) -> int:
    """Which climb of the ladder this is: a re-open restarts the ladder, so
    each re-open is a round of its own (the first is 0)."""
    return appeal.reopen_count or 0


def sweep_retry_at(failures: int, now, policy: Policy) -> dt.datetime:
    """When to try again an appeal whose sweep failed ``failures`` times in a
    row: the wait doubles each time, up to a cap, so a broken row neither
    blocks the others nor is forgotten."""
    wait = policy.sweep_retry_seconds * 2 ** (max(failures, 1) - 1)
    return now + dt.timedelta(seconds=min(wait, policy.sweep_retry_max_seconds))


# -- access (GW-2) ----------------------------------------------------------------

VISIBILITY = Visibility(
    "appeal",
    enterprise=lambda appeal, caller: appeal.enterprise_code == caller.org,
    department=lambda appeal, caller: (appeal.lead_department == caller.org
                                       or caller.org in (appeal.co_departments or [])),
    # the channel's organisation, whichever of its keys filed it (keys rotate)
    channel=lambda appeal, caller: appeal.channel == caller.org)
can_see = VISIBILITY.can_see
check_visible = VISIBILITY.check  # a 404, never revealing that another's exists


# -- the closed loop (APP-6) -------------------------------------------------------

_STAFF = frozenset({"taskforce", "admin"})
TRANSITIONS = {
    # 交办 / re-route by the task force
    "assign": Transition(frozenset({RECEIVED, ASSIGNED, ACCEPTED}), _STAFF | {"system"}, ASSIGNED),
    "accept": Transition(frozenset({ASSIGNED}), frozenset({"lead"}), ACCEPTED),
    # 转办: the lead department hands it to another department
    "transfer": Transition(frozenset({ASSIGNED, ACCEPTED}), _STAFF | {"lead"}, ASSIGNED),
    # 退回: misrouted, back to the task force's queue
    "return": Transition(frozenset({ASSIGNED, ACCEPTED}), frozenset({"lead"}), RECEIVED),
    # 延期: asked by the department, granted by the task force
    "extend": Transition(frozenset({ASSIGNED, ACCEPTED}), _STAFF | {"lead"}),
    "approve_extension": Transition(frozenset({ASSIGNED, ACCEPTED}), _STAFF),
    "reject_extension": Transition(frozenset({ASSIGNED, ACCEPTED}), _STAFF),
    # 批示: leaders' instruction, "every letter gets an instruction"
    "instruct": Transition(frozenset({RECEIVED, ASSIGNED, ACCEPTED, REPLIED}), _STAFF),
    "reply": Transition(frozenset({ACCEPTED}), frozenset({"lead"}), REPLIED),
    # the enterprise's feedback closes it, or re-opens it when dissatisfied
    "feedback": Transition(frozenset({REPLIED}), frozenset({"owner"}),
                           outcomes=frozenset({ACCEPTED, CLOSED})),
    "close_timeout": Transition(frozenset({REPLIED}), frozenset({"system"}), CLOSED),
    "reopen": Transition(frozenset({CLOSED}), _STAFF, ACCEPTED),
}
ACTIONS = tuple(TRANSITIONS)


# 差评必纠: a bad rating puts the appeal under the task force's review.
MACHINE = StateMachine("appeal", initial={RECEIVED, ASSIGNED}, final={CLOSED},
                       transitions=TRANSITIONS,
                       flags=[Flag("under_review", set_by=frozenset({"feedback"}),
                                   cleared_by=frozenset({"feedback", "close_timeout"}))])


def relation(name, appeal, caller: Caller) -> bool:
    """The appeal's relational roles: its lead department, its enterprise."""
    if name == "lead":
        return caller.role == "department" and appeal.lead_department == caller.org
    if name == "owner":
        return caller.role == "enterprise" and appeal.enterprise_code == caller.org
    return False


def _caller_may(transition, appeal, caller: Caller) -> bool:
    return caller.role in transition.roles or any(relation(r, appeal, caller)
                                                  for r in transition.roles)


def apply(appeal, action, params, caller: Caller, now, calendar, policy: Policy,
          departments=()) -> Effect:
    """Apply one action of the closed loop, or refuse it and change nothing."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise BadInput({"action": [f"unknown action; one of {', '.join(ACTIONS)}"]})
    check_visible(appeal, caller)
    if not _caller_may(transition, appeal, caller):
        raise Forbidden(f"a {caller.role} may not {action} this appeal")
    if appeal.status not in transition.sources:
        raise Conflict(f"cannot {action} an appeal that is {appeal.status}",
                       {"status": appeal.status, "action": action,
                        "allowed_from": sorted(transition.sources)})
    handler = _HANDLERS[action]
    before = appeal.status
    effect = Effect()
    note = handler(appeal, params, caller, now, calendar, policy, set(departments), effect)
    if transition.target is not None:
        appeal.status = transition.target
    actor = f"{caller.role}:{caller.sub or caller.org}"
    effect.history.insert(0, {"action": action, "actor": actor, "from_status": before,
                              "to_status": appeal.status, "note": note or ""})
    if appeal.status != before:
        effect.emit("appeal.status_changed", action=action, from_status=before,
                    to_status=appeal.status, actor=actor)
    appeal.next_check_at = next_check(appeal, calendar, policy)
    appeal.updated_at = now
    return effect


def _known_department(code, departments, field_name="department"):
    if code not in departments:
        raise BadInput({field_name: [f"unknown department {code!r}"]})


def _do_assign(appeal, p, caller, now, calendar, policy, departments, effect):
    _known_department(p["department"], departments)
    for co in p.get("co_departments") or []:
        _known_department(co, departments, "co_departments")
    previous = appeal.lead_department
    appeal.lead_department = p["department"]
    if p.get("co_departments") is not None:
        appeal.co_departments = [c for c in p["co_departments"] if c != p["department"]]
    if p.get("tier") and p["tier"] != appeal.tier:
        appeal.tier = p["tier"]
        appeal.due_at = compute_due(appeal, appeal.received_at, calendar, policy)
    effect.emit("appeal.assigned", previous_department=previous)
    return p.get("note") or f"→ {appeal.lead_department}"


def _do_accept(appeal, p, caller, now, calendar, policy, departments, effect):
    appeal.accepted_at = now
    return p.get("note", "")


def _do_transfer(appeal, p, caller, now, calendar, policy, departments, effect):
    _known_department(p["department"], departments)
    if p["department"] == appeal.lead_department:
        raise BadInput({"department": ["already the lead department"]})
    previous = appeal.lead_department
    appeal.lead_department = p["department"]
    appeal.co_departments = [c for c in (appeal.co_departments or []) if c != p["department"]]
    appeal.extension_request = None
    effect.emit("appeal.assigned", previous_department=previous)
    return f"{previous} → {appeal.lead_department}: {p['reason']}"


def _do_return(appeal, p, caller, now, calendar, policy, departments, effect):
    previous = appeal.lead_department
    appeal.lead_department = None
    appeal.extension_request = None
    return f"{previous} 退回: {p['reason']}"


def _grant(appeal, days, calendar):
    appeal.due_at = calendar.end_of_day(
        calendar.add_working_days(calendar.local_date(appeal.due_at), days))
    appeal.extension_request = None
    appeal.extensions = (appeal.extensions or 0) + 1


def _do_extend(appeal, p, caller, now, calendar, policy, departments, effect):
    days = p["days"]
    if not 1 <= days <= policy.max_extension_days:
        raise BadInput({"days": [f"must be 1 to {policy.max_extension_days} working days"]})
    if caller.role == "department":
        if appeal.extension_request:
            raise Conflict("an extension is already waiting for approval")
        appeal.extension_request = {"days": days, "reason": p["reason"], "by": caller.org,
                                    "at": now.isoformat()}
        return f"申请延期 {days} 个工作日: {p['reason']}"
    _grant(appeal, days, calendar)
    return f"延期 {days} 个工作日: {p['reason']}"


def _do_approve_extension(appeal, p, caller, now, calendar, policy, departments, effect):
    if not appeal.extension_request:
        raise Conflict("no extension is waiting for approval")
    days = appeal.extension_request["days"]
    _grant(appeal, days, calendar)
    return f"批准延期 {days} 个工作日" + (f": {p['note']}" if p.get("note") else "")


def _do_reject_extension(appeal, p, caller, now, calendar, policy, departments, effect):
    if not appeal.extension_request:
        raise Conflict("no extension is waiting for approval")
    appeal.extension_request = None
    return "不予延期" + (f": {p['note']}" if p.get("note") else "")


def _do_instruct(appeal, p, caller, now, calendar, policy, departments, effect):
    appeal.instructions = (appeal.instructions or 0) + 1
    return p["content"]


def _do_reply(appeal, p, caller, now, calendar, policy, departments, effect):
    appeal.reply_content = p["content"]
    appeal.replied_at = now
    appeal.replied_on_time = now <= appeal.due_at if appeal.due_at else True
    effect.emit("appeal.replied", replied_at=now, on_time=appeal.replied_on_time)
    return ""


def _reopen(appeal, now, calendar, policy):
    appeal.due_at = compute_due(appeal, now, calendar, policy)
    appeal.escalation_level = 0
    appeal.reopen_count = (appeal.reopen_count or 0) + 1
    appeal.closed_at = None


def _do_feedback(appeal, p, caller, now, calendar, policy, departments, effect):
    rating = p["rating"]
    appeal.rating = rating
    appeal.rating_comment = p.get("comment") or None
    appeal.rated_at = now
    dissatisfied = is_dissatisfied(rating)
    effect.emit("appeal.rated", rating=rating, dissatisfied=dissatisfied)
    if dissatisfied:
        # 差评必纠: a bad rating re-opens the appeal for the same department
        # and opens a review by the task force.
        appeal.status = ACCEPTED
        appeal.under_review = True
        _reopen(appeal, now, calendar, policy)
        effect.emit("appeal.review_opened", rating=rating)
        return _rating_note(p)
    appeal.status = CLOSED
    appeal.closed_at = now
    effect.emit("appeal.closed", closed_at=now, reason="feedback")
    if appeal.under_review:
        # 差评必纠 done: the re-opened appeal's new answer satisfied the enterprise
        appeal.under_review = False
        return _rating_note(p) + "; 差评复核结束"
    return _rating_note(p)


def _rating_note(p):
    rating = p["rating"]
    return f"{rating} {RATINGS[rating]}" + (f": {p['comment']}" if p.get("comment") else "")


def _do_close_timeout(appeal, p, caller, now, calendar, policy, departments, effect):
    appeal.closed_at = now
    effect.emit("appeal.closed", closed_at=now, reason="timeout")
    if appeal.under_review:
        # the enterprise said nothing against the new answer: the review ends with it
        appeal.under_review = False
        return "企业未在期限内评价, 超时销号; 差评复核结束"
    return "企业未在期限内评价, 超时销号"


def _do_reopen(appeal, p, caller, now, calendar, policy, departments, effect):
    _reopen(appeal, now, calendar, policy)
    return p["reason"]


_HANDLERS = {
    "assign": _do_assign, "accept": _do_accept, "transfer": _do_transfer,
    "return": _do_return, "extend": _do_extend, "approve_extension": _do_approve_extension,
    "reject_extension": _do_reject_extension, "instruct": _do_instruct, "reply": _do_reply,
    "feedback": _do_feedback, "close_timeout": _do_close_timeout, "reopen": _do_reopen,
}
assert set(_HANDLERS) == set(TRANSITIONS)


# -- intake (APP-1, APP-2, APP-3) ---------------------------------------------------

def channels_of(caller: Caller, policy: Policy):
    """The channels this caller may file through (a collection, or ALL_CHANNELS)."""
    if caller.role == "channel":
        return (caller.org,)
    return policy.channels_by_role.get(caller.role, ())


def check_intake(channel, received_at, caller: Caller, now, policy: Policy):
    """Refuse a channel the caller may not use, and a receipt time the caller
    may not give: only for channels entered later by hand, never in the future,
    at most ``received_at_max_days`` back (else one back-dated appeal climbs
    the whole ladder against a department at the first sweep)."""
    errors = {}
    allowed = channels_of(caller, policy)
    if allowed != ALL_CHANNELS and channel not in allowed:
        errors["channel"] = [f"a {caller.role} may not file through {channel!r}"]
    if received_at is not None:
        if channel not in policy.backdating_channels:
            errors["received_at"] = [f"the platform records when a {channel!r} appeal is "
                                     "received: leave it out"]
        elif received_at > now:
            errors["received_at"] = ["is in the future"]
        elif now - received_at > dt.timedelta(days=policy.received_at_max_days):
            errors["received_at"] = [f"at most {policy.received_at_max_days} days back"]
    if errors:
        raise BadInput(errors)


def receive(appeal, routing_table, category_tier, now, calendar, policy: Policy,
            caller: Caller) -> Effect:
    """A new appeal lands in the ledger; routed at once when the table knows
    where it goes, else it waits in the task force's queue."""
    appeal.tier = initial_tier(appeal.channel, category_tier, policy)
    appeal.status = RECEIVED
    appeal.escalation_level = 0
    appeal.due_at = compute_due(appeal, appeal.received_at, calendar, policy)
    effect = Effect()
    actor = f"{caller.role}:{caller.sub or caller.org}"
    effect.record("create", actor, None, RECEIVED, CHANNELS[appeal.channel])
    effect.emit("appeal.created", received_at=appeal.received_at)
    r = route(appeal.category, appeal.town, routing_table)
    if r is not None:
        appeal.lead_department = r.lead_department
        appeal.co_departments = [c for c in r.co_departments if c != r.lead_department]
        appeal.status = ASSIGNED
        effect.record("assign", "system:routing", RECEIVED, ASSIGNED, f"→ {r.lead_department}")
        effect.emit("appeal.assigned", previous_department=None)
        effect.emit("appeal.status_changed", action="assign", from_status=RECEIVED,
                    to_status=ASSIGNED, actor="system:routing")
    else:
        appeal.lead_department = None
        appeal.co_departments = []
    appeal.next_check_at = next_check(appeal, calendar, policy)
    return effect


# -- rectification (APP-9 整改清单) ---------------------------------------------------

def tick_off(item, caller: Caller, note, now):
    """销号: the lead department (or the task force) ticks one item off."""
    if item.status == "done":
        raise Conflict("this item is already ticked off")
    if not (caller.is_staff or (caller.role == "department" and caller.org == item.lead_department)):
        raise Forbidden("only the lead department or the task force ticks an item off")
    item.status = "done"
    item.done_at = now
    item.done_note = note
    item.on_time = calendar_date_le(now, item.deadline)


def calendar_date_le(now, deadline_date) -> bool:
    from kernel.calendar import WorkingCalendar
    return WorkingCalendar.local_date(now) <= deadline_date


def rectification_progress(items) -> dict:
    """How far a rectification list has come (APP-9), from its items as the
    RectificationOut shape has them (status, on_time, overdue)."""
    done = [i for i in items if i["status"] == "done"]
    return {"total": len(items), "done": len(done), "open": len(items) - len(done),
            "overdue": sum(1 for i in items if i["overdue"]),
            "done_on_time": sum(1 for i in done if i["on_time"]),
            "percent_done": round(100 * len(done) / len(items), 1) if items else 0.0}
