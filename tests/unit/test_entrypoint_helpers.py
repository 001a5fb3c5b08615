"""kernel.entrypoints: an id from outside, its row or 404, and a sweep's due rows."""
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from kernel.db import UTCDateTime
from kernel.entrypoints import due_ids, get_or_404, object_id, read_one
from kernel.errors import NotFound
from kernel.models import Id

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Case(Id, Base):
    __tablename__ = "cases"
    next_check_at = mapped_column(UTCDateTime, index=True)
    name: Mapped[str] = mapped_column(sa.String(20), default="")


@pytest.fixture
def session():
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([Case(next_check_at=T0 + dt.timedelta(hours=h)) for h in (3, 1, 2, 9)]
                  + [Case(next_check_at=None)])
        s.flush()
        yield s


@pytest.mark.parametrize("value", ["7", 7])
def test_an_id_from_outside(value):
    assert object_id(value) == 7


@pytest.mark.parametrize("value", [None, "", "x", "1.5", 0, -1, 2**63, "9" * 30, [1]])
def test_anything_else_is_not_there(value):
    with pytest.raises(NotFound, match="no such visit"):
        object_id(value, "visit")


def test_the_largest_64_bit_id_is_an_id():
    assert object_id(2**63 - 1) == 2**63 - 1


def test_get_or_404(session):
    assert get_or_404(session, Case, "2", "case").id == 2
    for value in ("99", "nope", 2**64):
        with pytest.raises(NotFound, match="^no such case$"):
            get_or_404(session, Case, value, "case")


def test_due_ids_are_those_whose_time_has_come_earliest_first(session):
    now = T0 + dt.timedelta(hours=3)
    assert due_ids(session, Case.next_check_at, now) == [2, 3, 1]
    assert due_ids(session, Case.next_check_at, now, limit=2) == [2, 3]
    assert due_ids(session, Case.next_check_at, T0) == []


class _Reading:
    """A Database's ``reading()`` over the test's session."""

    def __init__(self, session):
        self.session = session

    def reading(self):
        import contextlib
        return contextlib.nullcontext(self.session)


def test_read_one_answers_the_row_or_404(session):
    db = _Reading(session)
    assert read_one(db, Case, "2", "case", lambda s, row: (s is session, row.id)) == (True, 2)
    for value in ("99", "nope"):
        with pytest.raises(NotFound, match="^no such case$"):
            read_one(db, Case, value, "case", lambda s, row: row)


def test_read_one_lets_the_check_decide_also_for_a_missing_row(session):
    db = _Reading(session)
    seen = []

    def check(row):
        seen.append(row)
        if row is None or row.id != 2:
            raise NotFound("no such thing of yours")

    assert read_one(db, Case, 2, "case", lambda s, row: row.id, check=check) == 2
    with pytest.raises(NotFound, match="of yours"):
        read_one(db, Case, 3, "case", lambda s, row: row.id, check=check)
    with pytest.raises(NotFound, match="of yours"):
        read_one(db, Case, 99, "case", lambda s, row: row.id, check=check)
    assert [r.id if r else None for r in seen] == [2, 3, None]
