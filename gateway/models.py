"""The gateway's own tables: API keys only. It holds no business data."""
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import UTCDateTime


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    """A key made by an admin for a department system or a channel integrator
    (GW-3). Only the SHA-256 of the key is stored; the key itself is shown once."""
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # "department" | "channel"
    code: Mapped[str] = mapped_column(String(32))  # the department or channel code
    label: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at = mapped_column(UTCDateTime, nullable=False)
    revoked_at = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128))
