"""The scoring service's sums, kept and read in the database (never every row in Python).

- ``add``: an ``INSERT … ON CONFLICT DO UPDATE`` that adds to running totals
  (PostgreSQL and SQLite both have it), in the caller's transaction.
- ``totals``: a ranking's input from the running totals (one row per
  subject and month: cost grows with the subjects, not with the ratings).
- ``recount``: the same input recomputed from the raw ratings with GROUP BY
  (what ``verify`` compares a published ranking against).
"""
from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from .models import Rating, RatingTotal, SessionTotal, WorkStat


def add(session, model, keys: dict, increments: dict, maximum: dict | None = None,
        fixed: dict | None = None):
    """Add ``increments`` to the row of ``model`` with primary key ``keys``
    (created at those values if missing); ``maximum`` columns keep the larger;
    ``fixed`` columns are set when the row is created only."""
    dialect = session.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    maximum = maximum or {}
    stmt = insert(model).values(**keys, **increments, **maximum, **(fixed or {}))
    table = model.__table__
    changes = {name: table.c[name] + stmt.excluded[name] for name in increments}
    changes.update({name: case((table.c[name] > stmt.excluded[name], table.c[name]),
                               else_=stmt.excluded[name]) for name in maximum})
    session.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))


def count_rating(session, rating, bad: bool):
    add(session, RatingTotal, {"subject_code": rating.subject_code, "period": rating.period},
        {"ratings": 1, "total": rating.score, "bad": int(bad), "id_sum": rating.id},
        {"max_id": rating.id}, {"subject_kind": rating.subject_kind})


def totals(session, months, kinds):
    """``[(code, n, total, id_sum, max_id)]`` summed over ``months`` from the running totals."""
    t = RatingTotal
    return [tuple(r) for r in session.execute(
        select(t.subject_code, func.sum(t.ratings), func.sum(t.total), func.sum(t.id_sum),
               func.max(t.max_id))
        .where(t.period.in_(months), t.subject_kind.in_(kinds))
        .group_by(t.subject_code))]


def recount(session, months, kinds):
    """The same from the stored ratings themselves."""
    r = Rating
    return [tuple(x) for x in session.execute(
        select(r.subject_code, func.count(), func.sum(r.score), func.sum(r.id), func.max(r.id))
        .where(r.period.in_(months), r.subject_kind.in_(kinds))
        .group_by(r.subject_code))]


def session_totals(session, session_id):
    t = SessionTotal
    return [tuple(r) for r in session.execute(
        select(t.department, t.scores, t.total).where(t.session_id == session_id))]


def work_stats(session, month):
    return session.execute(select(WorkStat).where(WorkStat.period == month)
                           .order_by(WorkStat.department)).scalars().all()
