"""The ledger (台账, APP-8): filtered pages, monthly statistics, exports.

Reads only. Pages are keyset-paginated on the id (newest first), so a page
deep in a million rows costs what the first one costs, and a row inserted
while someone pages never shifts what they see.
"""
import base64
import csv
import datetime as dt
import io

from openpyxl import Workbook
from sqlalchemy import String, and_, case, cast, func, or_, select

from kernel.calendar import SHANGHAI
from kernel.exports import safe_cell

from . import domain
from .models import Appeal, AppealCoDepartment, RectificationItem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def visibility_clause(caller):
    """GW-2 as SQL: the rows this caller may see."""
    if caller.is_staff:
        return None
    if caller.role == "enterprise":
        return Appeal.enterprise_code == caller.org
    if caller.role == "department":
        return _lead_or_co(Appeal, caller.org)  # co-handlers matched exactly
    if caller.role == "channel":
        return Appeal.channel == caller.org  # as domain.can_see: by organisation
    return Appeal.id < 0  # unknown role: nothing


def filtered(query, caller, now):
    q = select(Appeal)
    vis = visibility_clause(caller)
    if vis is not None:
        q = q.where(vis)
    if query.get("department"):
        q = q.where(Appeal.lead_department == query["department"])
    for key in ("status", "tier", "channel", "category", "enterprise_code"):
        if query.get(key):
            q = q.where(getattr(Appeal, key) == query[key])
    if query.get("overdue") is True:
        q = q.where(Appeal.status.in_(domain.HANDLING), Appeal.due_at < now)
    elif query.get("overdue") is False:
        q = q.where(or_(Appeal.status.not_in(domain.HANDLING), Appeal.due_at >= now))
    if query.get("received_from"):
        q = q.where(Appeal.received_at >= query["received_from"])
    if query.get("received_to"):
        q = q.where(Appeal.received_at < query["received_to"])
    return q


def page(session, query, caller, now):
    q = filtered(query, caller, now)
    if query.get("cursor"):
        q = q.where(Appeal.id < query["cursor"])
    limit = query["limit"]
    rows = session.execute(q.order_by(Appeal.id.desc()).limit(limit + 1)).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


def month_bounds(month: str):
    """A calendar month in Shanghai time, as a UTC half-open interval."""
    year, mon = map(int, month.split("-"))
    start = dt.datetime(year, mon, 1, tzinfo=SHANGHAI)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=SHANGHAI)
    return start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)


def monthly_stats(session, month, caller, now):
    """Per lead department, for one month:
    received — appeals received in the month; closed — closed in the month;
    replied / replied_on_time — replies given in the month and how many by the
    deadline; overdue — appeals still being handled past their deadline at the
    month's end (or now, for the current month) plus replies given late;
    rated / satisfied — ratings given in the month and how many were 3–5."""
    start, end = month_bounds(month)
    cutoff = min(end, now)
    dept = Appeal.lead_department
    vis = visibility_clause(caller)

    def grouped(*cols, where):
        q = select(dept, *cols).where(where).group_by(dept)
        if vis is not None:
            q = q.where(vis)
        return {row[0]: row[1:] for row in session.execute(q)}

    in_month = lambda col: and_(col >= start, col < end)  # noqa: E731
    received = grouped(func.count(), where=in_month(Appeal.received_at))
    closed = grouped(func.count(), where=in_month(Appeal.closed_at))
    replied = grouped(func.count(), func.sum(case((Appeal.replied_on_time.is_(True), 1), else_=0)),
                      where=in_month(Appeal.replied_at))
    still_overdue = grouped(func.count(), where=and_(
        Appeal.status.in_(domain.HANDLING), Appeal.due_at < cutoff, Appeal.received_at < end))
    rated = grouped(func.count(), func.sum(case((Appeal.rating >= 3, 1), else_=0)),
                    func.avg(Appeal.rating), where=in_month(Appeal.rated_at))

    out = []
    for d in sorted({k for m in (received, closed, replied, still_overdue, rated) for k in m},
                    key=lambda x: (x is None, x or "")):
        n_replied, n_on_time = replied.get(d, (0, 0))
        n_rated, n_satisfied, avg = rated.get(d, (0, 0, None))
        n_on_time = int(n_on_time or 0)
        n_satisfied = int(n_satisfied or 0)
        out.append({
            "department": d or "(task force queue)",
            "received": received.get(d, (0,))[0],
            "closed": closed.get(d, (0,))[0],
            "replied": n_replied,
            "replied_on_time": n_on_time,
            "on_time_rate": round(n_on_time / n_replied, 4) if n_replied else None,
            "overdue": still_overdue.get(d, (0,))[0] + (n_replied - n_on_time),
            "rated": n_rated,
            "satisfied": n_satisfied,
            "satisfaction_rate": round(n_satisfied / n_rated, 4) if n_rated else None,
            "average_rating": round(float(avg), 2) if avg is not None else None,
        })
    return {"month": month, "departments": out}


EXPORT_COLUMNS = [
    ("id", "编号"), ("channel", "渠道"), ("enterprise_code", "统一社会信用代码"),
    ("enterprise_name", "企业名称"), ("category", "类别"), ("town", "乡镇"), ("title", "标题"),
    ("tier", "交办等级"), ("status", "状态"), ("lead_department", "牵头单位"),
    ("co_departments", "责任单位"), ("received_at", "受理时间"), ("due_at", "办结时限"),
    ("replied_at", "答复时间"), ("replied_on_time", "按时答复"), ("rating", "评价"),
    ("closed_at", "销号时间"), ("escalation_level", "督办等级"),
]


def _cell(appeal, key):
    value = getattr(appeal, key)
    if isinstance(value, dt.datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list):
        return "、".join(value)
    if key == "channel":
        return domain.CHANNELS.get(value, value)
    if key == "escalation_level":
        return domain.LADDER_ZH[domain.LADDER[value - 1]] if value else ""
    if value is None:
        return ""
    return value


def export(session, query, caller, now):
    q = filtered(query, caller, now).order_by(Appeal.id).limit(query["limit"])
    rows = session.execute(q).scalars().all()
    return spreadsheet("诉求台账", [zh for _, zh in EXPORT_COLUMNS],
                       [[_cell(a, k) for k, _ in EXPORT_COLUMNS] for a in rows],
                       query["format"], "appeals", now)


def spreadsheet(sheet, header, rows, fmt, stem, now):
    """Rows as a CSV (UTF-8 with BOM, so that Excel reads the Chinese) or XLSX
    file, in the ExportOut shape."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(header)
        for row in rows:  # every cell made safe to open (formula injection, XML)
            writer.writerow([safe_cell(c) for c in row])
        data = ("\ufeff" + buf.getvalue()).encode("utf-8")
        ctype = "text/csv; charset=utf-8"
    else:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(sheet)
        ws.append(header)
        for row in rows:
            ws.append([safe_cell(c) for c in row])
        buf = io.BytesIO()
        wb.save(buf)
        data = buf.getvalue()
        ctype = XLSX
    stamp = now.astimezone(SHANGHAI).strftime("%Y%m%d-%H%M")
    return {"filename": f"{stem}-{stamp}.{fmt}", "content_type": ctype,
            "rows": len(rows), "content_base64": base64.b64encode(data).decode("ascii")}


# -- the three lists (三张清单, APP-8) -----------------------------------------------------
# tasks: what the department must do — appeals it leads being handled and the
#   rectification items it leads still open; in a period by when they came in.
# responsibilities: what it answers for, lead or co-handling, with the role and
#   the responsible leader; in a period by when they came in.
# deadlines: everything it leads or co-handles, soonest deadline first; in a
#   period by when the deadline falls.
LIST_COLUMNS = [
    ("kind", "类型"), ("id", "编号"), ("title", "事项"), ("role", "角色"),
    ("lead_department", "牵头单位"), ("co_departments", "责任单位"),
    ("responsible_leader", "责任领导"), ("status", "状态"), ("tier", "交办等级"),
    ("since", "受理/列入时间"), ("due", "办结时限"), ("overdue", "超期"),
]
LIST_SHEETS = {"tasks": "任务清单", "responsibilities": "责任清单", "deadlines": "时限清单"}


def department_list(session, kind, department, period, caller, now):
    """One of a department's three lists: rows in the DepartmentListRow shape.
    ``period`` is a half-open UTC interval (start or end None: unbounded)."""
    q = filtered({}, caller, now).where(Appeal.status.in_(domain.HANDLING),
                                        _lead_or_co(Appeal, department))
    appeals = session.execute(q.order_by(Appeal.id)).scalars().all()
    items = session.execute(select(RectificationItem).where(
        RectificationItem.status == "open", _lead_or_co(RectificationItem, department))
        .order_by(RectificationItem.id)).scalars().all()
    rows = []
    for a in appeals:
        role = _role(department, a.lead_department, a.co_departments)
        if role and (kind != "tasks" or role == "lead"):
            rows.append({"kind": "appeal", "id": a.id, "title": a.title, "role": role,
                         "lead_department": a.lead_department,
                         "co_departments": list(a.co_departments or []),
                         "responsible_leader": None, "status": a.status, "tier": a.tier,
                         "since": a.received_at, "due": a.due_at,
                         "overdue": domain.is_overdue(a, now)})
    for i in items:
        role = _role(department, i.lead_department, i.co_departments)
        if role and (kind != "tasks" or role == "lead"):
            due = dt.datetime.combine(i.deadline, dt.time(23, 59, 59), SHANGHAI)
            rows.append({"kind": "rectification", "id": i.id, "title": i.problem[:200],
                         "role": role, "lead_department": i.lead_department,
                         "co_departments": list(i.co_departments or []),
                         "responsible_leader": i.responsible_leader, "status": i.status,
                         "tier": None, "since": i.created_at, "due": due,
                         "overdue": not domain.calendar_date_le(now, i.deadline)})
    start, end = period
    when = "due" if kind == "deadlines" else "since"
    rows = [r for r in rows if r[when] is not None or (start is None and end is None)]
    rows = [r for r in rows if (start is None or r[when] >= start) and (end is None or r[when] < end)]
    if kind == "deadlines":
        far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
        rows.sort(key=lambda r: (r["due"] or far, r["kind"], r["id"]))
    return rows


def _lead_or_co(table, department):
    """Rows the department leads or co-handles, matched exactly: an appeal's
    co-handlers are rows of their own (indexed); a rectification item's are a
    JSON list, searched with LIKE's wildcards escaped ('_' in a code is a '_')."""
    if table is Appeal:
        return or_(Appeal.lead_department == department,
                   Appeal.id.in_(select(AppealCoDepartment.appeal_id)
                                 .where(AppealCoDepartment.department == department)))
    literal = department.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(table.lead_department == department,
               cast(table.co_departments, String).like(f'%"{literal}"%', escape="\\"))


def _role(department, lead, co):
    if lead == department:
        return "lead"
    if department in (co or ()):
        return "co-handling"
    return None


def list_spreadsheet(kind, department, rows, fmt, now):
    return spreadsheet(LIST_SHEETS[kind], [zh for _, zh in LIST_COLUMNS],
                       [[_list_cell(r[k]) for k, _ in LIST_COLUMNS] for r in rows],
                       fmt, f"{kind}-{department}", now)


def _list_cell(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list):
        return "、".join(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return "" if value is None else value


def day_bounds(first, last):
    """Days ``first``..``last`` (inclusive, Beijing time) as a half-open UTC interval."""
    start = end = None
    if first is not None:
        start = dt.datetime.combine(first, dt.time(), SHANGHAI).astimezone(dt.timezone.utc)
    if last is not None:
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(),
                                  SHANGHAI).astimezone(dt.timezone.utc)
    return start, end


def open_counts(session, now):
    """Business gauges: open and overdue appeals by tier and department."""
    q = select(Appeal.tier, Appeal.lead_department, func.count(),
               func.sum(case((Appeal.due_at < now, 1), else_=0))).where(
        Appeal.status.in_(domain.HANDLING)).group_by(Appeal.tier, Appeal.lead_department)
    return [(t, d or "taskforce_queue", int(n), int(o or 0)) for t, d, n, o in session.execute(q)]
