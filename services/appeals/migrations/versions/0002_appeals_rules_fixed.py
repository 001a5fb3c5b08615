"""appeals: escalation rounds, sweep back-off, co-handlers in their own table

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 03:00:00

- escalations.round: a re-opened appeal climbs the ladder again in a new round
  (unique per appeal, round and level; earlier rounds kept).
- appeals.sweep_failures: how many sweeps of an appeal failed in a row (back-off).
- appeal_co_departments: co-handling departments one row each, matched exactly;
  the JSON column's lists are copied over, then the column is dropped.
"""
from alembic import op
import sqlalchemy as sa
import kernel.db  # noqa: F401  (the template's import, kept for autogenerate)


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('round', sa.Integer(), nullable=False, server_default='0'))
        batch_op.drop_constraint('uq_escalation_step', type_='unique')
        batch_op.create_unique_constraint('uq_escalation_step', ['appeal_id', 'round', 'level'])

    op.create_table(
        'appeal_co_departments',
        sa.Column('id', BIGINT, autoincrement=True, nullable=False),
        sa.Column('appeal_id', BIGINT, nullable=False),
        sa.Column('department', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['appeal_id'], ['appeals.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_appeal_co_departments_appeal_id', 'appeal_co_departments', ['appeal_id'])
    op.create_index('ix_appeal_co_departments_department', 'appeal_co_departments',
                    ['department', 'appeal_id'])

    # Existing co-handlers, in their order, from the JSON lists.
    bind = op.get_bind()
    appeals = sa.table('appeals', sa.column('id', BIGINT), sa.column('co_departments', sa.JSON))
    links = sa.table('appeal_co_departments', sa.column('appeal_id', BIGINT),
                     sa.column('department', sa.String))
    rows = bind.execute(sa.select(appeals.c.id, appeals.c.co_departments)
                        .order_by(appeals.c.id)).all()
    copied = [{"appeal_id": appeal_id, "department": code}
              for appeal_id, codes in rows for code in (codes or [])]
    if copied:
        bind.execute(links.insert(), copied)

    op.add_column('appeals', sa.Column('sweep_failures', sa.Integer(), nullable=False,
                                       server_default='0'))
    _drop_appeals_column('co_departments')


def _drop_appeals_column(name):
    """A plain column dropped in place: a batch rebuild of ``appeals`` would
    drop the table under the rows that point at it (SQLite checks foreign keys)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE appeals DROP COLUMN {name}")  # SQLite >= 3.35
    else:
        op.drop_column('appeals', name)


def downgrade():
    op.add_column('appeals', sa.Column('co_departments', sa.JSON(), nullable=True))
    _drop_appeals_column('sweep_failures')
    bind = op.get_bind()
    appeals = sa.table('appeals', sa.column('id', BIGINT), sa.column('co_departments', sa.JSON))
    links = sa.table('appeal_co_departments', sa.column('id', BIGINT),
                     sa.column('appeal_id', BIGINT), sa.column('department', sa.String))
    lists = {}
    for appeal_id, code in bind.execute(sa.select(links.c.appeal_id, links.c.department)
                                        .order_by(links.c.id)):
        lists.setdefault(appeal_id, []).append(code)
    for appeal_id in bind.execute(sa.select(appeals.c.id)).scalars().all():
        bind.execute(appeals.update().where(appeals.c.id == appeal_id)
                     .values(co_departments=lists.get(appeal_id, [])))
    op.drop_index('ix_appeal_co_departments_department', table_name='appeal_co_departments')
    op.drop_index('ix_appeal_co_departments_appeal_id', table_name='appeal_co_departments')
    op.drop_table('appeal_co_departments')
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_constraint('uq_escalation_step', type_='unique')
        batch_op.create_unique_constraint('uq_escalation_step', ['appeal_id', 'level'])
        batch_op.drop_column('round')
