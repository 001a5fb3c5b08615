"""Tables of the inspections service (its own database; no other service reads them)."""
from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import UTCDateTime
from kernel.models import HistoryRow, Id, Timestamps
from kernel.outbox import define_kernel_tables


class Base(DeclarativeBase):
    pass


outbox_table, processed_table = define_kernel_tables(Base.metadata)


# -- registers ---------------------------------------------------------------------

class Enterprise(Timestamps, Base):
    """The enterprise directory, imported from the market-regulation registry.

    Its row is also the lock every filing for the enterprise takes (INS-3):
    ``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has one writer anyway."""
    __tablename__ = "enterprises"

    credit_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(32), index=True)
    industry: Mapped[str | None] = mapped_column(String(64), index=True)
    size: Mapped[str | None] = mapped_column(String(8))
    above_scale: Mapped[bool] = mapped_column(Boolean, default=False)
    key_investment: Mapped[bool] = mapped_column(Boolean, default=False)
    key_project: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_name: Mapped[str | None] = mapped_column(String(50))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(300))


class InspectionItem(Base):
    """INS-1: the county's list of inspection items (检查事项清单); codes are county-wide."""
    __tablename__ = "inspection_items"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    department: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(Text)
    standard: Mapped[str] = mapped_column(Text)
    industries: Mapped[list] = mapped_column(JSON, default=list)  # empty: every industry
    frequency: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at = mapped_column(UTCDateTime, nullable=False)


class Inspector(Base):
    """INS-1: the roster of law-enforcement inspectors (执法人员)."""
    __tablename__ = "inspectors"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    department: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(50))
    certificate_no: Mapped[str] = mapped_column(String(40), unique=True)  # 执法证号
    certificate_expires = mapped_column(Date, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at = mapped_column(UTCDateTime, nullable=False)


class InspectorConflict(Base):
    """A declared conflict of interest (利害关系): never drawn for, never sent to it."""
    __tablename__ = "inspector_conflicts"

    inspector_code: Mapped[str] = mapped_column(ForeignKey("inspectors.code"), primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    reason: Mapped[str] = mapped_column(String(300), default="")
    declared_at = mapped_column(UTCDateTime, nullable=False)


class RegisterChange(Id, Base):
    """INS-1: every change to the list of items or the roster, append-only:
    which register, which entry, its department, who, when, and each field's
    value before and after."""
    __tablename__ = "register_changes"

    register: Mapped[str] = mapped_column(String(10))  # item | inspector
    code: Mapped[str] = mapped_column(String(40))
    department: Mapped[str] = mapped_column(String(32))
    change: Mapped[str] = mapped_column(String(10))  # create | update
    fields: Mapped[dict] = mapped_column(JSON)  # {field: [before, after]}
    actor: Mapped[str] = mapped_column(String(160))
    at = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_register_changes_department_id", "department", "id"),)


# -- visits ------------------------------------------------------------------------

class Visit(Id, Timestamps, Base):
    """One visit to an enterprise, filed with the task force (报备)."""
    __tablename__ = "visits"

    kind: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(20))
    department: Mapped[str] = mapped_column(String(32))  # the filing (lead) department
    enterprise_code: Mapped[str] = mapped_column(String(18))
    enterprise_name: Mapped[str] = mapped_column(String(200))
    key_enterprise: Mapped[bool] = mapped_column(Boolean, default=False)
    planned_date = mapped_column(Date, nullable=False)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM of planned_date, the cap's period
    exempt_category: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    violations: Mapped[list] = mapped_column(JSON, default=list)  # [{rule, message}]
    decided_by: Mapped[str | None] = mapped_column(String(160))
    decided_at = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    draw_id: Mapped[int | None] = mapped_column(ForeignKey("draws.id"))
    # INS-5: an emergency's after-the-fact filing (事毕备案).
    after_due_at = mapped_column(UTCDateTime)
    after_filed_at = mapped_column(UTCDateTime)
    after_record: Mapped[str | None] = mapped_column(Text)
    flagged_at = mapped_column(UTCDateTime)
    flag_reason: Mapped[str | None] = mapped_column(String(20))
    # When the sweep must look at this visit (a due after-the-fact filing);
    # NULL once filed, flagged or cancelled. The sweep reads it by index.
    check_at = mapped_column(UTCDateTime, index=True)
    completed_at = mapped_column(UTCDateTime)
    # INS-5: the task force's head reviews an emergency's record (accepted | flagged)
    review: Mapped[str | None] = mapped_column(String(10))
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(String(160))
    reviewed_at = mapped_column(UTCDateTime)
    # INS-2/3/5: an emergency or exemption beyond the department's monthly number
    over_quota: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_by: Mapped[str] = mapped_column(String(160))
    idempotency_key: Mapped[str | None] = mapped_column(String(240), unique=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_visits_enterprise_month", "enterprise_code", "month", "status"),
        Index("ix_visits_month", "month"),
        Index("ix_visits_department_id", "department", "id"),
    )


class VisitDepartment(Base):
    """The departments taking part (one, or several for a joint visit): who sees it."""
    __tablename__ = "visit_departments"

    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), primary_key=True)
    department: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class VisitItem(Id, Base):
    """An inspection item of a visit, and its result (INS-8)."""
    __tablename__ = "visit_items"

    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(40))
    department: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))  # as listed when filed
    outcome: Mapped[str | None] = mapped_column(String(12))  # compliant | violation
    finding: Mapped[str | None] = mapped_column(Text)
    violation_code: Mapped[str | None] = mapped_column(String(40))
    severity: Mapped[str | None] = mapped_column(String(8))
    first_offence: Mapped[bool | None] = mapped_column(Boolean)
    penalised: Mapped[bool | None] = mapped_column(Boolean)
    no_penalty_code: Mapped[str | None] = mapped_column(String(40))
    no_penalty_name: Mapped[str | None] = mapped_column(String(300))
    recorded_by: Mapped[str | None] = mapped_column(String(160))
    recorded_at = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_visit_items_violation", "violation_code"),)


class VisitInspector(Base):
    __tablename__ = "visit_inspectors"

    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), primary_key=True)
    inspector_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    department: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(50))
    certificate_no: Mapped[str] = mapped_column(String(40))


class VisitHistory(HistoryRow, Base):
    """Append-only: every decision on a visit, who, when, from, to, note."""
    __tablename__ = "visit_history"
    action_width, status_width = 32, 20

    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)


# -- the double random draw (INS-6) --------------------------------------------------

class Draw(Id, Base):
    """A draw and everything needed to re-run it: seed, population, roster, conflicts."""
    __tablename__ = "draws"

    title: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(32), index=True)
    item_codes: Mapped[list] = mapped_column(JSON, default=list)
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    count: Mapped[int] = mapped_column(Integer)
    per_target: Mapped[int] = mapped_column(Integer)
    seed: Mapped[str] = mapped_column(String(128))  # from the platform (secrets), INS-6
    # INS-6: the population is fixed and its digest recorded before the seed is drawn
    population_digest: Mapped[str | None] = mapped_column(String(64))
    population_fixed_at = mapped_column(UTCDateTime)
    seeded_at = mapped_column(UTCDateTime)
    attempt: Mapped[int] = mapped_column(Integer, default=1, nullable=False)  # of this population
    candidates: Mapped[list] = mapped_column(JSON)  # credit codes after the filters
    roster: Mapped[list] = mapped_column(JSON)  # inspector codes eligible that day
    conflicts: Mapped[list] = mapped_column(JSON)  # [[inspector, credit code], ...]
    result: Mapped[list] = mapped_column(JSON)  # [{credit_code, inspectors: [...]}]
    created_by: Mapped[str] = mapped_column(String(160))
    created_at = mapped_column(UTCDateTime, nullable=False)
