"""The registers in the database: the enterprise directory, inspection items,
inspectors and their declared conflicts. Called inside the caller's
transaction; ``emit(session, event_type, data)`` stages an event in it."""
from sqlalchemy import delete, select

from . import domain
from .models import Enterprise, InspectionItem, Inspector, InspectorConflict, RegisterChange

ITEM_FIELDS = ("department", "name", "legal_basis", "standard", "industries", "frequency", "active")
INSPECTOR_FIELDS = ("department", "name", "certificate_no", "certificate_expires", "active",
                    "conflicts")

DIRECTORY_FIELDS = ("name", "town", "industry", "size", "above_scale", "key_investment",
                    "key_project", "contact_name", "contact_phone", "address")


def enterprise_event(ent):
    """enterprise.upserted: what other services learn of an enterprise (no contacts)."""
    return {"credit_code": ent.credit_code, "name": ent.name, "town": ent.town,
            "industry": ent.industry, "above_scale": ent.above_scale,
            "key_investment": ent.key_investment, "key_project": ent.key_project}


def upsert_enterprises(session, rows, now, emit):
    """Insert new enterprises, update changed ones, leave the same ones alone.
    Keyed by credit code: a re-import never duplicates. Returns the counts."""
    created = updated = unchanged = 0
    values_by_code = {values["credit_code"]: values for _line, values in rows}
    codes = list(values_by_code)
    existing = {}
    for start in range(0, len(codes), 500):
        chunk = codes[start:start + 500]
        for ent in session.execute(select(Enterprise).where(Enterprise.credit_code.in_(chunk))
                                   .with_for_update()).scalars():
            existing[ent.credit_code] = ent
    for code, values in values_by_code.items():
        ent = existing.get(code)
        if ent is None:
            ent = Enterprise(credit_code=code, created_at=now, updated_at=now,
                             **{f: values[f] for f in DIRECTORY_FIELDS})
            session.add(ent)
            created += 1
        elif any(getattr(ent, f) != values[f] for f in DIRECTORY_FIELDS):
            for f in DIRECTORY_FIELDS:
                setattr(ent, f, values[f])
            ent.updated_at = now
            updated += 1
        else:
            unchanged += 1
            continue
        emit(session, "enterprise.upserted", enterprise_event(ent))
    return {"created": created, "updated": updated, "unchanged": unchanged}


def _snapshot(row, names, conflicts=None):
    if row is None:
        return None
    out = {n: getattr(row, n) for n in names if n != "conflicts"}
    if "certificate_expires" in out and out["certificate_expires"] is not None:
        out["certificate_expires"] = out["certificate_expires"].isoformat()
    if conflicts is not None:
        out["conflicts"] = conflicts
    return out


def _record(session, register, code, department, before, after, actor, now):
    found = domain.register_change(before, after)
    if found is not None:
        session.add(RegisterChange(register=register, code=code, department=department,
                                   change=found[0], fields=found[1], actor=actor, at=now))


def upsert_item(session, data, now, actor="system:seed"):
    existing = session.get(InspectionItem, data["code"])
    before = _snapshot(existing, ITEM_FIELDS)
    item = existing or InspectionItem(code=data["code"])
    for key, value in data.items():
        setattr(item, key, value)
    item.updated_at = now
    session.add(item)
    _record(session, "item", item.code, item.department, before, _snapshot(item, ITEM_FIELDS),
            actor, now)
    return item


def _declared(session, code):
    return sorted(c.credit_code for c in session.execute(select(InspectorConflict).where(
        InspectorConflict.inspector_code == code)).scalars())


def upsert_inspector(session, data, now, actor="system:seed"):
    data = dict(data)
    conflicts = data.pop("conflicts", [])
    existing = session.get(Inspector, data["code"])
    before = _snapshot(existing, INSPECTOR_FIELDS,
                       _declared(session, data["code"]) if existing else None)
    person = existing or Inspector(code=data["code"])
    for key, value in data.items():
        setattr(person, key, value)
    person.updated_at = now
    session.add(person)
    session.flush()
    declared = {c.credit_code: c for c in session.execute(select(InspectorConflict).where(
        InspectorConflict.inspector_code == person.code)).scalars()}
    wanted = {c["credit_code"]: c for c in conflicts}
    for code in set(declared) - set(wanted):
        session.execute(delete(InspectorConflict).where(
            InspectorConflict.inspector_code == person.code, InspectorConflict.credit_code == code))
    for code, c in wanted.items():
        row = declared.get(code)
        if row is None:
            session.add(InspectorConflict(inspector_code=person.code, credit_code=code,
                                          reason=c.get("reason", ""), declared_at=now))
        else:
            row.reason = c.get("reason", "")
    session.flush()
    _record(session, "inspector", person.code, person.department, before,
            _snapshot(person, INSPECTOR_FIELDS, _declared(session, person.code)), actor, now)
    return person


def item_infos(session, codes):
    rows = session.execute(select(InspectionItem).where(InspectionItem.code.in_(list(codes)))).scalars()
    return {i.code: i for i in rows}


def inspector_infos(session, codes):
    people = {p.code: p for p in session.execute(
        select(Inspector).where(Inspector.code.in_(list(codes)))).scalars()}
    conflicts = conflicts_of(session, people)
    infos = {code: domain.InspectorInfo(code=p.code, department=p.department, name=p.name,
                                        active=p.active, certificate_expires=p.certificate_expires,
                                        conflicts=frozenset(conflicts.get(code, ())))
             for code, p in people.items()}
    return people, infos


def conflicts_of(session, codes):
    out = {}
    for c in session.execute(select(InspectorConflict).where(
            InspectorConflict.inspector_code.in_(list(codes)))).scalars():
        out.setdefault(c.inspector_code, []).append(c.credit_code)
    return out


def is_empty(session, model):
    return session.execute(select(model).limit(1)).first() is None
