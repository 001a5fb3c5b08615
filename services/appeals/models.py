"""Tables of the appeals service (its own database; no other service reads them)."""
from sqlalchemy import (JSON, Boolean, Date, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kernel.db import UTCDateTime
from kernel.models import HistoryRow, Id, Timestamps
from kernel.outbox import define_kernel_tables


class Base(DeclarativeBase):
    pass


outbox_table, processed_table = define_kernel_tables(Base.metadata)


class Appeal(Id, Timestamps, Base):
    """One appeal in the ledger (台账)."""
    __tablename__ = "appeals"

    channel: Mapped[str] = mapped_column(String(32))
    enterprise_code: Mapped[str] = mapped_column(String(18), index=True)
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(50))
    contact_phone: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(32))
    town: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list] = mapped_column(JSON, default=list)
    tier: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    lead_department: Mapped[str | None] = mapped_column(String(32))
    # 责任单位: one row each in appeal_co_departments, so a department's
    # ledger matches its code exactly (a LIKE on a JSON text took '_' as a wildcard).
    co_links: Mapped[list["AppealCoDepartment"]] = relationship(
        order_by="AppealCoDepartment.id", cascade="all, delete-orphan", lazy="selectin")
    received_at = mapped_column(UTCDateTime, nullable=False)
    due_at = mapped_column(UTCDateTime)
    accepted_at = mapped_column(UTCDateTime)
    replied_at = mapped_column(UTCDateTime)
    replied_on_time: Mapped[bool | None] = mapped_column(Boolean)
    reply_content: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at = mapped_column(UTCDateTime)
    closed_at = mapped_column(UTCDateTime)
    under_review: Mapped[bool] = mapped_column(Boolean, default=False)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    instructions: Mapped[int] = mapped_column(Integer, default=0)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    extension_request: Mapped[dict | None] = mapped_column(JSON)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    # When the sweep must next look at this appeal; NULL once nothing is left
    # to do. The sweep reads only rows with next_check_at <= now (an index).
    next_check_at = mapped_column(UTCDateTime, index=True)
    # Where and from what the submitter filed (Open311 GeoReport v2 fields, GW-3),
    # kept as submitted. The e-mail is contact data: never in an Open311 answer.
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)
    address_string: Mapped[str | None] = mapped_column(String(300))
    address_id: Mapped[str | None] = mapped_column(String(100))
    contact_email: Mapped[str | None] = mapped_column(String(200))
    device_id: Mapped[str | None] = mapped_column(String(200))
    account_id: Mapped[str | None] = mapped_column(String(200))
    # Sweeps of this appeal that failed in a row; each pushes the next try further.
    sweep_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @property
    def co_departments(self) -> list:
        return [link.department for link in self.co_links]

    @co_departments.setter
    def co_departments(self, codes):
        # the rules always assign a whole new list
        self.co_links = [AppealCoDepartment(department=code) for code in codes or ()]

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_appeals_lead_id", "lead_department", "id"),
        Index("ix_appeals_status_id", "status", "id"),
        Index("ix_appeals_received_at", "received_at"),
    )


class AppealCoDepartment(Id, Base):
    """A co-handling department (责任单位) of an appeal; ids keep the order given."""
    __tablename__ = "appeal_co_departments"

    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), index=True)
    department: Mapped[str] = mapped_column(String(32))

    __table_args__ = (Index("ix_appeal_co_departments_department", "department", "appeal_id"),)


class AppealHistory(HistoryRow, Base):
    """Append-only: every transition, who, when, from, to, note."""
    __tablename__ = "appeal_history"
    action_width, status_width = 40, 16

    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), index=True)


class Escalation(Id, Base):
    """One row per ladder step per round of an appeal: the unique key makes each
    step happen once. A re-open starts a new round (the appeal's reopen_count);
    the rows of earlier rounds stay as history."""
    __tablename__ = "escalations"

    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"))
    round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    level: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(24))
    department: Mapped[str | None] = mapped_column(String(32))
    at = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("appeal_id", "round", "level", name="uq_escalation_step"),)


class RoutingRule(Base):
    """APP-2: the routing table is data, editable per county."""
    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(32))
    town: Mapped[str] = mapped_column(String(32))  # "*" = any town
    lead_department: Mapped[str] = mapped_column(String(32))
    co_departments: Mapped[list] = mapped_column(JSON, default=list)
    updated_at = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("category", "town", name="uq_route"),)


class RouteChange(Id, Base):
    """Append-only: every route added, changed or retired, by whom, when, and
    what it was before — the routing table's history (APP-2)."""
    __tablename__ = "routing_history"

    category: Mapped[str] = mapped_column(String(32))
    town: Mapped[str] = mapped_column(String(32))
    change: Mapped[str] = mapped_column(String(8))  # added | changed | retired
    lead_department: Mapped[str | None] = mapped_column(String(32))  # None once retired
    co_departments: Mapped[list] = mapped_column(JSON, default=list)
    before: Mapped[dict | None] = mapped_column(JSON)  # {lead_department, co_departments}
    actor: Mapped[str] = mapped_column(String(160))
    at = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_routing_history_route", "category", "town", "id"),)


class Enterprise(Base):
    """What this service knows of enterprises, from the directory's events."""
    __tablename__ = "enterprises"

    credit_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(String(64))
    key_enterprise: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at = mapped_column(UTCDateTime, nullable=False)


class RectificationList(Base):
    """APP-9 整改清单: the findings of one evaluation, as items to tick off."""
    __tablename__ = "rectification_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(200))  # the evaluation (红黑榜, 第三方评估 …)
    title: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(160))
    created_at = mapped_column(UTCDateTime, nullable=False)


class RectificationItem(Base):
    """APP-9 整改清单: a problem found by an evaluation, ticked off one by one."""
    __tablename__ = "rectification_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("rectification_lists.id"), index=True)
    source: Mapped[str] = mapped_column(String(200))  # which evaluation found it
    problem: Mapped[str] = mapped_column(Text)
    measure: Mapped[str | None] = mapped_column(Text)
    lead_department: Mapped[str] = mapped_column(String(32), index=True)
    responsible_leader: Mapped[str] = mapped_column(String(50))
    co_departments: Mapped[list] = mapped_column(JSON, default=list)
    deadline = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | done
    done_at = mapped_column(UTCDateTime)
    done_note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list | None] = mapped_column(JSON)  # [{name, url}] shown at closing
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    created_at = mapped_column(UTCDateTime, nullable=False)
