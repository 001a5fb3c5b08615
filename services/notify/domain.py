"""The rules of notify (通知, NOT-1 … NOT-3) as plain functions: no I/O.

- who is told of an event, on which channels, how urgently (``plan``);
- quiet hours: no SMS or WeChat 22:00–08:00 Asia/Shanghai unless urgent
  (``not_before``);
- the hourly SMS cap per phone (``sms_allowed``);
- retries with exponential back-off, then dead (``after_failure``);
- which enterprises a push reaches (``matches``);
- which webhook targets are allowed (``check_webhook_target``);
- licences: CSV rows checked by line, reminders due ahead of expiry.
"""
import csv
import datetime as dt
import io
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from kernel.calendar import SHANGHAI, to_utc

SMS, WECHAT, EMAIL, INBOX, WEBHOOK = "sms", "wechat", "email", "inbox", "webhook"
CHANNELS = (SMS, WECHAT, EMAIL, INBOX, WEBHOOK)
# Channels that wake a person: they keep quiet at night (NOT-3).
INTRUSIVE = frozenset({SMS, WECHAT})

# Delivery statuses.
QUEUED, WAITING, HELD, SENT, FAILED, DEAD = (
    "queued", "waiting_for_morning", "held", "sent", "failed", "dead")
STATUSES = (QUEUED, WAITING, HELD, SENT, FAILED, DEAD)
PENDING = (QUEUED, WAITING, HELD, FAILED)  # the dispatcher's work

# Pushes to enterprises (NOT-2): support policies (惠企政策精准推送), licences about
# to expire (无感续证), tax refunds due (退税提醒), dishonesty warnings (失信提醒).
PUSH_KINDS = ("policy", "licence_expiry", "tax_refund", "dishonesty")
SIZES = ("above_scale", "small")


@dataclass(frozen=True)
class Recipient:
    """Someone to tell. ``kind``: official (a role in a department, from the
    county profile) or enterprise (by credit code). ``role``: head,
    deadline_contact, taskforce_head for officials; contact for enterprises."""
    kind: str
    key: str  # department code or credit code
    role: str

    @property
    def ref(self):
        return f"{self.kind}:{self.key}:{self.role}"

    @property
    def inbox_owner(self):
        """Whose inbox: an enterprise's own, or the official's department's."""
        return ("enterprise", self.key) if self.kind == "enterprise" else ("department", self.key)


@dataclass(frozen=True)
class Notice:
    """One person, one channel, one event (the unit that is sent once)."""
    recipient: Recipient
    channel: str
    urgent: bool = False


@dataclass
class Plan:
    notices: list = field(default_factory=list)
    departments: tuple = ()  # whose objects the event is about (webhook visibility)

    def tell(self, recipient, channels, urgent=False):
        for channel in channels:
            notice = Notice(recipient, channel, urgent)
            if notice not in self.notices:
                self.notices.append(notice)


def official(department, role):
    return Recipient("official", department, role)


def enterprise(credit_code):
    return Recipient("enterprise", credit_code, "contact")


ONE_TAP = "one_tap"  # 一键约见: the channel of a one-tap appointment
ENTERPRISE_STATUS = {"accepted", "replied", "closed", "returned"}


def plan(event_type, data, taskforce="taskforce"):
    """Who is told of one event, on which channels (NOT-1, NOT-2)."""
    p = Plan()
    lead = data.get("lead_department") or data.get("department")
    about = [lead] + list(data.get("co_departments") or []) + list(data.get("departments") or [])
    p.departments = tuple(dict.fromkeys(d for d in about if d))
    ent = data.get("enterprise_code")
    if event_type in ("appeal.created", "appeal.assigned"):
        # created names the first lead; assigned tells a new head only on a
        # transfer (the first assignment comes with created: one SMS, not two)
        transfer = event_type == "appeal.assigned" and data.get("previous_department")
        if data.get("channel") == ONE_TAP and lead and (event_type == "appeal.created" or transfer):
            # NOT-1: a one-tap appointment reaches the department head at once.
            p.tell(official(lead, "head"), (SMS, INBOX), urgent=True)
    elif event_type == "appeal.due_soon" and lead:
        p.tell(official(lead, "deadline_contact"), (SMS, INBOX))
    elif event_type == "appeal.escalated" and lead:
        p.tell(official(lead, "deadline_contact"), (SMS, INBOX))
        if data.get("step") in ("talk", "notice", "accountability"):  # 约谈, 通报, 问责
            p.tell(official(lead, "head"), (SMS, EMAIL, INBOX))
            p.tell(official(taskforce, "taskforce_head"), (EMAIL, INBOX))
    elif event_type == "appeal.status_changed" and ent and data.get("to_status") in ENTERPRISE_STATUS:
        p.tell(enterprise(ent), (WECHAT, INBOX))
    elif event_type == "appeal.replied" and ent:
        p.tell(enterprise(ent), (SMS, INBOX))  # "please rate" (请评价)
    elif event_type in ("inspection.approved", "inspection.rejected") and ent:
        p.tell(enterprise(ent), (WECHAT, INBOX))  # the entry code decision
    elif event_type == "rating.bad" and data.get("department"):
        p.tell(official(data["department"], "head"), (SMS, INBOX))
    elif event_type == "card.issued" and data.get("department"):
        p.tell(official(data["department"], "head"), (SMS, EMAIL, INBOX))
        p.tell(official(taskforce, "taskforce_head"), (INBOX,))
    elif event_type == "followup.overdue" and data.get("department"):
        p.tell(official(data["department"], "deadline_contact"), (SMS, INBOX))
        p.tell(official(data["department"], "head"), (INBOX,))
    elif event_type == "ranking.published":
        p.tell(official(taskforce, "taskforce_head"), (EMAIL, INBOX))
    return p


PUSH_CHANNELS = (SMS, INBOX)
URGENT_PUSHES = frozenset()  # none wakes anyone at night


def webhook_visible(subscriber_department, about_departments, taskforce="taskforce"):
    """A department's system sees only events about its own objects (GW-3);
    the task force's sees all."""
    return subscriber_department == taskforce or subscriber_department in about_departments


# -- quiet hours ------------------------------------------------------------------

QUIET_START, QUIET_END = dt.time(22, 0), dt.time(8, 0)


def not_before(channel, urgent, now):
    """When a notice may go: now, or 08:00 Shanghai when it would wake someone."""
    if urgent or channel not in INTRUSIVE:
        return now
    local = to_utc(now).astimezone(SHANGHAI)
    t = local.time()
    if QUIET_END <= t < QUIET_START:
        return now
    day = local.date() if t < QUIET_END else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, QUIET_END, tzinfo=SHANGHAI).astimezone(dt.timezone.utc)


# -- the SMS cap (no SMS bombing through the platform) -------------------------------

HOUR = dt.timedelta(hours=1)


def sms_allowed(sent_times, now, limit):
    """``sent_times``: when the phone was sent SMS in the last hour. Returns
    ``(True, None)`` or ``(False, when the oldest leaves the window)``."""
    recent = sorted(t for t in sent_times if t > now - HOUR)
    if len(recent) < limit:
        return True, None
    return False, recent[len(recent) - limit] + HOUR


# -- retries ------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_seconds: float = 30.0
    factor: float = 2.0
    cap_seconds: float = 3600.0

    def after_failure(self, attempts, now):
        """``(status, next attempt)`` after the ``attempts``-th failure."""
        if attempts >= self.max_attempts:
            return DEAD, None
        delay = min(self.cap_seconds, self.base_seconds * self.factor ** (attempts - 1))
        return FAILED, now + dt.timedelta(seconds=delay)


# -- pushes ---------------------------------------------------------------------------

def size_of(above_scale):
    return "above_scale" if above_scale else "small"


def matches(tags, industry, size, town):
    """An enterprise matches a push when each tag list given holds its value
    (a list left out or empty matches everyone)."""
    for wanted, value in ((tags.get("industry"), industry), (tags.get("size"), size),
                          (tags.get("town"), town)):
        if wanted and value not in wanted:
            return False
    return True


# -- webhooks (GW-3), no server-side request forgery ----------------------------------

class TargetRefused(ValueError):
    pass


def check_webhook_target(url, addresses, allow, production):
    """Refuse a target URL unless it is http(s) (https in production) and every
    address its host resolves to is public, or allow-listed.

    ``addresses``: the IPs the host resolves to; ``allow``: networks
    (``ipaddress`` objects) and host names the operator allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("must be an http(s) URL with a host")
    if production and parts.scheme != "https":
        raise TargetRefused("must be https")
    if parts.username or parts.password:
        raise TargetRefused("must not carry credentials")
    host = parts.hostname.lower()
    if host in {a for a in allow if isinstance(a, str)}:
        return
    if not addresses:
        raise TargetRefused("host does not resolve")
    nets = [a for a in allow if not isinstance(a, str)]
    for raw in addresses:
        ip = ipaddress.ip_address(raw)
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        if any(ip in net for net in nets):
            continue
        # not global: loopback, link-local, private, shared (CGNAT), reserved…
        if not ip.is_global or ip.is_multicast:
            raise TargetRefused(f"address {ip} is not public and not allow-listed")


def parse_allow_list(items):
    """Config entries: CIDR networks / IPs become networks, anything else a host name."""
    out = []
    for item in items or ():
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            out.append(str(item).lower())
    return out


# -- licences (无感续证) ---------------------------------------------------------------

LICENCE_COLUMNS = ("credit_code", "licence_no", "name", "expires_on")


def parse_licences(text, valid_code):
    """CSV with a header ``credit_code,licence_no,name,expires_on``. Returns
    ``(rows, errors)``; each error names its line (the header is line 1)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in LICENCE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return [], [{"line": 1, "errors": {c: ["missing column"] for c in missing}}]
    rows, errors = [], []
    for line, raw in enumerate(reader, start=2):
        problems = {}
        code = (raw.get("credit_code") or "").strip()
        if not valid_code(code):
            problems["credit_code"] = ["not a valid unified social credit code"]
        number = (raw.get("licence_no") or "").strip()
        if not number or len(number) > 64:
            problems["licence_no"] = ["required, at most 64 characters"]
        name = (raw.get("name") or "").strip()
        if not name or len(name) > 100:
            problems["name"] = ["required, at most 100 characters"]
        try:
            expires = dt.date.fromisoformat((raw.get("expires_on") or "").strip())
        except ValueError:
            problems["expires_on"] = ["not a date (YYYY-MM-DD)"]
        if problems:
            errors.append({"line": line, "errors": problems})
        else:
            rows.append({"credit_code": code, "licence_no": number, "name": name,
                         "expires_on": expires})
    return rows, errors


def licence_reminders_due(expires_on, today, ahead_days, already):
    """The reminder offsets (days ahead) due today and not yet sent."""
    left = (expires_on - today).days
    due = [d for d in ahead_days if 0 <= left <= d]
    if not due or min(due) in already:
        return []
    return [min(due)]  # the nearest mark only: a late import sends one, not a burst


# -- personal data in logs -------------------------------------------------------------

def mask_address(channel, address):
    """A phone as 138****0001, an e-mail as z***@example.com, others shortened."""
    if not address:
        return address
    if channel == SMS:
        return address[:-8] + "****" + address[-4:] if len(address) > 8 else "****"
    if channel == EMAIL and "@" in address:
        local, domain = address.split("@", 1)
        return local[:1] + "***@" + domain
    if channel == WEBHOOK:
        parts = urlsplit(address)
        return f"{parts.scheme}://{parts.hostname}/…"
    return address[:4] + "…" if len(address) > 4 else "…"


CONTACT_COLUMNS = ("credit_code", "phone", "email", "wechat_openid")


def parse_contacts(text, valid_code, normalise_phone):
    """The enterprise contact import: CSV ``credit_code,phone,email,wechat_openid``
    (phone, e-mail, openid each optional). Returns ``(rows, errors by line)``."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CONTACT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return [], [{"line": 1, "errors": {c: ["missing column"] for c in missing}}]
    rows, errors = [], []
    for line, raw in enumerate(reader, start=2):
        problems, row = {}, {}
        row["credit_code"] = (raw.get("credit_code") or "").strip()
        if not valid_code(row["credit_code"]):
            problems["credit_code"] = ["not a valid unified social credit code"]
        phone = (raw.get("phone") or "").strip()
        try:
            row["phone"] = normalise_phone(phone) if phone else None
        except Exception:  # the validator's own error type
            problems["phone"] = ["not a valid phone number"]
        email = (raw.get("email") or "").strip()
        if email and (len(email) > 200 or "@" not in email or " " in email):
            problems["email"] = ["not an e-mail address"]
        row["email"] = email or None
        openid = (raw.get("wechat_openid") or "").strip()
        if len(openid) > 64:
            problems["wechat_openid"] = ["at most 64 characters"]
        row["wechat_openid"] = openid or None
        if problems:
            errors.append({"line": line, "errors": problems})
        else:
            rows.append(row)
    return rows, errors
