"""Alerts can be snoozed (until when, by whom, when).

Reviewed: three nullable columns, plain ALTER TABLE ADD COLUMN.

Revision ID: 0006_alert_snooze
Revises: 0005_carrier_label_files
"""
from alembic import op
import sqlalchemy as sa

revision = '0006_alert_snooze'
down_revision = '0005_carrier_label_files'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('alerts', sa.Column('snoozed_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('alerts', sa.Column('snoozed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('alerts', sa.Column('snoozed_by', sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table('alerts') as batch_op:
        batch_op.drop_column('snoozed_by')
        batch_op.drop_column('snoozed_at')
        batch_op.drop_column('snoozed_until')
