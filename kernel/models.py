"""Columns every service's tables repeat, written once: the id that is a
BIGINT on PostgreSQL and an INTEGER (rowid) on SQLite, timestamps, and the
append-only history of an aggregate's transitions."""
from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from .db import UTCDateTime

BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Timestamps:
    created_at = mapped_column(UTCDateTime, nullable=False)
    updated_at = mapped_column(UTCDateTime, nullable=False)


class HistoryRow:
    """Append-only: every transition of an aggregate, who, when, from, to, note.
    A subclass adds its foreign key (e.g. ``visit_id``) and its table name."""
    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
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
