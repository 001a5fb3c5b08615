"""kernel.entrypoints: an id from outside, its row or 404, and a sweep's due rows."""
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from kernel.db import UTCDateTime
from kernel.entrypoints import due_ids, get_or_404, object_id
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
