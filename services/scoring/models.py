"""Tables of the scoring service (its own database; no other service reads them)."""
from sqlalchemy import (JSON, Boolean, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import UTCDateTime
from kernel.models import BIGINT, HistoryRow, Id
from kernel.outbox import define_kernel_tables

class Base(DeclarativeBase):
    pass


outbox_table, processed_table = define_kernel_tables(Base.metadata)


class Subject(Base):
    """What is rated: a window, a clerk, a department or town, a section chief,
    an official — from the county's subjects directory (config/scoring/)."""
    __tablename__ = "subjects"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(32), index=True)  # the unit it belongs to
    unit_kind: Mapped[str | None] = mapped_column(String(16))  # service | enforcement | resource


class Rating(Id, Base):
    """SCO-1 好差评: one rating of one subject for one service event."""
    __tablename__ = "ratings"

    subject_code: Mapped[str] = mapped_column(String(64))
    subject_kind: Mapped[str] = mapped_column(String(16))
    department: Mapped[str] = mapped_column(String(32), index=True)
    enterprise_code: Mapped[str] = mapped_column(String(18), index=True)
    # what was rated: "qr:<ticket>", "appeal:<id>", "inspection:<id>"
    service_event: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, Shanghai date
    rated_at = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        # one rating per enterprise per subject per service event
        UniqueConstraint("enterprise_code", "subject_code", "service_event", name="uq_rating_once"),
        # the recomputation (verify) groups one period's ratings per subject
        Index("ix_ratings_period_subject", "period", "subject_kind", "subject_code"),
    )


class RatingTotal(Base):
    """Running totals per subject per month, updated in the rating's own
    transaction: rankings read these, never every rating."""
    __tablename__ = "rating_totals"

    subject_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    ratings: Mapped[int] = mapped_column(BIGINT, default=0)
    total: Mapped[int] = mapped_column(BIGINT, default=0)
    bad: Mapped[int] = mapped_column(BIGINT, default=0)
    id_sum: Mapped[int] = mapped_column(BIGINT, default=0)  # for the digest
    max_id: Mapped[int] = mapped_column(BIGINT, default=0)

    __table_args__ = (Index("ix_rating_totals_period_kind", "period", "subject_kind"),)


class Followup(Id, Base):
    """差评必纠: the case a bad rating opens."""
    __tablename__ = "followups"

    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), unique=True)
    subject_code: Mapped[str] = mapped_column(String(64))
    subject_kind: Mapped[str] = mapped_column(String(16))
    department: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))
    opened_at = mapped_column(UTCDateTime, nullable=False)
    due_at = mapped_column(UTCDateTime, nullable=False)
    closed_at = mapped_column(UTCDateTime)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at = mapped_column(UTCDateTime, index=True)
    cleared: Mapped[bool] = mapped_column(Boolean, default=False)  # 澄清正名
    clearing_note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


class Card(Id, Base):
    """SCO-2 红黄牌 and its investigation."""
    __tablename__ = "cards"

    colour: Mapped[str] = mapped_column(String(8))
    subject_code: Mapped[str] = mapped_column(String(64))
    subject_kind: Mapped[str] = mapped_column(String(16))
    department: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    finding: Mapped[str | None] = mapped_column(Text)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    issued_by: Mapped[str] = mapped_column(String(160))
    issued_at = mapped_column(UTCDateTime, nullable=False)
    updated_at = mapped_column(UTCDateTime)
    period: Mapped[str] = mapped_column(String(7), index=True)


class History(HistoryRow, Base):
    """Append-only: every step of a follow-up or a card, who, when, note."""
    __tablename__ = "history"
    action_width, status_width = 40, 16

    thing: Mapped[str] = mapped_column(String(16))  # followup | card
    thing_id: Mapped[int] = mapped_column(BIGINT)

    __table_args__ = (Index("ix_history_thing", "thing", "thing_id"),)


class Ranking(Id, Base):
    """SCO-3: a published ranking, frozen; a correction is a new row naming this one."""
    __tablename__ = "rankings"

    kind: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(7))
    version: Mapped[int] = mapped_column(Integer)
    replaces: Mapped[int | None] = mapped_column(ForeignKey("rankings.id"))
    correction_reason: Mapped[str | None] = mapped_column(Text)
    min_ratings: Mapped[int] = mapped_column(Integer)
    best_n: Mapped[int] = mapped_column(Integer)
    worst_n: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict] = mapped_column(JSON)
    published_by: Mapped[str] = mapped_column(String(160))
    published_at = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("kind", "period", "version", name="uq_ranking_version"),)


class LiveSession(Id, Base):
    """SCO-6 百户企业评议: departments report, enterprises score at once."""
    __tablename__ = "live_sessions"

    title: Mapped[str] = mapped_column(String(200))
    departments: Mapped[list] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8))
    created_at = mapped_column(UTCDateTime, nullable=False)


class SessionScore(Id, Base):
    __tablename__ = "session_scores"

    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"))
    rater: Mapped[str] = mapped_column(String(160))
    department: Mapped[str] = mapped_column(String(32))
    score: Mapped[int] = mapped_column(Integer)
    at = mapped_column(UTCDateTime, nullable=False)

    # a rater scores each department once
    __table_args__ = (UniqueConstraint("session_id", "rater", "department", name="uq_session_score"),)


class SessionTotal(Base):
    __tablename__ = "session_totals"

    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"), primary_key=True)
    department: Mapped[str] = mapped_column(String(32), primary_key=True)
    scores: Mapped[int] = mapped_column(BIGINT, default=0)
    total: Mapped[int] = mapped_column(BIGINT, default=0)


class WorkStat(Base):
    """SCO-7: what a department's own work gave per month, from events."""
    __tablename__ = "work_stats"

    department: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    replied: Mapped[int] = mapped_column(Integer, default=0)
    replied_on_time: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)
    rated: Mapped[int] = mapped_column(Integer, default=0)
    rating_total: Mapped[int] = mapped_column(Integer, default=0)
    quiet_day_violations: Mapped[int] = mapped_column(Integer, default=0)
    cap_violations: Mapped[int] = mapped_column(Integer, default=0)
    late_filings: Mapped[int] = mapped_column(Integer, default=0)


class CountedViolation(Base):
    """An inspection's broken rule counted once, whichever of its events
    (filed, approved, flagged) arrives first or again."""
    __tablename__ = "counted_violations"

    inspection_id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    rule: Mapped[str] = mapped_column(String(8), primary_key=True)
    department: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(7))


class Sample(Id, Base):
    """SCO-4 重点股室大家评: a quarter's random sample of section chiefs. The seed
    is committed before the population is read, so nobody can choose the seed
    knowing who it picks; seed and population are kept, so anyone can replay it."""
    __tablename__ = "samples"

    quarter: Mapped[str] = mapped_column(String(7))
    size: Mapped[int] = mapped_column(Integer)
    seed: Mapped[str] = mapped_column(String(64))
    seeded_at = mapped_column(UTCDateTime, nullable=False)
    population: Mapped[list | None] = mapped_column(JSON)  # codes, as read after the seed
    chosen: Mapped[list | None] = mapped_column(JSON)
    drawn_at = mapped_column(UTCDateTime)
    drawn_by: Mapped[str] = mapped_column(String(160))


class IndicatorSubmission(Id, Base):
    """SCO-5 指标责任人述职: an owner unit's value of one indicator for a quarter."""
    __tablename__ = "indicator_submissions"

    period: Mapped[str] = mapped_column(String(7))
    code: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[list] = mapped_column(JSON)  # [{name, url}]
    note: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(160))
    submitted_at = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("period", "code", name="uq_indicator_period"),)
