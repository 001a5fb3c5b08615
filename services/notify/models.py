"""Tables of the notify service (its own database; no other service reads them)."""
from sqlalchemy import (JSON, Boolean, Date, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import UTCDateTime
from kernel.models import BIGINT, Id
from kernel.outbox import define_kernel_tables


class Base(DeclarativeBase):
    pass


outbox_table, processed_table = define_kernel_tables(Base.metadata)


class Delivery(Id, Base):
    """One message to one person (or one subscriber) on one channel.

    ``dedup_key`` (event, recipient, channel) is unique: the same event never
    reaches the same person on the same channel twice, whichever instance or
    redelivery planned it."""
    __tablename__ = "deliveries"

    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(120))  # official:dept:role | enterprise:code | subscription:id
    address: Mapped[str] = mapped_column(String(500))  # phone, e-mail, openid, URL, inbox owner
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(24))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at = mapped_column(UTCDateTime, nullable=False)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at = mapped_column(UTCDateTime, nullable=False)
    sent_at = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_sms_window", "channel", "address", "sent_at"),
    )


class InboxMessage(Id, Base):
    """The app's inbox (站内信): one row per message to one owner."""
    __tablename__ = "inbox"

    delivery_id: Mapped[int] = mapped_column(BIGINT, unique=True)
    owner_role: Mapped[str] = mapped_column(String(16))  # enterprise | department
    owner_org: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_inbox_owner", "owner_role", "owner_org", "id"),)


class Enterprise(Base):
    """The enterprise contact registry: tags from the directory's
    ``enterprise.upserted`` events; contacts from the county profile or an import."""
    __tablename__ = "enterprises"

    credit_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    updated_at = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_enterprises_tags", "industry", "size", "town"),)


class WebhookSubscription(Id, Base):
    """A department system's subscription (GW-3); one signing secret each."""
    __tablename__ = "webhook_subscriptions"

    department: Mapped[str] = mapped_column(String(32), index=True)
    url: Mapped[str] = mapped_column(String(500))
    event_types: Mapped[list] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100))  # whsec_…
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at = mapped_column(UTCDateTime, nullable=False)
    rotated_at = mapped_column(UTCDateTime)


class Push(Id, Base):
    """A push to enterprises (NOT-2): a policy, a tax refund, a dishonesty warning."""
    __tablename__ = "pushes"

    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[dict] = mapped_column(JSON)
    credit_codes: Mapped[list] = mapped_column(JSON)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at = mapped_column(UTCDateTime, nullable=False)


class Licence(Id, Base):
    """A licence with its expiry date (无感续证), imported from CSV."""
    __tablename__ = "licences"

    credit_code: Mapped[str] = mapped_column(String(18), index=True)
    licence_no: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    expires_on = mapped_column(Date, nullable=False, index=True)
    reminded: Mapped[list] = mapped_column(JSON, default=list)  # days-ahead marks sent
    updated_at = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("credit_code", "licence_no"),)
