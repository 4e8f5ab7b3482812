"""Index tracking_events.delivery_id.

Index tracking_events.delivery_id: the nightly housekeeping unlinks events from the old webhook
deliveries it removes, which scanned the whole table for each batch without it.

Reviewed: one CREATE INDEX.

Revision ID: 0007_event_delivery_index
Revises: 0006_alert_snooze
"""
from alembic import op

revision = '0007_event_delivery_index'
down_revision = '0006_alert_snooze'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(op.f('ix_tracking_events_delivery_id'), 'tracking_events', ['delivery_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_tracking_events_delivery_id'), table_name='tracking_events')
