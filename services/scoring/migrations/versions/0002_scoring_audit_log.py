"""scoring: the audit trail (who, when, what, request id; append-only)

Revision ID: 0002
Revises: 0001
"""
from alembic import op

from kernel.audit import create_audit_table, drop_audit_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    create_audit_table(op)


def downgrade():
    drop_audit_table(op)
