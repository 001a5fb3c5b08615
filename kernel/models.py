"""Columns every service's tables repeat, written once: the id that is a
BIGINT on PostgreSQL and an INTEGER (rowid) on SQLite (``Id``), timestamps, and the
append-only history of an aggregate's transitions."""
from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from .db import UTCDateTime

BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Id:
    """The surrogate key of a table: a 64-bit id the database assigns, first
    among the columns wherever the mixin stands among the bases."""
    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True, sort_order=-1)


class Timestamps:
    created_at = mapped_column(UTCDateTime, nullable=False)
    updated_at = mapped_column(UTCDateTime, nullable=False)


class HistoryRow(Id):
    """Append-only: every transition of an aggregate, who, when, from, to, note.
    A subclass adds what it belongs to (e.g. ``visit_id``), its table name and
    the widths ``action_width`` and ``status_width``."""
    at = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(160))
    note: Mapped[str] = mapped_column(Text, default="")

    @declared_attr
    def action(cls) -> Mapped[str]:
        return mapped_column(String(cls.action_width))

    @declared_attr
    def from_status(cls) -> Mapped[str | None]:
        return mapped_column(String(cls.status_width), nullable=True)

    @declared_attr
    def to_status(cls) -> Mapped[str]:
        return mapped_column(String(cls.status_width))
