"""appeals: the audit trail (who, when, what, request id; append-only)

Revision ID: 0005
Revises: 0001
"""
from alembic import op

from kernel.audit import create_audit_table, drop_audit_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    create_audit_table(op)


def downgrade():
    drop_audit_table(op)
